//! `jib-agent rollback`: switches an app back to an earlier good release (by default the one
//! before `current`), health-checks it, and puts `current` back when it fails. Nothing is
//! rebuilt: the release's files and venv are still there.

use std::time::Duration;

use super::ctx::{Ctx, internal};
use crate::protocol::{RemoteError, Reply};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::venv;

pub(super) fn rollback(
    ctx: &Ctx,
    to: Option<&str>,
    lock_wait_secs: u64,
    health_timeout: Duration,
) -> Result<Reply, RemoteError> {
    let (app, name) = (&ctx.app, ctx.name());
    ctx.em.tee(&app.deploy_log());
    let _lock = ctx.lock(format!("rollback {name}"), lock_wait_secs)?;
    ctx.recover_interrupted();
    let current = release::current(app);
    let cur_id = current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let target = choose(ctx, to, &cur_id)?;
    if venv::read_venv(&ctx.layout.venv(&target.venv)).is_none() {
        return Err(RemoteError::new(
            "rollback",
            format!("the venv of release {} was removed", target.id),
        )
        .hint("promote or push that commit again instead"));
    }
    if ctx.blue_green() {
        // Until the cut the current release never stopped; after it, a failure undoes it.
        ctx.replace(&target.id, &target.health_path, health_timeout, "switch")
            .map_err(|mut e| {
                e.previous_serving = current.is_some();
                e
            })?;
    } else {
        chain(ctx, current.as_ref(), &target, health_timeout)?;
    }
    Ok(Reply::Rollback {
        app: name.to_string(),
        url: crate::config::app_url(name, ctx.server),
        from: cur_id,
        to: target.id,
        commit: target.commit,
    })
}

/// The switch of an app that scales to zero: `current` moved, a chain reload, and the
/// previous release back if the target does not answer.
fn chain(
    ctx: &Ctx,
    current: Option<&ReleaseMeta>,
    target: &ReleaseMeta,
    health_timeout: Duration,
) -> Result<(), RemoteError> {
    let cur_id = current.map(|c| c.id.as_str()).unwrap_or_default();
    ctx.em.step("switch", || {
        ctx.switch_to(&target.id).map_err(internal("switch"))?;
        Ok(((), Some(format!("{cur_id} → {}", target.id))))
    })?;
    let checked = ctx.em.step("health check", || {
        ctx.wait_live(&target.health_path, &target.id, None, health_timeout)
            .map(|status| {
                (
                    (),
                    Some(format!("HTTP {status}, all workers on {}", target.id)),
                )
            })
            .map_err(|last| {
                RemoteError::new(
                    "health check",
                    format!("release {} did not answer healthy: {last}", target.id),
                )
                .log_tail(crate::fsafe::tail(&ctx.app.log(), 20))
            })
    });
    checked.map_err(|mut e| {
        e.previous_serving = ctx.restore(current, health_timeout);
        e
    })
}

/// The good release to go back to: the one `to` names (its id, or a prefix of at least 4 of
/// its id or commit), else the newest before `cur_id`.
fn choose(ctx: &Ctx, to: Option<&str>, cur_id: &str) -> Result<ReleaseMeta, RemoteError> {
    let name = ctx.name();
    let good: Vec<ReleaseMeta> = release::list(&ctx.app)
        .into_iter()
        .filter(|r| r.state == ReleaseState::Ok)
        .collect();
    let choices = || {
        good.iter()
            .map(|r| format!("{} ({})", r.id, &r.commit[..12.min(r.commit.len())]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = match to {
        Some(t) => {
            let matches: Vec<&ReleaseMeta> = good
                .iter()
                .filter(|r| {
                    r.id == t || (t.len() >= 4 && (r.id.starts_with(t) || r.commit.starts_with(t)))
                })
                .collect();
            match matches.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(RemoteError::new(
                        "rollback",
                        format!("no good release of {name} matches {t:?}"),
                    )
                    .hint(format!("releases kept: {}", choices())));
                }
                many => {
                    return Err(RemoteError::new(
                        "rollback",
                        format!("{t:?} matches {} releases of {name}", many.len()),
                    )
                    .hint("give more of the release id"));
                }
            }
        }
        None => match good.iter().rev().find(|r| r.id.as_str() < cur_id) {
            Some(r) => r.clone(),
            None => {
                return Err(RemoteError::new(
                    "rollback",
                    format!("{name} has no good release before {cur_id}"),
                )
                .hint(format!("releases kept: {}", choices())));
            }
        },
    };
    if target.id == cur_id {
        return Err(RemoteError::new(
            "rollback",
            format!("{name} already runs release {}", target.id),
        ));
    }
    Ok(target)
}
