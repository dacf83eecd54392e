//! `jib-agent env`: the app's own environment (`env.json`, the agent's, readable by the
//! apps' group): list, set, unset, and restart the app to apply a change.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::ctx::{Ctx, check_server};
use super::emit::Emitter;
use crate::protocol::{EnvOp, RemoteError, Reply, ServerConfig};
use crate::release;

pub(super) fn env<'a>(
    server: &'a ServerConfig,
    name: &str,
    op: EnvOp,
    restart_after: bool,
    by: &'a str,
    em: &'a Emitter,
) -> Result<Reply, RemoteError> {
    // Setting variables before the first push is allowed (secrets the first deploy needs).
    let ctx = match (Ctx::find(server, name, "env", by, em), &op) {
        (Ok(ctx), _) => ctx,
        (Err(_), EnvOp::Set { .. }) if crate::slug::is_app_name(name) => {
            let ctx = Ctx::new(server, check_server(server)?, name, by, em);
            std::fs::create_dir_all(&ctx.app.dir)
                .map_err(|e| RemoteError::new("env", format!("{}: {e}", ctx.app.dir.display())))?;
            ctx
        }
        (Err(e), _) => return Err(e),
    };
    let app = &ctx.app;
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
        if let Some((_, g)) = ctx.user("env")? {
            crate::fsafe::set_owner_mode(
                &app.env_file(),
                Some((nix::unistd::geteuid().as_raw(), g.gid.as_raw())),
                0o640,
            )
            .map_err(err)?;
        }
        if restart_after {
            let _lock = ctx.lock(
                format!("env restart {}", ctx.name()),
                super::restart::RESTART_LOCK_WAIT_SECS,
            )?;
            ctx.recover_interrupted();
            if let Some(current) = release::current(app) {
                ctx.restart(&current)?;
                restarted = true;
            }
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
