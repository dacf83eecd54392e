//! `jib-agent restart`: new workers for one app's current release (a blue/green switch, or a
//! chain reload for an app that scales to zero), under the app's lock, until every worker
//! runs it again.

use super::ctx::Ctx;
use crate::protocol::{RemoteError, Reply};
use crate::release;

/// How long a restart (or an env change that restarts) queues behind a deploy of its app.
pub(super) const RESTART_LOCK_WAIT_SECS: u64 = 120;

pub(super) fn restart(ctx: &Ctx) -> Result<Reply, RemoteError> {
    let name = ctx.name();
    // A restart is a switch too: never beside a deploy's (or its drain after the reply).
    let _lock = ctx.lock(format!("restart {name}"), RESTART_LOCK_WAIT_SECS)?;
    ctx.recover_interrupted();
    let Some(current) = release::current(&ctx.app) else {
        return Err(
            RemoteError::new("restart", format!("{name} has no current release"))
                .hint(format!("deploy it: jib push {name}")),
        );
    };
    ctx.restart(&current)?;
    Ok(Reply::Restart {
        app: name.to_string(),
        release: current.id,
    })
}
