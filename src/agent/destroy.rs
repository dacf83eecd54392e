//! `jib-agent destroy`: stops an app and removes it — releases, logs, environment, socket,
//! its ref in the server's repository, venvs nothing uses any more — and its database when
//! asked.

use std::path::Path;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
use crate::emperor;
use crate::layout::Layout;
use crate::protocol::{DropDb, RemoteError, Reply};
use crate::release;

/// Drops the app's database with the configured shell, as the app's user.
fn drop_database(ctx: &Ctx, drop: &DropDb) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("drop database", m);
    let argv = crate::mongo::shell_argv(&drop.shell, Some("db.dropDatabase()"))?;
    let sandbox = ctx.sandbox("drop database")?;
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

pub(super) fn destroy(ctx: &Ctx, drop_db: Option<&DropDb>) -> Result<Reply, RemoteError> {
    let (layout, app, name, em) = (&ctx.layout, &ctx.app, ctx.name(), ctx.em);
    let _lock = ctx.lock(format!("destroy {name}"), 30)?;
    em.step("stop", || {
        emperor::dismiss(app, layout).map_err(|e| RemoteError::new("destroy", format!("{e:#}")))?;
        // The emperor stops the vassal within its poll; wait so no process outlives its files.
        let start = Instant::now();
        while !emperor::workers(app).is_empty() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(((), None))
    })?;
    if let Some(d) = drop_db {
        em.step("drop database", || {
            drop_database(ctx, d)?;
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
        super::objects::delete_app_ref(layout, name);
        freed += gc_venvs(layout, name);
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
fn gc_venvs(layout: &Layout, except: &str) -> u64 {
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
