//! `jib-agent restart`: chain-reloads one app and waits until every worker runs its current
//! release again.

use super::ctx::Ctx;
use crate::protocol::{RemoteError, Reply};
use crate::release;

pub(super) fn restart(ctx: &Ctx) -> Result<Reply, RemoteError> {
    let name = ctx.name();
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
