//! The second half of every release (push, promote). An awake app, blue/green (switch.rs): a
//! new instance loads the release (the import check), the release step runs, the instance
//! answers healthy on its own socket, then the cut — the previous release serves until
//! then. An app that scales to zero: import check, release step, switch `current`, chain
//! reload, health check until every worker runs the new release. On any failure the release
//! is marked failed and the previous one is (still, or again) in place.

use std::path::Path;
use std::time::Duration;

use super::ctx::{Ctx, app_environment, internal};
use crate::emperor;
use crate::protocol::{BuildSpec, RemoteError};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::venv;

pub(super) struct Activation<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub spec: &'c BuildSpec,
    /// What the user pushed or promoted, for hints.
    pub label: &'c str,
}

impl Activation<'_, '_> {
    pub fn run(
        &self,
        meta: &mut ReleaseMeta,
        venv: &venv::Venv,
        previous: Option<&ReleaseMeta>,
    ) -> Result<(), RemoteError> {
        let (ctx, em) = (self.ctx, self.ctx.em);
        let app = &ctx.app;
        let rel_dir = app.release(&meta.id);
        release::write_meta(&rel_dir, meta).map_err(internal("export"))?;
        let keep = self.spec.keep_releases;
        let done = if ctx.blue_green() {
            self.blue_green(meta, venv, previous)
        } else {
            self.chain(meta, venv, previous)
        };
        // The venvs of the releases pruned go too, once the answer is out.
        let (layout, name) = (ctx.layout.clone(), ctx.name().to_string());
        super::emit::after_reply(move || {
            crate::venv::gc(&layout, &name);
        });
        if let Err(e) = done {
            meta.state = ReleaseState::Failed;
            let _ = release::write_meta(&rel_dir, meta);
            let _ = release::prune(app, keep);
            return Err(e);
        }
        meta.state = ReleaseState::Ok;
        release::write_meta(&rel_dir, meta).map_err(internal("finish"))?;
        if let Err(e) = release::prune(app, keep) {
            em.warn(format!("could not remove old releases: {e:#}"));
        }
        Ok(())
    }

    /// Blue/green: nothing the previous release serves changes before the cut, so whatever
    /// fails, it still serves (and a failure after the cut is undone).
    fn blue_green(
        &self,
        meta: &ReleaseMeta,
        venv: &venv::Venv,
        previous: Option<&ReleaseMeta>,
    ) -> Result<(), RemoteError> {
        let (ctx, em) = (self.ctx, self.ctx.em);
        let serving = |mut e: RemoteError| {
            e.previous_serving = previous.is_some();
            e
        };
        let load_limit = Duration::from_secs(self.spec.health_timeout_secs.max(60));
        let timeout = Duration::from_secs(self.spec.health_timeout_secs.max(1));
        let staged = em
            .step("import check", || {
                let staged = ctx.stage(&meta.id, load_limit)?;
                let detail = format!("new instance {}", staged.instance);
                Ok((staged, Some(detail)))
            })
            .map_err(serving)?;
        if let Some(cmd) = &self.spec.release {
            em.step("release step", || {
                run_release_step(ctx, meta, venv, cmd)?;
                Ok(((), Some(cmd.clone())))
            })
            .map_err(|e| {
                ctx.abandon(&staged);
                serving(e)
            })?;
        }
        em.step("health check", || {
            let status = ctx.probe(&staged, &meta.health_path, timeout)?;
            Ok((
                (),
                Some(format!("HTTP {status}, all workers on the new release")),
            ))
        })
        .map_err(|e| {
            let mut e = serving(e);
            e.hint = Some(format!(
                "fix the app and try again (`jib logs {}` shows the app log)",
                self.label
            ));
            e
        })?;
        em.step("switch", || {
            let withdrawn = ctx.cut_over(&staged)?;
            let detail = withdrawn.describe();
            ctx.verify(&staged, withdrawn, &meta.health_path, timeout)?;
            Ok(((), Some(detail)))
        })
        .map_err(serving)
    }

    /// An app that scales to zero: `current` moves before its workers reload, so a failure
    /// after the switch puts the previous release back.
    fn chain(
        &self,
        meta: &ReleaseMeta,
        venv: &venv::Venv,
        previous: Option<&ReleaseMeta>,
    ) -> Result<(), RemoteError> {
        let (ctx, em) = (self.ctx, self.ctx.em);
        let app = &ctx.app;
        let rel_dir = app.release(&meta.id);

        // Before the switch: whatever fails, the previous release never stopped serving.
        let checked = em
            .step("import check", || {
                let limit = Duration::from_secs(self.spec.health_timeout_secs.max(60));
                import_check(ctx, &rel_dir, &venv.dir, limit)?;
                Ok(((), None))
            })
            .and_then(|()| match &self.spec.release {
                Some(cmd) => em.step("release step", || {
                    run_release_step(ctx, meta, venv, cmd)?;
                    Ok(((), Some(cmd.clone())))
                }),
                None => Ok(()),
            });
        if let Err(e) = checked {
            let mut e = e;
            e.previous_serving = previous.is_some();
            return Err(e);
        }

        let restore_timeout = Duration::from_secs(self.spec.health_timeout_secs.max(10));
        let switched = em.step("switch", || {
            let how = ctx.switch_to(&meta.id).map_err(internal("switch"))?;
            Ok((
                (),
                Some(match how {
                    emperor::Reload::Chain => "chain reload".to_string(),
                    emperor::Reload::Started => "starting app".to_string(),
                }),
            ))
        });
        if let Err(e) = switched {
            let mut e = e;
            e.previous_serving = ctx.restore(previous, restore_timeout);
            return Err(e);
        }

        if let Err(e) = self.health_check(meta) {
            let mut e = e;
            e.previous_serving = ctx.restore(previous, restore_timeout);
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
        Ok(())
    }

    /// The `health check` step: the new release answers, from every worker.
    fn health_check(&self, meta: &ReleaseMeta) -> Result<(), RemoteError> {
        let ctx = self.ctx;
        let timeout = Duration::from_secs(self.spec.health_timeout_secs.max(1));
        let host = ctx.server.app_host(ctx.name());
        ctx.em.step("health check", || {
            match ctx.wait_live(&meta.health_path, &meta.id, None, timeout) {
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
                .log_tail(crate::fsafe::tail(&ctx.app.log(), 20))),
            }
        })
    }
}

/// Imports the release's entry point in its own venv and environment, before any traffic:
/// app code, so sandboxed as the app's user.
fn import_check(
    ctx: &Ctx,
    rel_dir: &Path,
    venv_dir: &Path,
    timeout: Duration,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("import check", m);
    let log = ctx.app.import_check_log();
    let logf = crate::fsafe::open_truncate(&log, 0o640).map_err(|e| err(format!("{e}")))?;
    let sandbox = ctx.sandbox("import check")?;
    let mut cmd = sandbox.command(venv_dir.join("bin/python"));
    cmd.arg(ctx.layout.shim())
        .arg("--check")
        .arg(&ctx.app.dir)
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

/// `[app] release`: the command runs in the new release (its code, venv, environment, as the
/// app's user) before any traffic reaches it; its output goes to `log/release.log`. The
/// release's files are the app's to write during the step (collectstatic, compiled assets)
/// and sealed again afterwards, whatever the outcome.
fn run_release_step(
    ctx: &Ctx,
    meta: &ReleaseMeta,
    venv: &venv::Venv,
    cmd: &str,
) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("release step", m);
    let log = ctx.app.release_log();
    let mut logf = crate::fsafe::open_append(&log, 0o640).map_err(|e| err(format!("{e}")))?;
    let _ = std::io::Write::write_all(
        &mut logf,
        format!("[jib] {} release {}: {cmd}\n", release::utc_now(), meta.id).as_bytes(),
    );
    let src = ctx.app.release_src(&meta.id);
    let sandbox = ctx.sandbox("release step")?;
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
        .envs(app_environment(&ctx.app, meta, &venv.dir))
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
