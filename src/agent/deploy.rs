//! `jib-agent deploy`: receive the missing objects, export the commit into a new release, build
//! or reuse its venv, check it imports, switch `current`, reload that one app, health-check it
//! through the router — and put everything back the way it was if any step fails.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use sha2::{Digest, Sha256};

use super::Emitter;
use super::pipeline::{self, Build, Objects, Packages, Ship};
use crate::emperor;
use crate::health;
use crate::layout::{AppLayout, Layout};
use crate::lock::{Acquire, Lock};
use crate::protocol::{
    BuildSpec, DeployRequest, Event, LockHolder, PackHeader, RemoteError, Reply, ServerConfig,
};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::venv;

pub(super) fn internal(step: &str) -> impl Fn(anyhow::Error) -> RemoteError + '_ {
    move |e| RemoteError::new(step, format!("{e:#}"))
}

/// Commits the server's repository holds (one per app), for the CLI's pack negotiation.
pub fn known_commits(layout: &Layout) -> Vec<String> {
    let Ok(repo) = Repository::open_bare(layout.repo()) else {
        return Vec::new();
    };
    let Ok(refs) = repo.references_glob(crate::layout::APP_REFS) else {
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
    // The CLI's word is not enough: values that reach generated files pass the allow-lists.
    server.check().map_err(|m| RemoteError::new("request", m))?;
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
    let ship = Ship {
        server: &req.server,
        spec: &req.spec,
        app: &req.app,
        commit: &req.commit,
        branch: &req.branch,
        by: &req.by,
        doing: format!(
            "push {} ({})",
            req.branch,
            req.commit.get(..12).unwrap_or(&req.commit)
        ),
        lock_wait_secs: req.lock_wait_secs,
        label: &req.branch,
        reflog: "jib push",
    };
    let opened = pipeline::open(&ship, Objects::FromCli, input, em)?;

    // What this release would be, besides its code: same digest + same commit = nothing to do.
    let python = venv::find_python(&req.spec.python)?;
    let requirements = read_requirements(
        &opened.repo,
        opened.commit,
        req.spec.requirements.as_deref(),
    )?;
    let venv_hash = venv::hash(&python, &requirements);
    let digest = spec_digest(&req, &venv_hash);
    let addr = health::local_addr(&req.server.listen).map_err(internal("health check"))?;
    let host = req.server.app_host(&req.app);
    let url = crate::config::app_url(&req.app, &req.server);
    if !req.force
        && let Some(cur) = &opened.previous
        && cur.commit == req.commit
        && cur.spec_digest == digest
        && cur.state == ReleaseState::Ok
        && matches!(health::get(addr, &host, &req.spec.health_path, Duration::from_secs(5)),
                    Ok(r) if r.release.as_deref() == Some(cur.id.as_str()) && (200..400).contains(&r.status))
    {
        return Ok(Reply::Deploy {
            app: req.app.clone(),
            url,
            release: cur.id.clone(),
            commit: req.commit.clone(),
            venv: cur.venv.clone(),
            venv_reused: true,
            unchanged: true,
        });
    }

    let shipped = opened.ship(
        "export",
        |n| format!("{n} files"),
        Build {
            python: &python,
            packages: Packages::Requirements(&requirements),
        },
        digest,
        None,
        em,
    )?;
    Ok(Reply::Deploy {
        app: req.app.clone(),
        url,
        release: shipped.id,
        commit: req.commit.clone(),
        venv: shipped.venv.hash,
        venv_reused: shipped.venv_reused,
        unchanged: false,
    })
}

/// Checks a deploy-like request (the app name, the full commit id, the root set up and
/// served) and starts the app's deploy log.
pub(super) fn open_target(
    server: &ServerConfig,
    app: &str,
    commit: &str,
    em: &Emitter,
) -> Result<(Oid, Layout, AppLayout), RemoteError> {
    if !crate::slug::is_app_name(app) {
        return Err(RemoteError::new(
            "request",
            format!("{app:?} is not a valid app name"),
        ));
    }
    let oid = Oid::from_str(commit)
        .ok()
        .filter(|_| commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            RemoteError::new("request", format!("{commit:?} is not a full commit id"))
        })?;
    let layout = check_server(server)?;
    require_serve(&layout, server)?;
    let dir = layout.app(app);
    emperor::prepare_dirs(&dir, server).map_err(internal("prepare"))?;
    em.tee(&dir.deploy_log());
    Ok((oid, layout, dir))
}

/// Exports `commit` as the release in `rel_dir` (removed again when that fails).
pub(super) fn export_release(
    server: &ServerConfig,
    layout: &Layout,
    repo: &Repository,
    commit: Oid,
    rel_dir: &Path,
) -> Result<usize, RemoteError> {
    let gid = sandbox(server, layout, "export")?.ids().map(|i| i.1);
    release::create_dir(rel_dir, gid)
        .and_then(|()| release::export(repo, commit, &AppLayout::src_of(rel_dir)))
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(rel_dir);
            internal("export")(e)
        })
}

/// Refuses to deploy into a root whose `jib-agent serve` is not running.
fn require_serve(layout: &Layout, server: &ServerConfig) -> Result<(), RemoteError> {
    if super::setup::running_serve(layout).is_none() {
        return Err(RemoteError::new(
            "setup",
            format!(
                "jib-agent serve is not running for {}",
                server.root.display()
            ),
        )
        .hint("run `jib setup` to start it (it runs under systemd where available)"));
    }
    Ok(())
}

/// Makes sure `commit` is in the server's repository, asking the CLI for the objects it lacks.
pub(super) fn receive_objects(
    layout: &Layout,
    repo: &Repository,
    commit: Oid,
    input: &mut impl std::io::BufRead,
    em: &Emitter,
) -> Result<(), RemoteError> {
    if repo.find_commit(commit).is_err() {
        em.send(&Event::NeedObjects {
            have: known_commits(layout),
        });
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| RemoteError::new("receive", format!("reading the pack header: {e}")))?;
        let header: PackHeader = serde_json::from_str(&line)
            .map_err(|e| RemoteError::new("receive", format!("bad pack header {line:?}: {e}")))?;
        em.step("receive", || {
            receive_pack(repo, input, header.len)?;
            Ok(((), Some(format!("{} KiB", header.len.div_ceil(1024)))))
        })?;
    }
    if repo.find_commit(commit).is_err() {
        return Err(
            RemoteError::new("receive", format!("commit {commit} did not arrive"))
                .hint("try again; if it persists, the server's repository may be damaged"),
        );
    }
    Ok(())
}

/// The app's deploy lock: one push, promote or rollback of an app at a time. Waits up to
/// `wait_secs` (telling the CLI who holds it), else names the holder.
pub(super) fn lock_app(
    layout: &Layout,
    app: &str,
    by: &str,
    what: String,
    wait_secs: u64,
    em: &Emitter,
) -> Result<Lock, RemoteError> {
    let me = LockHolder {
        by: by.to_string(),
        pid: std::process::id(),
        since: release::utc_now(),
        what,
    };
    let lock_path = layout.app_lock(app);
    match Lock::acquire(&lock_path, &me, Duration::from_secs(wait_secs), |h| {
        if let Some(h) = h {
            em.send(&Event::Waiting { holder: h.clone() });
        }
    })
    .map_err(internal("lock"))?
    {
        Acquire::Got(l) => Ok(l),
        Acquire::Held(holder) => {
            let who = holder
                .map(|h| h.to_string())
                .unwrap_or_else(|| "another deploy".into());
            Err(
                RemoteError::new("lock", format!("{app} is being deployed by {who}"))
                    .hint("wait for it to finish, or pass --lock-wait <seconds> to queue behind it")
                    .kind(crate::protocol::ErrorKind::Locked),
            )
        }
    }
}

/// The venv step: reuse or build the venv for `deps`, as the app's user.
pub(super) fn build_venv(
    layout: &Layout,
    app: &AppLayout,
    server: &ServerConfig,
    python: &venv::Python,
    deps: venv::Deps,
    em: &Emitter,
) -> Result<(venv::Venv, bool), RemoteError> {
    em.step("venv", || {
        let sandbox = sandbox(server, layout, "venv")?;
        let (v, reused) = venv::ensure(layout, python, deps, &app.venv_log(), &sandbox)?;
        // The workers run inside uWSGI's embedded Python: a venv of another version would
        // import but break at the first compiled extension. Say so now, never fall back.
        if let Some(embedded) = emperor::embedded_python()
            && !v.python_version.is_empty()
            && venv::minor_version(&v.python_version) != embedded
        {
            return Err(RemoteError::new(
                "python",
                format!(
                    "app.python gives Python {} but uWSGI's python3 plugin embeds Python {embedded}",
                    v.python_version
                ),
            )
            .hint(format!(
                "set python = \"{embedded}\" in deploy.toml, or install a uWSGI python plugin built for {}",
                venv::minor_version(&v.python_version)
            )));
        }
        let detail = if reused {
            format!("reused {}", venv::short(&v.hash))
        } else {
            format!("built {} with {}", venv::short(&v.hash), v.tool)
        };
        Ok(((v, reused), Some(detail)))
    })
}

/// The second half of every deploy: import check, switch `current`, chain reload, health
/// check until every worker runs the new release — and on any failure, the previous release
/// back in place.
pub(super) struct Activation<'a> {
    pub server: &'a ServerConfig,
    pub layout: &'a Layout,
    pub app: &'a AppLayout,
    pub spec: &'a BuildSpec,
    /// What the user pushed or promoted, for hints.
    pub label: &'a str,
    pub em: &'a Emitter,
}

impl Activation<'_> {
    pub fn run(
        &self,
        meta: &mut ReleaseMeta,
        venv: &venv::Venv,
        previous: Option<&ReleaseMeta>,
    ) -> Result<(), RemoteError> {
        let (app, em) = (self.app, self.em);
        let rel_dir = app.release(&meta.id);
        release::write_meta(&rel_dir, meta).map_err(internal("export"))?;
        let keep = self.spec.keep_releases;
        let fail = |meta: &mut ReleaseMeta, e: RemoteError| -> RemoteError {
            meta.state = ReleaseState::Failed;
            let _ = release::write_meta(&rel_dir, meta);
            let _ = release::prune(app, keep);
            e
        };

        if let Err(e) = em.step("import check", || {
            let limit = Duration::from_secs(self.spec.health_timeout_secs.max(60));
            import_check(self.server, self.layout, app, &rel_dir, &venv.dir, limit)?;
            Ok(((), None))
        }) {
            let mut e = fail(meta, e);
            e.previous_serving = previous.is_some();
            return Err(e);
        }

        if let Some(cmd) = &self.spec.release
            && let Err(e) = em.step("release step", || {
                run_release_step(self.server, self.layout, app, meta, venv, cmd)?;
                Ok(((), Some(cmd.clone())))
            })
        {
            let mut e = fail(meta, e);
            e.previous_serving = previous.is_some();
            return Err(e);
        }

        let restore_timeout = Duration::from_secs(self.spec.health_timeout_secs.max(10));
        let switched = em.step("switch", || {
            release::switch_link(&app.current(), &AppLayout::current_target(&meta.id))
                .map_err(internal("switch"))?;
            let how = emperor::reload(app, self.server).map_err(internal("switch"))?;
            Ok((
                (),
                Some(match how {
                    emperor::Reload::Chain => "chain reload".to_string(),
                    emperor::Reload::Started => "starting app".to_string(),
                }),
            ))
        });
        if let Err(e) = switched {
            let mut e = fail(meta, e);
            e.previous_serving = restore(app, previous, self.server, restore_timeout, em);
            return Err(e);
        }

        let timeout = Duration::from_secs(self.spec.health_timeout_secs.max(1));
        let host = self.server.app_host(&app.name);
        let checked = em.step("health check", || {
            match wait_live(app, self.server, &meta.health_path, &meta.id, None, timeout) {
                Ok(status) => Ok((
                    (),
                    Some(format!("HTTP {status}, all workers on the new release")),
                )),
                Err(last) => Err(RemoteError::new(
                    "health check",
                    format!(
                        "http://{host}{} did not answer healthy within {}s: {last}",
                        meta.health_path,
                        timeout.as_secs()
                    ),
                )
                .log_tail(crate::fsafe::tail(&app.log(), 20))),
            }
        });
        if let Err(e) = checked {
            let mut e = fail(meta, e);
            e.previous_serving = restore(app, previous, self.server, restore_timeout, em);
            e.hint = Some(if e.previous_serving {
                format!(
                    "release {} is serving again; fix the app and try again (`jib logs {}` shows the app log)",
                    previous.map(|p| p.id.as_str()).unwrap_or(""),
                    self.label
                )
            } else {
                "fix the app and try again; `jib logs` shows the app log".into()
            });
            return Err(e);
        }

        meta.state = ReleaseState::Ok;
        release::write_meta(&rel_dir, meta).map_err(internal("finish"))?;
        if let Err(e) = release::prune(app, keep) {
            em.warn(format!("could not remove old releases: {e:#}"));
        }
        Ok(())
    }
}

/// The sandbox app-controlled processes of this server run in; errors are reported as `step`.
pub(super) fn sandbox(
    server: &ServerConfig,
    layout: &Layout,
    step: &str,
) -> Result<crate::sandbox::Sandbox, RemoteError> {
    crate::sandbox::Sandbox::new(server.run_as.as_deref(), layout)
        .map_err(|e| RemoteError::new(step, format!("{e:#}")))
}

/// `[app] release`: the command runs in the new release (its code, venv, environment, as the
/// app's user) before any traffic reaches it; its output goes to `log/release.log`. The
/// release's files are the app's to write during the step (collectstatic, compiled assets)
/// and sealed again afterwards, whatever the outcome.
fn run_release_step(
    server: &ServerConfig,
    layout: &Layout,
    app: &AppLayout,
    meta: &ReleaseMeta,
    venv: &venv::Venv,
    cmd: &str,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("release step", m);
    let log = app.release_log();
    let mut logf = crate::fsafe::open_append(&log, 0o640).map_err(|e| err(format!("{e}")))?;
    let _ = std::io::Write::write_all(
        &mut logf,
        format!("[jib] {} release {}: {cmd}\n", release::utc_now(), meta.id).as_bytes(),
    );
    let src = app.release_src(&meta.id);
    let sandbox = sandbox(server, layout, "release step")?;
    if let Some((uid, gid)) = sandbox.ids() {
        crate::fsafe::hand_over(&src, uid, gid).map_err(|e| {
            err(format!(
                "cannot hand {} to the app's user: {e}",
                src.display()
            ))
        })?;
    }
    let mut c = sandbox.command("/bin/sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(&src)
        .envs(super::exec::app_environment(app, meta, &venv.dir))
        .env("HOME", sandbox.home())
        .env("JIB_RELEASE_STEP", "1");
    let limit = Duration::from_secs(30 * 60);
    let outcome = sandbox.run(&mut c, limit, Some(&logf));
    // Back to the agent before anything else looks at it (the import check ran before).
    let sealed = crate::fsafe::seal(&src, sandbox.ids().map(|i| i.0)).map_err(|e| {
        err(format!(
            "cannot take {} back from the app's user: {e}",
            src.display()
        ))
    });
    let outcome = outcome.map_err(|e| err(format!("{e:#}")))?;
    sealed?;
    if outcome.success() {
        return Ok(());
    }
    Err(err(format!("`{cmd}` {}", outcome.describe(limit)))
        .hint("fix it and push again; the previous release keeps serving (`jib logs <branch> --process release` has the whole run)")
        .log_tail(crate::fsafe::tail(&log, 15)))
}

/// A deploy that died between switching `current` and its verdict (agent killed, machine
/// rebooted) left `current` on a `pending` release: put the last good one back first.
pub(super) fn recover_interrupted(app: &AppLayout, server: &ServerConfig, em: &Emitter) {
    let Some(cur) = release::current(app) else {
        return;
    };
    if cur.state != ReleaseState::Pending {
        return;
    }
    let mut cur = cur;
    cur.state = ReleaseState::Failed;
    let _ = release::write_meta(&app.release(&cur.id), &cur);
    if let Some(good) = release::list(app)
        .into_iter()
        .rev()
        .find(|r| r.state == ReleaseState::Ok)
    {
        em.warn(format!(
            "an interrupted deploy left {} on release {}; switching back to {}",
            app.name, cur.id, good.id
        ));
        if release::switch_link(&app.current(), &AppLayout::current_target(&good.id)).is_ok() {
            let _ = emperor::reload(app, server);
        }
    }
}

/// Puts `previous` back (or stops the app when there was none). True when it serves again.
pub(super) fn restore(
    app: &AppLayout,
    previous: Option<&ReleaseMeta>,
    server: &ServerConfig,
    timeout: Duration,
    em: &Emitter,
) -> bool {
    let Some(prev) = previous else {
        let _ = emperor::dismiss(app);
        let _ = std::fs::remove_file(app.current());
        return false;
    };
    em.warn(format!("rolling back to {}", prev.id));
    if release::switch_link(&app.current(), &AppLayout::current_target(&prev.id)).is_err()
        || emperor::reload(app, server).is_err()
    {
        return false;
    }
    wait_live(app, server, &prev.health_path, &prev.id, None, timeout).is_ok()
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
    let host = server.app_host(&app.name);
    let start = Instant::now();
    let mut kicked = Instant::now();
    let mut last = String::from("no answer yet");
    let mut unhealthy_since: Option<Instant> = None;
    let fresh = |pid: &i32| {
        since.is_none_or(|t| {
            std::fs::symlink_metadata(app.worker(*pid))
                .and_then(|m| m.modified())
                .is_ok_and(|m| m >= t)
        })
    };
    let mut waker = emperor::Waker::new(app);
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
        // Old workers left: nudge the master on to the next one (no wait for its loop).
        if emperor::workers(app)
            .iter()
            .any(|(p, r)| r != release || !fresh(p))
        {
            waker.wake(app);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(last)
}

pub(super) fn open_repo(layout: &Layout) -> Result<Repository, RemoteError> {
    let path = layout.repo();
    if let Ok(r) = Repository::open_bare(&path) {
        return Ok(r);
    }
    let _l = Lock::wait(&layout.repo_lock()).map_err(internal("receive"))?;
    Repository::open_bare(&path)
        .or_else(|_| Repository::init_bare(&path))
        .map_err(|e| {
            RemoteError::new(
                "receive",
                format!("cannot open {}: {}", path.display(), e.message()),
            )
        })
}

pub(super) fn receive_pack(
    repo: &Repository,
    input: &mut impl Read,
    len: u64,
) -> Result<(), RemoteError> {
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

pub(super) fn read_requirements(
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
pub(super) fn app_env(
    spec: &BuildSpec,
    app: &str,
    branch: &str,
    url: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut env = spec.env.clone();
    env.insert("JIB_APP".into(), app.to_string());
    env.insert("JIB_BRANCH".into(), branch.to_string());
    env.insert("JIB_URL".into(), url.to_string());
    env
}

/// Imports the release's entry point in its own venv and environment, before any traffic:
/// app code, so sandboxed as the app's user.
fn import_check(
    server: &ServerConfig,
    layout: &Layout,
    app: &AppLayout,
    rel_dir: &Path,
    venv_dir: &Path,
    timeout: Duration,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("import check", m);
    let log = app.import_check_log();
    let logf = crate::fsafe::open_truncate(&log, 0o640).map_err(|e| err(format!("{e}")))?;
    let sandbox = sandbox(server, layout, "import check")?;
    let mut cmd = sandbox.command(venv_dir.join("bin/python"));
    cmd.arg(layout.shim())
        .arg("--check")
        .arg(&app.dir)
        .arg(rel_dir)
        .current_dir(rel_dir);
    let outcome = sandbox.run(&mut cmd, timeout, Some(&logf)).map_err(|e| {
        err(format!("{e:#}")).hint(
            "the venv's interpreter (app.python) must be runnable by the user apps run as (run_as)",
        )
    })?;
    if outcome.timed_out {
        return Err(err(format!(
            "importing the app took longer than {}s",
            timeout.as_secs()
        ))
        .hint("something at import time waits (a network call, a lock?); the previous release keeps serving")
        .log_tail(crate::fsafe::tail(&log, 15)));
    }
    if outcome.success() {
        return Ok(());
    }
    let lines = crate::fsafe::tail(&log, 15);
    let last = lines
        .last()
        .cloned()
        .unwrap_or_else(|| outcome.describe(timeout));
    Err(
        RemoteError::new("import check", format!("the app does not import: {last}"))
            .hint("fix the error and push again; the previous release keeps serving")
            .log_tail(lines),
    )
}
