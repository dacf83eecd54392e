//! `jib-agent artifact | promote | rollback | audit`: the build a branch runs, shipped as is to
//! another environment (prod), switched back in one command, and the trail of who did what.

use std::time::Duration;

use super::Emitter;
use super::apps::find_app;
use super::deploy::{check_server, internal, lock_app, recover_interrupted, wait_live};
use super::pipeline::{self, Build, Objects, Packages, Ship};
use crate::emperor;
use crate::health;
use crate::layout::{AppLayout, Layout};
use crate::protocol::{Artifact, PromoteRequest, RemoteError, Reply, ServerConfig};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::venv;

/// What `app` runs now: its current release, venv and exact package set.
pub fn artifact(server: &ServerConfig, name: &str) -> Result<Reply, RemoteError> {
    let (layout, app) = find_app(server, name, "artifact")?;
    let Some(cur) = release::current(&app) else {
        return Err(
            RemoteError::new("artifact", format!("{name} has no current release"))
                .hint(format!(
                    "its deploys failed; push it again: jib push {name}"
                ))
                .kind(crate::protocol::ErrorKind::NotDeployed),
        );
    };
    let venv = venv::read_venv(&layout.venv(&cur.venv)).ok_or_else(|| {
        RemoteError::new(
            "artifact",
            format!("the venv of {name}'s release {} is gone", cur.id),
        )
        .hint(format!("push it again: jib push {name} --force"))
    })?;
    let sandbox = super::deploy::sandbox(server, &layout, "artifact")?;
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
        src: app.release_src(&cur.id),
    }))
}

pub fn promote(
    req: PromoteRequest,
    input: &mut impl std::io::BufRead,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let a = &req.artifact;
    let ship = Ship {
        server: &req.server,
        spec: &req.spec,
        app: &req.app,
        commit: &a.commit,
        branch: &a.branch,
        by: &req.by,
        doing: format!(
            "promote {} ({})",
            a.branch,
            a.commit.get(..12).unwrap_or(&a.commit)
        ),
        lock_wait_secs: req.lock_wait_secs,
        label: &req.app,
        reflog: "jib promote",
    };
    // Always built from git objects, never from the source's files (its app user could have
    // changed them). Same server: the objects come from the source root's repository; else
    // the CLI sends what this server lacks.
    let objects = match req.same_host.then(|| source_repo(&a.src)).flatten() {
        Some(repo) => Objects::FromRoot(repo),
        None => Objects::FromCli,
    };
    let opened = pipeline::open(&ship, objects, input, em)?;
    let copied = opened.copied;
    // The venv: the exact set the branch ran, from an interpreter of the same version.
    let python = venv::find_python(&req.spec.python)?;
    let shipped = opened.ship(
        "files",
        |n| {
            if copied {
                format!("{n} files, objects copied from {}", a.app)
            } else {
                format!("{n} files")
            }
        },
        Build {
            python: &python,
            packages: Packages::Locked {
                lock: &a.lock,
                python_version: &a.python_version,
                from: &a.app,
            },
        },
        venv::lock_digest(&a.lock),
        Some(format!("{}/{}@{}", req.from_env, a.app, a.release)),
        em,
    )?;
    Ok(Reply::Promote {
        app: req.app.clone(),
        url: crate::config::app_url(&req.app, &req.server),
        release: shipped.id,
        commit: a.commit.clone(),
        previous: shipped.previous.map(|p| p.id).unwrap_or_default(),
        venv: shipped.venv.hash,
        venv_reused: shipped.venv_reused,
        files: if copied { "copied" } else { "objects" }.to_string(),
    })
}

/// The repository of the root a same-server artifact's release lives in
/// (`<root>/<app>/releases/<id>/src`), when that is a root jib set up.
fn source_repo(src: &std::path::Path) -> Option<std::path::PathBuf> {
    let layout = Layout::of_release_src(src)?;
    // A root jib set up and only root can change (not a look-alike someone built), and, for
    // a user's call, one that user may deploy to as well.
    let trusted =
        !nix::unistd::geteuid().is_root() || super::setup::check_ancestors(&layout.state()).is_ok();
    let allowed = super::ctl::Peer::current().is_none_or(|p| super::ctl::may_use(&layout, &p.user));
    (trusted && allowed && layout.server_json().is_file() && layout.repo().is_dir())
        .then(|| layout.repo())
}

pub fn rollback(
    server: &ServerConfig,
    name: &str,
    to: Option<&str>,
    by: &str,
    lock_wait_secs: u64,
    health_timeout: Duration,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let (layout, app) = find_app(server, name, "rollback")?;
    em.tee(&app.deploy_log());
    let _lock = lock_app(
        &layout,
        name,
        by,
        format!("rollback {name}"),
        lock_wait_secs,
        em,
    )?;
    recover_interrupted(&app, server, em);
    let current = release::current(&app);
    let good: Vec<ReleaseMeta> = release::list(&app)
        .into_iter()
        .filter(|r| r.state == ReleaseState::Ok)
        .collect();
    let cur_id = current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
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
        None => match good.iter().rev().find(|r| r.id < cur_id) {
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
    if venv::read_venv(&layout.venv(&target.venv)).is_none() {
        return Err(RemoteError::new(
            "rollback",
            format!("the venv of release {} was removed", target.id),
        )
        .hint("promote or push that commit again instead"));
    }
    em.step("switch", || {
        release::switch_link(&app.current(), &AppLayout::current_target(&target.id))
            .map_err(internal("switch"))?;
        emperor::reload(&app, server).map_err(internal("switch"))?;
        Ok(((), Some(format!("{cur_id} → {}", target.id))))
    })?;
    let checked = em.step("health check", || {
        wait_live(
            &app,
            server,
            &target.health_path,
            &target.id,
            None,
            health_timeout,
        )
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
            .log_tail(crate::fsafe::tail(&app.log(), 20))
        })
    });
    if let Err(mut e) = checked {
        e.previous_serving =
            super::deploy::restore(&app, current.as_ref(), server, health_timeout, em);
        return Err(e);
    }
    Ok(Reply::Rollback {
        app: name.to_string(),
        url: crate::config::app_url(name, server),
        from: cur_id,
        to: target.id,
        commit: target.commit,
    })
}

pub fn audit(server: &ServerConfig, lines: usize) -> Result<Reply, RemoteError> {
    let layout = check_server(server)?;
    Ok(Reply::Audit {
        entries: crate::audit::read(&layout, lines),
    })
}
