//! Managing deployed apps: list, status, restart, logs, env, destroy.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::Emitter;
use super::deploy::{check_server, wait_live};
use crate::emperor;
use crate::layout::{AppLayout, Layout};
use crate::protocol::{
    AppState, AppStatus, EnvOp, Event, LogSource, ReleaseInfo, RemoteError, Reply, ServerConfig,
};
use crate::release;

/// The app's layout, or an error that lists what is deployed.
pub fn find_app(
    server: &ServerConfig,
    app: &str,
    step: &str,
) -> Result<(Layout, AppLayout), RemoteError> {
    let layout = check_server(server)?;
    let deployed = deployed(&layout);
    if crate::slug::is_app_name(app) && deployed.iter().any(|a| a == app) {
        let a = layout.app(app);
        return Ok((layout, a));
    }
    let hint = if deployed.is_empty() {
        "nothing is deployed here yet: `jib push <branch>` deploys one".to_string()
    } else {
        format!(
            "deployed here: {} — or deploy it with `jib push {app}`",
            deployed.join(", ")
        )
    };
    Err(RemoteError::new(
        step,
        format!("no app named {app:?} is deployed on this server"),
    )
    .hint(hint)
    .kind(crate::protocol::ErrorKind::NotDeployed))
}

/// Apps with a current release, a vassal link or releases, sorted.
pub fn deployed(layout: &Layout) -> Vec<String> {
    layout
        .app_names()
        .into_iter()
        .filter(|n| {
            let app = layout.app(n);
            // A first deploy that failed leaves only releases: still listed, still destroyable.
            app.current().symlink_metadata().is_ok()
                || app.ini().symlink_metadata().is_ok()
                || app.releases().is_dir()
        })
        .collect()
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: i32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The vassal's master: the parent of its workers.
fn master_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state, ppid, …
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn status_of(server: &ServerConfig, layout: &Layout, name: &str) -> AppStatus {
    let app = layout.app(name);
    let current = release::current(&app);
    let all = release::list(&app);
    let workers = emperor::workers(&app);
    let mut rss: u64 = workers.iter().map(|(pid, _)| rss_bytes(*pid)).sum();
    if let Some(m) = workers.first().and_then(|(pid, _)| master_pid(*pid)) {
        rss += rss_bytes(m);
    }
    let linked = app.ini().symlink_metadata().is_ok();
    let state = if !linked {
        AppState::Stopped
    } else if workers.is_empty() && server.idle_secs.is_some() {
        // Scaled to zero: the emperor holds its socket; the next request starts it.
        AppState::Sleeping
    } else if workers.is_empty() {
        // Linked but no worker alive: still starting, or dying over and over.
        let started = std::fs::symlink_metadata(app.ini())
            .ok()
            .and_then(|m| m.modified().ok());
        match started {
            Some(t) if t.elapsed().unwrap_or_default() < Duration::from_secs(15) => {
                AppState::Starting
            }
            _ => AppState::Failed,
        }
    } else {
        AppState::Running
    };
    let last_failed = all
        .last()
        .is_some_and(|r| r.state == crate::release::ReleaseState::Failed);
    AppStatus {
        app: name.to_string(),
        branch: current
            .as_ref()
            .map(|c| c.branch.clone())
            .unwrap_or_default(),
        url: crate::config::app_url(name, server),
        commit: current
            .as_ref()
            .map(|c| c.commit.clone())
            .unwrap_or_default(),
        release: current.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
        deployed_at: current
            .as_ref()
            .map(|c| c.created.clone())
            .unwrap_or_default(),
        deployed_by: current.as_ref().map(|c| c.by.clone()).unwrap_or_default(),
        state,
        last_deploy_failed: last_failed,
        workers: workers.len(),
        rss_bytes: rss,
        processes: procs_of(&app),
        // uWSGI logs every request: its log's mtime is the last visit (or health check).
        last_request: std::fs::symlink_metadata(app.log())
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                time::OffsetDateTime::from(t)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_default(),
    }
}

pub fn list(server: &ServerConfig) -> Result<Reply, RemoteError> {
    let layout = check_server(server)?;
    let apps = deployed(&layout)
        .iter()
        .map(|a| status_of(server, &layout, a))
        .collect();
    Ok(Reply::List { apps })
}

pub fn status(server: &ServerConfig, name: &str) -> Result<Reply, RemoteError> {
    let (layout, app) = find_app(server, name, "status")?;
    let current = crate::layout::link_target_name(&app.current());
    let releases = release::list(&app)
        .into_iter()
        .rev()
        .map(|r| ReleaseInfo {
            current: current.as_deref() == Some(r.id.as_str()),
            id: r.id,
            commit: r.commit,
            created: r.created,
            by: r.by,
            state: r.state,
            venv: r.venv,
            branch: r.branch,
            promoted_from: r.promoted_from,
        })
        .collect();
    Ok(Reply::Status {
        status: status_of(server, &layout, name),
        releases,
    })
}

pub fn restart(server: &ServerConfig, name: &str, em: &Emitter) -> Result<Reply, RemoteError> {
    let (layout, app) = find_app(server, name, "restart")?;
    let Some(current) = release::current(&app) else {
        return Err(
            RemoteError::new("restart", format!("{name} has no current release"))
                .hint(format!("deploy it: jib push {name}")),
        );
    };
    let asked = std::time::SystemTime::now();
    em.step("reload", || {
        let how = emperor::reload(&app, server)
            .map_err(|e| RemoteError::new("restart", format!("{e:#}")))?;
        Ok(((), Some(format!("{how:?}").to_lowercase())))
    })?;
    em.step("health check", || {
        let status = wait_live(
            &app,
            server,
            &current.health_path,
            &current.id,
            Some(asked),
            Duration::from_secs(60),
        )
        .map_err(|last| {
            RemoteError::new(
                "health check",
                format!("{name} did not come back healthy: {last}"),
            )
            .log_tail(crate::fsafe::tail(&app.log(), 20))
        })?;
        Ok(((), Some(format!("HTTP {status}"))))
    })?;
    let _ = layout;
    Ok(Reply::Restart {
        app: name.to_string(),
        release: current.id,
    })
}

/// Streams the last `lines` lines, then (when following) what is appended, surviving
/// truncation and rotation, until the CLI goes away (stdin closes).
pub fn logs(
    server: &ServerConfig,
    name: &str,
    lines: usize,
    follow: bool,
    deploy: bool,
    process: Option<&LogSource>,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let (_, app) = find_app(server, name, "logs")?;
    let path = match process {
        Some(LogSource::Cron) => app.cron_log(),
        Some(LogSource::Release) => app.release_log(),
        Some(LogSource::Process(p)) if crate::slug::is_app_name(p) => app.process_log(p),
        Some(LogSource::Process(p)) => {
            return Err(
                RemoteError::new("logs", format!("{p:?} is not a process name"))
                    .hint("name a [processes] entry of deploy.toml, or `cron`"),
            );
        }
        None if deploy => app.deploy_log(),
        None => app.log(),
    };
    if process.is_some() && !path.exists() && !follow {
        let known = procs_of(&app);
        return Err(RemoteError::new(
            "logs",
            format!(
                "{name} has no log for {:?} yet",
                process.map(LogSource::to_string).unwrap_or_default()
            ),
        )
        .hint(if known.is_empty() {
            "it runs no [processes]; add them to deploy.toml, then `jib setup` and push".to_string()
        } else {
            format!(
                "its processes: {}",
                known.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }));
    }
    for l in crate::fsafe::tail(&path, lines) {
        em.send(&Event::Log { line: l });
    }
    if follow {
        follow_file(&path, em);
    }
    Ok(Reply::Logs {
        path: path.display().to_string(),
    })
}

fn follow_file(path: &Path, em: &Emitter) {
    // The CLI keeps our stdin open while it follows; EOF means it is gone (Ctrl-C, lost
    // connection), and we must not linger on the server.
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = gone.clone();
    std::thread::spawn(move || {
        // The raw fd: the request reader still holds std's stdin lock.
        use std::os::fd::AsFd;
        let mut buf = [0u8; 64];
        let stdin = std::io::stdin();
        while !matches!(nix::unistd::read(stdin.as_fd(), &mut buf), Ok(0) | Err(_)) {}
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    // The log sits in a directory the app's user owns: no links, no FIFOs.
    let open = |p: &Path| crate::fsafe::open_read(p).ok();
    let mut file = open(path);
    let mut pos = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.len())
        .unwrap_or(0);
    let mut ino = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.ino());
    let mut partial = String::new();
    let mut quiet = Instant::now();
    while !gone.load(std::sync::atomic::Ordering::SeqCst) {
        // Rotated (a new file at the path) or truncated: start from its beginning.
        let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file());
        if meta.as_ref().map(|m| m.ino()) != ino {
            file = open(path);
            ino = meta.as_ref().map(|m| m.ino());
            pos = 0;
        } else if meta.as_ref().is_some_and(|m| m.len() < pos) {
            pos = 0;
        }
        let mut got = false;
        if let Some(f) = file.as_mut()
            && f.seek(SeekFrom::Start(pos)).is_ok()
        {
            let mut reader = std::io::BufReader::new(&mut *f);
            // Bytes, not UTF-8: a log line in another encoding must not stop the follow.
            let mut line = Vec::new();
            // At most 64 KiB a line: an app can write a 50 GB line without a newline.
            while let Ok(n) =
                std::io::Read::take(&mut reader, 64 << 10).read_until(b'\n', &mut line)
            {
                if n == 0 {
                    break;
                }
                pos += n as u64;
                let text = String::from_utf8_lossy(&line);
                if line.ends_with(b"\n") || partial.len() + line.len() >= 64 << 10 {
                    partial.push_str(text.trim_end_matches('\n'));
                    em.send(&Event::Log {
                        line: std::mem::take(&mut partial),
                    });
                    got = true;
                } else {
                    partial.push_str(&text);
                }
                line.clear();
            }
        }
        if got {
            quiet = Instant::now();
        } else if quiet.elapsed() > Duration::from_secs(15) {
            // A heartbeat: a write to a closed connection is how a vanished peer shows up
            // when stdin cannot tell (some ssh setups keep it open).
            em.send(&Event::Warning {
                message: String::new(),
            });
            quiet = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn env(
    server: &ServerConfig,
    name: &str,
    op: EnvOp,
    restart_after: bool,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    // Setting variables before the first push is allowed (secrets the first deploy needs).
    let app = match (find_app(server, name, "env"), &op) {
        (Ok((_, app)), _) => app,
        (Err(_), EnvOp::Set { .. }) if crate::slug::is_app_name(name) => {
            let app = check_server(server)?.app(name);
            std::fs::create_dir_all(&app.dir)
                .map_err(|e| RemoteError::new("env", format!("{}: {e}", app.dir.display())))?;
            app
        }
        (Err(e), _) => return Err(e),
    };
    let err =
        |e: std::io::Error| RemoteError::new("env", format!("{}: {e}", app.env_file().display()));
    let mut vars: BTreeMap<String, String> = match std::fs::read(app.env_file()) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| RemoteError::new("env", format!("env.json is damaged: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(err(e)),
    };
    let changed = match op {
        EnvOp::List => false,
        EnvOp::Set { vars: new } => {
            for k in new.keys() {
                if !crate::config::valid_env_name(k) {
                    return Err(RemoteError::new(
                        "env",
                        format!("{k:?} is not a valid variable name"),
                    )
                    .hint("use letters, digits and _, not starting with a digit"));
                }
            }
            vars.extend(new);
            true
        }
        EnvOp::Unset { keys } => {
            let before = vars.len();
            vars.retain(|k, _| !keys.contains(k));
            before != vars.len()
        }
    };
    let mut restarted = false;
    if changed {
        write_private(
            &app.env_file(),
            &serde_json::to_vec_pretty(&vars).unwrap_or_default(),
        )
        .map_err(err)?;
        // Readable by the app's group (its workers load it), changed only by the agent.
        let who = crate::identity::app_user(server.run_as.as_deref())
            .map_err(|e| RemoteError::new("env", format!("{e:#}")))?;
        if let Some((_, g)) = who {
            crate::fsafe::set_owner_mode(
                &app.env_file(),
                Some((nix::unistd::geteuid().as_raw(), g.gid.as_raw())),
                0o640,
            )
            .map_err(err)?;
        }
        if restart_after && release::current(&app).is_some() {
            restart(server, name, em)?;
            restarted = true;
        }
    }
    Ok(Reply::Env { vars, restarted })
}

/// Writes a file only its owner can read, atomically.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The app's `[processes]` as its supervisor last recorded them: name → `running (pid N)` or
/// `down`.
pub fn procs_of(app: &AppLayout) -> BTreeMap<String, String> {
    let Ok(bytes) = crate::fsafe::read(&app.procs_json(), 1 << 20) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return BTreeMap::new();
    };
    v["processes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, p)| {
                    let state = match p["pid"].as_i64() {
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {
                            format!("running (pid {pid})")
                        }
                        _ => "down".to_string(),
                    };
                    (name.clone(), state)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Drops the app's database with the configured shell, as the app's user.
fn drop_database(
    server: &ServerConfig,
    layout: &crate::layout::Layout,
    drop: &crate::protocol::DropDb,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("drop database", m);
    let argv = crate::mongo::shell_argv(&drop.shell, Some("db.dropDatabase()"))?;
    let sandbox = super::deploy::sandbox(server, layout, "drop database")?;
    let mut cmd = sandbox.command(&argv[0]);
    // The URL (credentials) in the environment, not in argv where `ps` shows it.
    cmd.args(&argv[1..]).env(crate::mongo::URL_ENV, &drop.url);
    let limit = Duration::from_secs(120);
    let out = sandbox.capture(&mut cmd, limit, 1 << 16).map_err(|e| {
        err(format!("cannot run {}: {e:#}", drop.shell))
            .hint("install mongosh on the server (npm install -g mongosh), or set mongo.shell")
    })?;
    if !out.success() {
        return Err(err(format!(
            "{} {}: {}",
            drop.shell,
            out.describe(limit),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

pub fn destroy(
    server: &ServerConfig,
    name: &str,
    drop_db: Option<&crate::protocol::DropDb>,
    by: &str,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let (layout, app) = find_app(server, name, "destroy")?;
    let _lock = super::deploy::lock_app(&layout, name, by, format!("destroy {name}"), 30, em)?;
    em.step("stop", || {
        emperor::dismiss(&app).map_err(|e| RemoteError::new("destroy", format!("{e:#}")))?;
        // The emperor stops the vassal within its poll; wait so no process outlives its files.
        let start = Instant::now();
        while !emperor::workers(&app).is_empty() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(((), None))
    })?;
    if let Some(d) = drop_db {
        em.step("drop database", || {
            drop_database(server, &layout, d)?;
            Ok(((), Some(d.url.rsplit('/').next().unwrap_or("").to_string())))
        })?;
    }
    let freed = em.step("remove", || {
        let mut freed = dir_size(&app.dir);
        std::fs::remove_dir_all(&app.dir).map_err(|e| {
            RemoteError::new(
                "destroy",
                format!("cannot remove {}: {e}", app.dir.display()),
            )
        })?;
        let _ = std::fs::remove_file(layout.app_socket(name));
        if let Ok(repo) = git2::Repository::open_bare(layout.repo())
            && let Ok(mut r) = repo.find_reference(&crate::layout::app_ref(name))
        {
            let _ = r.delete();
        }
        freed += gc_venvs(&layout, name);
        Ok((freed, None))
    })?;
    Ok(Reply::Destroy {
        app: name.to_string(),
        freed_bytes: freed,
    })
}

/// True while another app's deploy (push, promote, rollback) holds its lock.
fn deploy_running(layout: &Layout, except: &str) -> bool {
    layout.app_lock_files().into_iter().any(|(app, path)| {
        app != except && std::fs::File::open(path).is_ok_and(|f| f.try_lock_shared().is_err())
    })
}

/// Removes venvs no release of any app uses any more; returns the bytes freed. `except` is
/// the app whose lock the caller holds.
pub fn gc_venvs(layout: &Layout, except: &str) -> u64 {
    // Used by a release of any app, or just built by a deploy still running (it may not
    // have recorded its release yet).
    let busy = deploy_running(layout, except);
    let keep = |name: &str| {
        let recent = std::fs::metadata(layout.venv(name))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(600));
        (recent && busy)
            || layout
                .app_names()
                .iter()
                .any(|a| release::list(&layout.app(a)).iter().any(|r| r.venv == name))
    };
    let mut freed = 0;
    for v in std::fs::read_dir(layout.venvs())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = v.file_name().to_string_lossy().into_owned();
        if !v.path().is_dir() || keep(&name) {
            continue;
        }
        // Under the venv's build lock, and asked again once we hold it: a deploy may have
        // finished building or recording it meanwhile.
        if let Ok(_l) = crate::lock::Lock::wait(&layout.venv_lock(&name))
            && !keep(&name)
        {
            freed += dir_size(&v.path());
            let _ = std::fs::remove_dir_all(v.path());
        }
    }
    freed
}

fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| dir_size(&e.path()))
        .sum()
}
