//! `jib-agent artifact`: what an app runs now — its current release, venv and exact package
//! set — for `jib promote` to ship elsewhere as is.

use std::time::Duration;

use super::ctx::Ctx;
use crate::health;
use crate::protocol::{Artifact, ErrorKind, RemoteError, Reply};
use crate::release;
use crate::venv;

pub(super) fn artifact(ctx: &Ctx) -> Result<Reply, RemoteError> {
    let (server, name) = (ctx.server, ctx.name());
    let Some(cur) = release::current(&ctx.app) else {
        return Err(
            RemoteError::new("artifact", format!("{name} has no current release"))
                .hint(format!(
                    "its deploys failed; push it again: jib push {name}"
                ))
                .kind(ErrorKind::NotDeployed),
        );
    };
    let venv = venv::read_venv(&ctx.layout.venv(&cur.venv)).ok_or_else(|| {
        RemoteError::new(
            "artifact",
            format!("the venv of {name}'s release {} is gone", cur.id),
        )
        .hint(format!("push it again: jib push {name} --force"))
    })?;
    let sandbox = ctx.sandbox("artifact")?;
    let lock = venv::freeze(&venv, &sandbox)?;
    let healthy = health::local_addr(&server.listen).is_ok_and(|addr| {
        matches!(
            health::judge(
                &health::get(
                    addr,
                    &server.app_host(name),
                    &cur.health_path,
                    Duration::from_secs(10)
                ),
                &cur.health_path,
                &cur.id,
            ),
            health::Verdict::Healthy
        )
    });
    Ok(Reply::Artifact(Artifact {
        app: name.to_string(),
        branch: cur.branch.clone(),
        release: cur.id.clone(),
        commit: cur.commit.clone(),
        state: cur.state,
        healthy,
        venv: cur.venv.clone(),
        python_version: venv.python_version.clone(),
        deps: venv::lock_digest(&lock),
        lock,
        src: ctx.app.release_src(&cur.id),
    }))
}
