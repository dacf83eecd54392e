//! Blue/green switching for an app that is awake (DESIGN.md §8): a release goes into service
//! as a new instance, started held back from the router, checked on its own socket, then
//! announced while the old instances are withdrawn and, once the requests already routed to
//! them have landed, stopped. The previous release serves until the very moment of the cut,
//! and nothing waits on uWSGI's master cycles. (An app that scales to zero keeps the chain
//! reload of `ctx.rs`: its one vassal is the emperor's to start.)

use std::time::{Duration, Instant};

use super::ctx::{Ctx, internal};
use crate::protocol::{Phase, RemoteError};
use crate::{emperor, health, release};

/// How long requests the router sent to a withdrawn instance just before it was withdrawn
/// get to be accepted before the instance is told to stop (DESIGN.md §8: ~150 ms).
const DRAIN: Duration = Duration::from_millis(150);

/// How often a switch looks again: short, as every step is something uWSGI does in ms.
const POLL: Duration = Duration::from_millis(10);

/// A new instance, loaded, that no request has reached yet.
pub(super) struct Staged {
    pub instance: String,
    pub release: String,
}

/// The instances `cut_over` took out of the router, still finishing what they had.
pub(super) struct Withdrawn {
    instances: Vec<String>,
    at: Instant,
    /// What `current` pointed at before.
    previous: Option<String>,
}

impl Withdrawn {
    /// The switch step's detail.
    pub fn describe(&self) -> String {
        match self.instances.len() {
            0 => "blue/green, first instance".to_string(),
            1 => "blue/green, old instance withdrawn".to_string(),
            n => format!("blue/green, {n} old instances withdrawn"),
        }
    }
}

impl Ctx<'_> {
    /// Whether this app switches blue/green (it is awake) rather than by chain reload.
    pub fn blue_green(&self) -> bool {
        self.server.idle_secs.is_none()
    }

    /// Starts an instance of `release`, held back from the router, and waits until each of
    /// its workers has loaded the app: the import check (its errors are the step's).
    pub fn stage(&self, release: &str, timeout: Duration) -> Result<Staged, RemoteError> {
        let instance = emperor::start_instance(&self.app, &self.layout, self.server, release)
            .map_err(internal("import check"))?;
        let staged = Staged {
            instance,
            release: release.to_string(),
        };
        let workers = self.server.processes.max(2) as usize;
        let start = Instant::now();
        loop {
            if let Some(why) = emperor::instance_failure(&self.app, &staged.instance) {
                self.abandon(&staged);
                let lines = crate::fsafe::last_lines(&why, 15);
                let last = lines
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "see the app's log".into());
                return Err(RemoteError::new(
                    "import check",
                    format!("the app does not import: {last}"),
                )
                .hint("fix the error and push again; the previous release keeps serving")
                .log_tail(lines));
            }
            if emperor::instance_workers(&self.app, &staged.instance, release) >= workers {
                return Ok(staged);
            }
            if start.elapsed() > timeout {
                self.abandon(&staged);
                return Err(RemoteError::new(
                    "import check",
                    format!(
                        "the app's workers had not loaded it after {}s",
                        timeout.as_secs()
                    ),
                )
                .hint("something at import time waits (a network call, a lock?); the previous release keeps serving")
                .log_tail(crate::fsafe::tail(&self.app.log(), 15)));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Asks the staged instance itself, on its own socket, until `path` answers healthy from
    /// its release. On failure the instance is gone again.
    pub fn probe(
        &self,
        staged: &Staged,
        path: &str,
        timeout: Duration,
    ) -> Result<u16, RemoteError> {
        let sock = self.layout.app_socket(&staged.instance);
        let host = self.server.app_host(self.name());
        let answered = health::poll(timeout, POLL, Some(health::UNHEALTHY_GRACE), || {
            let res = health::get_socket(&sock, &host, path, Duration::from_secs(10));
            health::look(&res, path, &staged.release)
        });
        let last = match answered {
            Ok(status) => return Ok(status),
            Err(last) => last,
        };
        self.abandon(staged);
        Err(RemoteError::new(
            "health check",
            format!(
                "http://{host}{path} did not answer healthy within {}s: {last}",
                timeout.as_secs()
            ),
        )
        .log_tail(crate::fsafe::tail(&self.app.log(), 20)))
    }

    /// The cut: `current` on the staged release, the router on its instance, every other
    /// instance withdrawn (they keep what they are running).
    pub fn cut_over(&self, staged: &Staged) -> Result<Withdrawn, RemoteError> {
        // A fleet switches only when every host is ready.
        if !self.pass(Phase::Prepared, &staged.release) {
            self.abandon(staged);
            return Err(self.held_back(Phase::Prepared));
        }
        let previous = crate::layout::link_target_name(&self.app.current());
        let old: Vec<String> = emperor::instances(&self.app)
            .into_iter()
            .filter(|i| *i != staged.instance)
            .collect();
        release::make_current(&self.app, &staged.release).map_err(internal("switch"))?;
        let withdrawn = Withdrawn {
            instances: old,
            at: Instant::now(),
            previous,
        };
        let announced = emperor::go_live(&self.app, &self.layout, self.server, &staged.instance)
            .and_then(|()| {
                withdrawn
                    .instances
                    .iter()
                    .try_for_each(|i| emperor::withdraw(&self.app, &self.layout, self.server, i))
            });
        if let Err(e) = announced {
            self.undo(staged, withdrawn);
            return Err(internal("switch")(e));
        }
        Ok(withdrawn)
    }

    /// Through the front door, `path` answers healthy from the staged release; then the
    /// withdrawn instances are stopped. On failure the cut is undone.
    pub fn verify(
        &self,
        staged: &Staged,
        withdrawn: Withdrawn,
        path: &str,
        timeout: Duration,
    ) -> Result<u16, RemoteError> {
        let host = self.server.app_host(self.name());
        if self.server.fleet.is_some() {
            // Through the routers, the whole fleet: the CLI checks that once every host has
            // switched, and the word it sends says whether the switch stands.
            if !self.pass(Phase::Switched, &staged.release) {
                self.undo(staged, withdrawn);
                return Err(self.held_back(Phase::Switched));
            }
            self.retire(withdrawn);
            return Ok(200);
        }
        let answered = health::local_addr(&self.server.listen)
            .map_err(|e| e.to_string())
            .and_then(|addr| {
                // It answered healthy on its own socket: through the router, wait it out.
                health::poll(timeout, POLL, None, || {
                    let res = health::get(addr, &host, path, Duration::from_secs(10));
                    health::look(&res, path, &staged.release)
                })
            });
        match answered {
            Ok(status) => {
                self.retire(withdrawn);
                Ok(status)
            }
            Err(last) => {
                self.undo(staged, withdrawn);
                Err(RemoteError::new(
                    "health check",
                    format!(
                        "http://{host}{path} did not answer through the router within {}s: {last}",
                        timeout.as_secs()
                    ),
                )
                .hint(
                    "the new instance answered on its own socket: check the router (`jib doctor`)",
                )
                .log_tail(crate::fsafe::tail(&self.app.log(), 20)))
            }
        }
    }

    /// Stops what `cut_over` withdrew, once requests routed to it just before have landed:
    /// after the reply (nobody waits for the drain), still under the app's lock.
    fn retire(&self, withdrawn: Withdrawn) {
        if withdrawn.instances.is_empty() {
            return;
        }
        let (app, layout) = (self.app.clone(), self.layout.clone());
        super::emit::after_reply(move || {
            std::thread::sleep(DRAIN.saturating_sub(withdrawn.at.elapsed()));
            for i in &withdrawn.instances {
                emperor::stop_instance(&app, &layout, i);
            }
        });
    }

    /// Puts back what `cut_over` changed: the old instances announced again, `current` where
    /// it was, the staged instance gone.
    fn undo(&self, staged: &Staged, withdrawn: Withdrawn) {
        for i in &withdrawn.instances {
            let _ = emperor::go_live(&self.app, &self.layout, self.server, i);
        }
        match &withdrawn.previous {
            Some(id) => {
                let _ = release::make_current(&self.app, id);
            }
            None => {
                let _ = std::fs::remove_file(self.app.current());
            }
        }
        let _ = emperor::withdraw(&self.app, &self.layout, self.server, &staged.instance);
        std::thread::sleep(DRAIN);
        self.abandon(staged);
    }

    /// Stops a staged instance that will not serve.
    pub fn abandon(&self, staged: &Staged) {
        emperor::stop_instance(&self.app, &self.layout, &staged.instance);
    }

    /// A release that is already built (rollback, restart) into service, in two steps:
    /// `first` (start, import, check on its socket, cut over) and `health check` (through
    /// the router). An error before the cut leaves everything as it was.
    pub fn replace(
        &self,
        id: &str,
        path: &str,
        timeout: Duration,
        first: &str,
    ) -> Result<u16, RemoteError> {
        let (staged, withdrawn) = self.em.step(first, || {
            let (staged, withdrawn) = self.start_and_cut(id, path, timeout)?;
            let detail = withdrawn.describe();
            Ok(((staged, withdrawn), Some(detail)))
        })?;
        self.em.step("health check", || {
            let status = self.verify(&staged, withdrawn, path, timeout)?;
            Ok((status, Some(format!("HTTP {status}, all workers on {id}"))))
        })
    }

    /// The same without steps of its own (putting a release back after a failure).
    pub fn bring_up(&self, id: &str, path: &str, timeout: Duration) -> Result<u16, RemoteError> {
        let (staged, withdrawn) = self.start_and_cut(id, path, timeout)?;
        self.verify(&staged, withdrawn, path, timeout)
    }

    fn start_and_cut(
        &self,
        id: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<(Staged, Withdrawn), RemoteError> {
        let staged = self.stage(id, timeout.max(Duration::from_secs(60)))?;
        self.probe(&staged, path, timeout)?;
        let withdrawn = self.cut_over(&staged)?;
        Ok((staged, withdrawn))
    }
}
