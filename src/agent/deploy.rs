//! `jib-agent deploy`: receive the missing objects, export the commit into a new release, build
//! or reuse its venv, check it imports, switch `current`, reload that one app, health-check it
//! through the router — and put everything back the way it was if any step fails.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use sha2::{Digest, Sha256};

use super::Emitter;
use crate::emperor;
use crate::health;
use crate::layout::{AppLayout, Layout};
use crate::lock::{Acquire, Lock};
use crate::protocol::{
    DeployRequest, Event, LockHolder, PackHeader, RemoteError, Reply, ServerConfig,
};
use crate::release::{self, ReleaseMeta};
use crate::venv;

fn internal(step: &str) -> impl Fn(anyhow::Error) -> RemoteError + '_ {
    move |e| RemoteError::new(step, format!("{e:#}"))
}

/// Commits the server's repository holds (one per app), for the CLI's pack negotiation.
pub fn known_commits(layout: &Layout) -> Vec<String> {
    let Ok(repo) = Repository::open_bare(layout.repo()) else {
        return Vec::new();
    };
    let Ok(refs) = repo.references_glob("refs/jib/*") else {
        return Vec::new();
    };
    let mut out: Vec<String> = refs
        .flatten()
        .filter_map(|r| r.target().map(|o| o.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Checks that the server was set up with this configuration.
pub fn check_server(server: &ServerConfig) -> Result<Layout, RemoteError> {
    let layout = Layout::new(&server.root);
    let stored: Option<ServerConfig> = std::fs::read(layout.server_json())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    match stored {
        None => Err(RemoteError::new(
            "setup",
            format!("{} has not been set up for jib", server.root.display()),
        )
        .hint("run `jib setup` once for this environment")),
        Some(s) if &s != server => Err(RemoteError::new(
            "setup",
            "deploy.toml's settings for this environment changed since `jib setup`",
        )
        .hint("run `jib setup` again to apply them")),
        Some(_) => Ok(layout),
    }
}

pub fn deploy(
    req: DeployRequest,
    input: &mut impl std::io::BufRead,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    if !crate::slug::is_app_name(&req.app) {
        return Err(RemoteError::new(
            "request",
            format!("{:?} is not a valid app name", req.app),
        ));
    }
    if req.commit.len() != 40 || !req.commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RemoteError::new(
            "request",
            format!("{:?} is not a full commit id", req.commit),
        ));
    }
    let commit = Oid::from_str(&req.commit)
        .map_err(|_| RemoteError::new("request", format!("{:?} is not a commit id", req.commit)))?;
    let layout = check_server(&req.server)?;
    if super::setup::running_serve(&layout).is_none() {
        return Err(RemoteError::new(
            "setup",
            format!(
                "jib-agent serve is not running for {}",
                req.server.root.display()
            ),
        )
        .hint("run `jib setup` to start it (it runs under systemd where available)"));
    }
    let app = layout.app(&req.app);
    std::fs::create_dir_all(app.dir.join("log")).map_err(|e| internal("prepare")(e.into()))?;
    em.tee(&app.deploy_log());

    let repo = open_repo(&layout)?;
    if repo.find_commit(commit).is_err() {
        em.send(&Event::NeedObjects {
            have: known_commits(&layout),
        });
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| RemoteError::new("receive", format!("reading the pack header: {e}")))?;
        let header: PackHeader = serde_json::from_str(&line)
            .map_err(|e| RemoteError::new("receive", format!("bad pack header {line:?}: {e}")))?;
        em.step("receive", || {
            receive_pack(&repo, input, header.len)?;
            Ok(((), Some(format!("{} KiB", header.len.div_ceil(1024)))))
        })?;
    }
    if repo.find_commit(commit).is_err() {
        return Err(
            RemoteError::new("receive", format!("commit {commit} did not arrive"))
                .hint("push again; if it persists, the server's repository may be damaged"),
        );
    }
    let _ = repo.reference(&format!("refs/jib/{}", req.app), commit, true, "jib push");

    let me = LockHolder {
        by: req.by.clone(),
        pid: std::process::id(),
        since: release::utc_now(),
        what: format!("push {} ({})", req.branch, &req.commit[..12]),
    };
    let lock_path = layout.locks().join(format!("{}.lock", req.app));
    let _lock = match Lock::acquire(
        &lock_path,
        &me,
        Duration::from_secs(req.lock_wait_secs),
        |h| {
            if let Some(h) = h {
                em.send(&Event::Waiting { holder: h.clone() });
            }
        },
    )
    .map_err(internal("lock"))?
    {
        Acquire::Got(l) => l,
        Acquire::Held(holder) => {
            let who = holder
                .map(|h| h.to_string())
                .unwrap_or_else(|| "another deploy".into());
            return Err(RemoteError::new(
                "lock",
                format!("{} is being deployed by {who}", req.app),
            )
            .hint("wait for it to finish, or pass --lock-wait <seconds> to queue behind it"));
        }
    };

    // What this release would be, besides its code: same digest + same commit = nothing to do.
    let python = venv::find_python(&req.spec.python)?;
    let requirements = read_requirements(&repo, commit, req.spec.requirements.as_deref())?;
    let venv_hash = venv::hash(&python, &requirements);
    let digest = spec_digest(&req, &venv_hash);
    let addr = health::local_addr(&req.server.listen).map_err(internal("health check"))?;
    let host = format!("{}.{}", req.app, req.server.domain);
    let url = crate::config::app_url(&req.app, &req.server);
    recover_interrupted(&app, &req.server, em);
    let previous = release::current(&app);

    if !req.force
        && let Some(cur) = &previous
        && cur.commit == req.commit
        && cur.spec_digest == digest
        && cur.state == "ok"
        && matches!(health::get(addr, &host, &req.spec.health_path, Duration::from_secs(5)),
                    Ok(r) if r.release.as_deref() == Some(cur.id.as_str()) && (200..400).contains(&r.status))
    {
        return Ok(Reply::Deploy {
            app: req.app,
            url,
            release: cur.id.clone(),
            commit: req.commit,
            venv: cur.venv.clone(),
            venv_reused: true,
            unchanged: true,
        });
    }

    let id = release::new_id(&app, &req.commit);
    let rel_dir = app.release(&id);
    em.step("export", || {
        let n = release::export(&repo, commit, &rel_dir.join("src")).map_err(internal("export"))?;
        Ok(((), Some(format!("{n} files"))))
    })?;

    let (venv, reused) = em
        .step("venv", || {
            let who = crate::identity::app_user(req.server.run_as.as_deref())
                .map_err(|e| RemoteError::new("venv", format!("{e:#}")))?;
            let (v, reused) = venv::ensure(
                &layout,
                &python,
                &requirements,
                &app.dir.join("log/venv.log"),
                who.as_ref(),
            )?;
            let detail = if reused {
                format!("reused {}", &v.hash[..12])
            } else {
                format!("built {} with {}", &v.hash[..12], v.tool)
            };
            Ok(((v, reused), Some(detail)))
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&rel_dir);
        })?;

    let mut meta = ReleaseMeta {
        id: id.clone(),
        app: req.app.clone(),
        branch: req.branch.clone(),
        commit: req.commit.clone(),
        entry: req.spec.entry.clone(),
        venv: venv.hash.clone(),
        site_packages: venv.site_packages.clone(),
        env: app_env(&req, &url),
        spec_digest: digest,
        health_path: req.spec.health_path.clone(),
        created: release::utc_now(),
        by: req.by.clone(),
        state: "pending".into(),
    };
    release::write_meta(&rel_dir, &meta).map_err(internal("export"))?;

    let fail = |meta: &mut ReleaseMeta, e: RemoteError| -> RemoteError {
        meta.state = "failed".into();
        let _ = release::write_meta(&rel_dir, meta);
        let _ = release::prune(&app, req.spec.keep_releases);
        e
    };

    if let Err(e) = em.step("import check", || {
        let limit = Duration::from_secs(req.spec.health_timeout_secs.max(60));
        import_check(&req.server, &layout, &app, &rel_dir, &venv.dir, limit)?;
        Ok(((), None))
    }) {
        let mut e = fail(&mut meta, e);
        e.previous_serving = previous.is_some();
        return Err(e);
    }

    let switched = em.step("switch", || {
        release::switch_link(&app.current(), &Path::new("releases").join(&id))
            .map_err(internal("switch"))?;
        let how = emperor::reload(&app, &req.server).map_err(internal("switch"))?;
        Ok((
            (),
            Some(match how {
                emperor::Reload::Chain => "chain reload".to_string(),
                emperor::Reload::Started => "starting app".to_string(),
            }),
        ))
    });
    if let Err(e) = switched {
        let mut e = fail(&mut meta, e);
        e.previous_serving = restore(&app, previous.as_ref(), &req, em);
        return Err(e);
    }

    let timeout = Duration::from_secs(req.spec.health_timeout_secs.max(1));
    let checked = em.step("health check", || {
        match wait_live(&app, &req.server, &req.spec.health_path, &id, None, timeout) {
            Ok(status) => Ok((
                (),
                Some(format!("HTTP {status}, all workers on the new release")),
            )),
            Err(last) => Err(RemoteError::new(
                "health check",
                format!(
                    "http://{host}{} did not answer healthy within {}s: {last}",
                    req.spec.health_path,
                    timeout.as_secs()
                ),
            )
            .log_tail(venv::tail(&app.log(), 20))),
        }
    });
    if let Err(e) = checked {
        let mut e = fail(&mut meta, e);
        e.previous_serving = restore(&app, previous.as_ref(), &req, em);
        e.hint = Some(if e.previous_serving {
            format!(
                "release {} is serving again; fix the app and push again (`jib logs {}` shows the app log)",
                previous.as_ref().map(|p| p.id.as_str()).unwrap_or(""),
                req.branch
            )
        } else {
            "fix the app and push again; `jib logs` shows the app log".into()
        });
        return Err(e);
    }

    meta.state = "ok".into();
    release::write_meta(&rel_dir, &meta).map_err(internal("finish"))?;
    if let Err(e) = release::prune(&app, req.spec.keep_releases) {
        em.warn(format!("could not remove old releases: {e:#}"));
    }
    Ok(Reply::Deploy {
        app: req.app,
        url,
        release: id,
        commit: req.commit,
        venv: venv.hash,
        venv_reused: reused,
        unchanged: false,
    })
}

/// A deploy that died between switching `current` and its verdict (agent killed, machine
/// rebooted) left `current` on a `pending` release: put the last good one back first.
fn recover_interrupted(app: &AppLayout, server: &ServerConfig, em: &Emitter) {
    let Some(cur) = release::current(app) else {
        return;
    };
    if cur.state != "pending" {
        return;
    }
    let mut cur = cur;
    cur.state = "failed".into();
    let _ = release::write_meta(&app.release(&cur.id), &cur);
    if let Some(good) = release::list(app)
        .into_iter()
        .rev()
        .find(|r| r.state == "ok")
    {
        em.warn(format!(
            "an interrupted deploy left {} on release {}; switching back to {}",
            app.name, cur.id, good.id
        ));
        if release::switch_link(&app.current(), &Path::new("releases").join(&good.id)).is_ok() {
            let _ = emperor::reload(app, server);
        }
    }
}

/// Puts `previous` back (or stops the app when there was none). True when it serves again.
fn restore(
    app: &AppLayout,
    previous: Option<&ReleaseMeta>,
    req: &DeployRequest,
    em: &Emitter,
) -> bool {
    let Some(prev) = previous else {
        let _ = emperor::dismiss(app);
        let _ = std::fs::remove_file(app.current());
        return false;
    };
    em.warn(format!("rolling back to {}", prev.id));
    if release::switch_link(&app.current(), &Path::new("releases").join(&prev.id)).is_err()
        || emperor::reload(app, &req.server).is_err()
    {
        return false;
    }
    let t = Duration::from_secs(req.spec.health_timeout_secs.max(10));
    wait_live(app, &req.server, &req.spec.health_path, &prev.id, None, t).is_ok()
}

/// Waits until `release` answers healthy through the router *and* every worker of the app has
/// loaded it. A chain reload asked for while another one runs can be swallowed, so the reload
/// is asked for again while old workers remain.
pub fn wait_live(
    app: &AppLayout,
    server: &ServerConfig,
    path: &str,
    release: &str,
    // Only workers started after this count (a restart keeps the release id).
    since: Option<std::time::SystemTime>,
    timeout: Duration,
) -> Result<u16, String> {
    let addr = health::local_addr(&server.listen).map_err(|e| e.to_string())?;
    let host = format!("{}.{}", app.name, server.domain);
    let start = Instant::now();
    let mut kicked = Instant::now();
    let mut last = String::from("no answer yet");
    let mut unhealthy_since: Option<Instant> = None;
    let fresh = |pid: &i32| {
        since.is_none_or(|t| {
            std::fs::metadata(app.dir.join("workers").join(pid.to_string()))
                .and_then(|m| m.modified())
                .is_ok_and(|m| m >= t)
        })
    };
    while start.elapsed() < timeout {
        let res = health::get(addr, &host, path, Duration::from_secs(10));
        match health::judge(&res, path, release) {
            health::Verdict::Healthy => {
                let workers = emperor::workers(app);
                let all = workers.len() >= server.processes.max(2) as usize
                    && workers.iter().all(|(p, r)| r == release && fresh(p));
                if all {
                    return Ok(res.map(|r| r.status).unwrap_or(0));
                }
                last = format!("workers still on older releases: {workers:?}");
            }
            health::Verdict::Unhealthy(why) => {
                // It answers, and badly: allow a moment (cold caches), not the whole timeout.
                let since = *unhealthy_since.get_or_insert_with(Instant::now);
                last = why;
                if since.elapsed() > Duration::from_secs(2) {
                    break;
                }
            }
            health::Verdict::Waiting(why) => last = why,
        }
        if kicked.elapsed() > Duration::from_secs(3)
            && emperor::workers(app)
                .iter()
                .any(|(p, r)| r != release || !fresh(p))
        {
            let _ = emperor::reload(app, server);
            kicked = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

fn open_repo(layout: &Layout) -> Result<Repository, RemoteError> {
    let path = layout.repo();
    if let Ok(r) = Repository::open_bare(&path) {
        return Ok(r);
    }
    let _l = Lock::wait(&layout.locks().join("repo.lock")).map_err(internal("receive"))?;
    Repository::open_bare(&path)
        .or_else(|_| Repository::init_bare(&path))
        .map_err(|e| {
            RemoteError::new(
                "receive",
                format!("cannot open {}: {}", path.display(), e.message()),
            )
        })
}

fn receive_pack(repo: &Repository, input: &mut impl Read, len: u64) -> Result<(), RemoteError> {
    let err = |e: &dyn std::fmt::Display| RemoteError::new("receive", format!("{e}"));
    let odb = repo.odb().map_err(|e| err(&e))?;
    let mut w = odb.packwriter().map_err(|e| err(&e))?;
    let copied = std::io::copy(&mut input.take(len), &mut w).map_err(|e| err(&e))?;
    if copied != len {
        return Err(RemoteError::new(
            "receive",
            format!("connection ended after {copied} of {len} bytes of objects"),
        )
        .hint("push again"));
    }
    w.commit().map_err(|e| err(&e))?;
    Ok(())
}

fn read_requirements(
    repo: &Repository,
    commit: Oid,
    path: Option<&str>,
) -> Result<Vec<u8>, RemoteError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| RemoteError::new("venv", e.message().to_string()))?;
    let entry = tree.get_path(Path::new(path)).map_err(|_| {
        RemoteError::new(
            "venv",
            format!("{path} is not in commit {}", &commit.to_string()[..12]),
        )
        .hint("commit the dependency file, or fix app.requirements in deploy.toml")
    })?;
    let blob = repo
        .find_blob(entry.id())
        .map_err(|_| RemoteError::new("venv", format!("{path} is not a file")))?;
    Ok(blob.content().to_vec())
}

fn spec_digest(req: &DeployRequest, venv_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&req.spec).unwrap_or_default());
    h.update(venv_hash.as_bytes());
    h.update(crate::protocol::VERSION.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// The release's environment: deploy.toml's, plus who the app is.
fn app_env(req: &DeployRequest, url: &str) -> std::collections::BTreeMap<String, String> {
    let mut env = req.spec.env.clone();
    env.insert("JIB_APP".into(), req.app.clone());
    env.insert("JIB_BRANCH".into(), req.branch.clone());
    env.insert("JIB_URL".into(), url.to_string());
    env
}

/// Imports the release's entry point in its own venv and environment, before any traffic.
fn import_check(
    server: &ServerConfig,
    layout: &Layout,
    app: &AppLayout,
    rel_dir: &Path,
    venv_dir: &Path,
    timeout: Duration,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("import check", m);
    let log = app.dir.join("log/import-check.log");
    let logf = crate::identity::open_for_writing(&log, false)
        .map_err(|e| err(format!("{}: {e}", log.display())))?;
    let mut cmd = Command::new(venv_dir.join("bin/python"));
    // App code runs as the app's user, here too.
    let who =
        crate::identity::app_user(server.run_as.as_deref()).map_err(|e| err(format!("{e:#}")))?;
    crate::identity::run_as(&mut cmd, who.as_ref());
    let mut child = cmd
        .arg(layout.shim())
        .arg("--check")
        .arg(&app.dir)
        .arg(rel_dir)
        .current_dir(rel_dir)
        .stdin(std::process::Stdio::null())
        .stdout(logf.try_clone().map_err(|e| err(e.to_string()))?)
        .stderr(logf)
        .spawn()
        .map_err(|e| {
            err(format!("cannot run {}: {e}", venv_dir.join("bin/python").display())).hint(
                "the venv's interpreter (app.python) must be runnable by the user apps run as (run_as)",
            )
        })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "importing the app took longer than {}s",
                    timeout.as_secs()
                ))
                .hint("something at import time waits (a network call, a lock?); the previous release keeps serving")
                .log_tail(venv::tail(&log, 15)));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(err(e.to_string())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let lines = venv::tail(&log, 15);
    let last = lines
        .last()
        .cloned()
        .unwrap_or_else(|| format!("exited with {status}"));
    Err(
        RemoteError::new("import check", format!("the app does not import: {last}"))
            .hint("fix the error and push again; the previous release keeps serving")
            .log_tail(lines),
    )
}
