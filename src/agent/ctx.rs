//! What a verb acting on one app works with, built once per request: the environment as
//! `jib setup` stored it, its layout, the app, who asks, where events go — and what such verbs
//! share: the app's deploy lock, its user and sandbox, switching and reloading it, waiting until
//! a release is live, putting the previous one back, the environment its code runs in.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::unistd::{Group, User};

use super::emit::Emitter;
use crate::emperor;
use crate::health;
use crate::layout::{AppLayout, Layout};
use crate::lock::{Acquire, Lock};
use crate::protocol::{ErrorKind, Event, Go, LockHolder, Phase, RemoteError, ServerConfig};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::sandbox::Sandbox;

/// An internal failure (I/O, a lookup) reported as a failure of `step`.
pub(super) fn internal(step: &str) -> impl Fn(anyhow::Error) -> RemoteError + '_ {
    move |e| RemoteError::new(step, format!("{e:#}"))
}

/// Checks that the server was set up with this configuration; its layout when it was.
pub(super) fn check_server(server: &ServerConfig) -> Result<Layout, RemoteError> {
    // The CLI's word is not enough: values that reach generated files pass the allow-lists.
    server.check().map_err(|m| RemoteError::new("request", m))?;
    let layout = Layout::new(&server.root);
    let stored: Option<ServerConfig> = std::fs::read(layout.server_json())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    match stored {
        None => Err(RemoteError::new(
            "setup",
            format!("{} has not been set up for jib", server.root.display()),
        )
        .hint("run `jib setup` once for this environment")),
        Some(s) if &s != server => Err(RemoteError::new(
            "setup",
            "deploy.toml's settings for this environment changed since `jib setup`",
        )
        .hint("run `jib setup` again to apply them")),
        Some(_) => Ok(layout),
    }
}

/// Apps with a current release, a vassal link or releases, sorted.
pub(super) fn deployed(layout: &Layout) -> Vec<String> {
    layout
        .app_names()
        .into_iter()
        .filter(|n| {
            let app = layout.app(n);
            // A first deploy that failed leaves only releases: still listed, still destroyable.
            app.current().symlink_metadata().is_ok()
                || !emperor::instances(&app).is_empty()
                || app.releases().is_dir()
        })
        .collect()
}

/// A deployed app's layout, or an error (reported as `step`) that lists what is deployed.
pub(super) fn find_app(
    server: &ServerConfig,
    name: &str,
    step: &str,
) -> Result<(Layout, AppLayout), RemoteError> {
    let layout = check_server(server)?;
    let deployed = deployed(&layout);
    if crate::slug::is_app_name(name) && deployed.iter().any(|a| a == name) {
        let app = layout.app(name);
        return Ok((layout, app));
    }
    let hint = if deployed.is_empty() {
        "nothing is deployed here yet: `jib push <branch>` deploys one".to_string()
    } else {
        format!(
            "deployed here: {} — or deploy it with `jib push {name}`",
            deployed.join(", ")
        )
    };
    Err(RemoteError::new(
        step,
        format!("no app named {name:?} is deployed on this server"),
    )
    .hint(hint)
    .kind(ErrorKind::NotDeployed))
}

/// The sandbox app-controlled processes of this server run in; errors are reported as `step`.
pub(super) fn sandbox(
    server: &ServerConfig,
    layout: &Layout,
    step: &str,
) -> Result<Sandbox, RemoteError> {
    Sandbox::new(server.run_as.as_deref(), layout)
        .map_err(|e| RemoteError::new(step, format!("{e:#}")))
}

/// How long a host of a fleet deploy waits for the CLI's word: while the others prepare
/// (their venvs may take minutes), and while the routers check after the switch.
const GATE_WAIT: [Duration; 2] = [Duration::from_secs(30 * 60), Duration::from_secs(10 * 60)];

/// Whether the CLI's next line (on stdin) arrives within `wait`. The CLI writes nothing
/// between its objects and its word, so nothing of it is buffered yet.
fn stdin_ready(wait: Duration) -> bool {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let mut fds = [nix::poll::PollFd::new(
        stdin.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let step = nix::poll::PollTimeout::from(
            ms.min(u16::try_from(left.as_millis()).unwrap_or(u16::MAX)),
        );
        match nix::poll::poll(&mut fds, step) {
            Ok(0) => continue,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// One app of a root that was set up, for one request.
pub(super) struct Ctx<'a> {
    pub server: &'a ServerConfig,
    pub layout: Layout,
    pub app: AppLayout,
    /// Who asks (what a lock held for them says).
    pub by: &'a str,
    pub em: &'a Emitter,
    /// One host of a fleet deploy: where the CLI's word comes from at each phase.
    gate: Option<std::cell::RefCell<&'a mut dyn std::io::BufRead>>,
    /// Putting back what an interrupted deploy left is this host's own business: no phase
    /// of the fleet's is reached meanwhile.
    recovering: std::cell::Cell<bool>,
}

impl<'a> Ctx<'a> {
    /// For an app of a root already checked (or to be created there).
    pub fn new(
        server: &'a ServerConfig,
        layout: Layout,
        name: &str,
        by: &'a str,
        em: &'a Emitter,
    ) -> Ctx<'a> {
        let app = layout.app(name);
        Ctx {
            server,
            layout,
            app,
            by,
            em,
            gate: None,
            recovering: Default::default(),
        }
    }

    /// Makes this one host of a fleet-wide switch: at each [`Phase`] it waits for the CLI's
    /// word, read from `input`.
    pub fn gate_on(&mut self, input: &'a mut dyn std::io::BufRead) {
        self.gate = Some(std::cell::RefCell::new(input));
    }

    /// `phase` is reached with `release`: alone, go on; one host of a fleet, say so and wait
    /// for the CLI's word. No word (the CLI went away) is a no.
    pub fn pass(&self, phase: Phase, release: &str) -> bool {
        let Some(input) = &self.gate else {
            return true;
        };
        if self.recovering.get() {
            return true;
        }
        self.em.send(&Event::Ready {
            phase,
            release: release.to_string(),
        });
        // A CLI that went silent (a laptop asleep, a network cut) must not hold this host's
        // lock, and a half-switched host, for hours: past the wait, the word is no.
        if !stdin_ready(GATE_WAIT[usize::from(phase == Phase::Switched)]) {
            return false;
        }
        let mut line = String::new();
        match input.borrow_mut().read_line(&mut line) {
            Ok(n) if n > 0 => serde_json::from_str::<Go>(&line).is_ok_and(|g| g.go),
            _ => false,
        }
    }

    /// What a host that was told not to go on at `phase` reports.
    pub fn held_back(&self, phase: Phase) -> RemoteError {
        let what = match phase {
            Phase::Prepared => "the other hosts did not all get ready: nothing switched here",
            Phase::Switched => {
                "the environment's check failed after the switch: the previous release is back here"
            }
        };
        RemoteError::new("switch", what).kind(ErrorKind::HeldBack)
    }

    /// A deployed app (see [`find_app`]).
    pub fn find(
        server: &'a ServerConfig,
        name: &str,
        step: &str,
        by: &'a str,
        em: &'a Emitter,
    ) -> Result<Ctx<'a>, RemoteError> {
        let (layout, app) = find_app(server, name, step)?;
        Ok(Ctx {
            server,
            layout,
            app,
            by,
            em,
            gate: None,
            recovering: Default::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.app.name
    }

    /// The user (and group) the app runs as, when the agent drops to one.
    pub fn user(&self, step: &str) -> Result<Option<(User, Group)>, RemoteError> {
        crate::identity::of_server(self.server)
            .map_err(|e| RemoteError::new(step, format!("{e:#}")))
    }

    /// The sandbox the app's code runs in; errors are reported as `step`.
    pub fn sandbox(&self, step: &str) -> Result<Sandbox, RemoteError> {
        sandbox(self.server, &self.layout, step)
    }

    /// The app's deploy lock: one push, promote, rollback or destroy of an app at a time.
    /// Waits up to `wait_secs` (telling the CLI who holds it), else names the holder.
    pub fn lock(&self, what: String, wait_secs: u64) -> Result<Lock, RemoteError> {
        let me = LockHolder {
            by: self.by.to_string(),
            pid: std::process::id(),
            since: release::utc_now(),
            what,
        };
        let path = self.layout.app_lock(self.name());
        let waited = Lock::acquire(&path, &me, Duration::from_secs(wait_secs), |h| {
            if let Some(h) = h {
                self.em.send(&Event::Waiting { holder: h.clone() });
            }
        });
        match waited.map_err(internal("lock"))? {
            Acquire::Got(l) => Ok(l),
            Acquire::Held(holder) => {
                let who = holder
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "another deploy".into());
                Err(RemoteError::new(
                    "lock",
                    format!("{} is being deployed by {who}", self.name()),
                )
                .hint("wait for it to finish, or pass --lock-wait <seconds> to queue behind it")
                .kind(ErrorKind::Locked))
            }
        }
    }

    /// Points `current` at release `id` and has the app's workers load it (a chain reload:
    /// an app that scales to zero; awake apps switch blue/green, see switch.rs).
    pub fn switch_to(&self, id: &str) -> anyhow::Result<emperor::Reload> {
        release::make_current(&self.app, id)?;
        emperor::reload(&self.app, self.server)
    }

    /// A deploy that died between switching `current` and its verdict (agent killed, machine
    /// rebooted) left `current` on a `pending` release: put the last good one back first.
    pub fn recover_interrupted(&self) {
        self.recovering.set(true);
        self.recover();
        // Instances a dead deploy held back (staged, or withdrawn) next to the live one.
        if emperor::tidy(&self.app) {
            emperor::rescan(&self.layout);
        }
        self.recovering.set(false);
    }

    fn recover(&self) {
        let Some(mut cur) = release::current(&self.app) else {
            return;
        };
        if cur.state != ReleaseState::Pending {
            return;
        }
        cur.state = ReleaseState::Failed;
        let _ = release::write_meta(&self.app.release(&cur.id), &cur);
        if let Some(good) = release::list(&self.app)
            .into_iter()
            .rev()
            .find(|r| r.state == ReleaseState::Ok)
        {
            self.em.warn(format!(
                "an interrupted deploy left {} on release {}; switching back to {}",
                self.name(),
                cur.id,
                good.id
            ));
            if self.blue_green() {
                let _ = self.bring_up(&good.id, &good.health_path, Duration::from_secs(60));
            } else {
                let _ = self.switch_to(&good.id);
            }
        }
    }

    /// Puts `previous` back (or stops the app when there was none). True when it serves again.
    pub fn restore(&self, previous: Option<&ReleaseMeta>, timeout: Duration) -> bool {
        let Some(prev) = previous else {
            let _ = emperor::dismiss(&self.app, &self.layout);
            let _ = std::fs::remove_file(self.app.current());
            return false;
        };
        self.em.warn(format!("rolling back to {}", prev.id));
        if self.blue_green() {
            return self.bring_up(&prev.id, &prev.health_path, timeout).is_ok();
        }
        if self.switch_to(&prev.id).is_err() {
            return false;
        }
        self.wait_live(&prev.health_path, &prev.id, None, timeout)
            .is_ok()
    }

    /// Reloads the app and waits until every worker runs `current` again (a restart, an
    /// environment change): its steps `reload` and `health check`.
    pub fn restart(&self, current: &ReleaseMeta) -> Result<(), RemoteError> {
        if self.blue_green() {
            // A new instance of the same release, swapped in: no worker cycles waited on.
            return self
                .replace(
                    &current.id,
                    &current.health_path,
                    Duration::from_secs(60),
                    "reload",
                )
                .map(|_| ());
        }
        let asked = SystemTime::now();
        self.em.step("reload", || {
            let how = emperor::reload(&self.app, self.server)
                .map_err(|e| RemoteError::new("restart", format!("{e:#}")))?;
            Ok(((), Some(format!("{how:?}").to_lowercase())))
        })?;
        self.em.step("health check", || {
            let status = self
                .wait_live(
                    &current.health_path,
                    &current.id,
                    Some(asked),
                    Duration::from_secs(60),
                )
                .map_err(|last| {
                    RemoteError::new(
                        "health check",
                        format!("{} did not come back healthy: {last}", self.name()),
                    )
                    .log_tail(crate::fsafe::tail(&self.app.log(), 20))
                })?;
            Ok(((), Some(format!("HTTP {status}"))))
        })
    }

    /// Waits until `release` answers healthy through the router *and* every worker of the app
    /// has loaded it. A chain reload asked for while another one runs can be swallowed, so the
    /// reload is asked for again while old workers remain. The error is the last thing seen.
    pub fn wait_live(
        &self,
        path: &str,
        release: &str,
        // Only workers started after this count (a restart keeps the release id).
        since: Option<SystemTime>,
        timeout: Duration,
    ) -> Result<u16, String> {
        let (app, server) = (&self.app, self.server);
        let addr = health::local_addr(&server.listen).map_err(|e| e.to_string())?;
        let host = server.app_host(&app.name);
        let mut kicked = Instant::now();
        let fresh = |pid: &i32| {
            since.is_none_or(|t| {
                std::fs::symlink_metadata(app.worker(*pid))
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= t)
            })
        };
        let behind = || {
            emperor::workers(app)
                .iter()
                .any(|(p, r)| r != release || !fresh(p))
        };
        let mut waker = emperor::Waker::new(app);
        let every = Duration::from_millis(25);
        health::poll(timeout, every, Some(health::UNHEALTHY_GRACE), || {
            let res = health::get(addr, &host, path, Duration::from_secs(10));
            let look = match health::look(&res, path, release) {
                health::Poll::Ready(status) => {
                    let workers = emperor::workers(app);
                    let all = workers.len() >= server.processes.max(2) as usize
                        && workers.iter().all(|(p, r)| r == release && fresh(p));
                    if all {
                        return health::Poll::Ready(status);
                    }
                    health::Poll::Waiting(format!("workers still on older releases: {workers:?}"))
                }
                other => other,
            };
            if kicked.elapsed() > Duration::from_secs(3) && behind() {
                let _ = emperor::reload(app, server);
                kicked = Instant::now();
            }
            // Old workers left: nudge the master on to the next one (no wait for its loop).
            if behind() {
                waker.wake(app);
            }
            look
        })
    }
}

/// The environment `app`'s code runs in with release `meta` and the venv in `venv_dir`, as
/// its workers see it.
pub(super) fn app_environment(
    app: &AppLayout,
    meta: &ReleaseMeta,
    venv_dir: &Path,
) -> BTreeMap<String, String> {
    // Nothing of the agent's own environment (root's shell, ssh's variables) but these.
    let mut env: BTreeMap<String, String> = ["PATH", "LANG", "LC_ALL", "TERM", "TZ"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.extend(meta.env.clone());
    if let Ok(b) = crate::fsafe::read(&app.env_file(), 1 << 20)
        && let Ok(own) = serde_json::from_slice::<BTreeMap<String, String>>(&b)
    {
        env.extend(own);
    }
    env.insert("JIB_RELEASE".into(), meta.id.clone());
    env.insert("JIB_COMMIT".into(), meta.commit.clone());
    env.insert("VIRTUAL_ENV".into(), venv_dir.display().to_string());
    let path = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    env.insert(
        "PATH".into(),
        format!("{}:{path}", venv_dir.join("bin").display()),
    );
    env.remove("PYTHONHOME");
    env
}
