//! `jib-agent destroy`: stops an app and removes it — releases, logs, environment, socket,
//! its ref in the server's repository, venvs nothing uses any more — and its database when
//! asked.

use std::time::{Duration, Instant};

use super::ctx::Ctx;
use crate::emperor;
use crate::protocol::{DropDb, RemoteError, Reply};

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
        let mut freed = crate::fsafe::dir_size(&app.dir);
        std::fs::remove_dir_all(&app.dir).map_err(|e| {
            RemoteError::new(
                "destroy",
                format!("cannot remove {}: {e}", app.dir.display()),
            )
        })?;
        let _ = std::fs::remove_file(layout.app_socket(name));
        // Its HTTPS server goes with its certificate (nginx would refuse a reload naming a
        // missing file); serve sees the certificate gone and reloads nginx within a second.
        if crate::acme::forget(ctx.server, layout, name) {
            let _ = super::serve::write_site(ctx.server, layout);
        }
        super::objects::delete_app_ref(layout, name);
        freed += crate::venv::gc(layout, name);
        Ok((freed, None))
    })?;
    Ok(Reply::Destroy {
        app: name.to_string(),
        freed_bytes: freed,
    })
}
