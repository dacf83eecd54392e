//! The server side: `jib-agent <verb>` reads one [`Request`] from stdin and answers with JSON
//! lines of [`Event`]; `jib-agent serve` supervises the emperor and the router.

pub mod apps;
pub mod ctl;
pub mod deploy;
pub mod doctor;
pub mod exec;
mod pipeline;
pub mod promote;
pub mod serve;
pub mod setup;

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::layout::Layout;
use crate::protocol::{AuditEntry, EnvOp, Envelope, Event, RemoteError, Reply, Request};

/// Writes events to stdout (and, for deploys, to the app's deploy log).
pub struct Emitter {
    log: Mutex<Option<std::fs::File>>,
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Emitter {
    pub fn new() -> Self {
        Emitter {
            log: Mutex::new(None),
        }
    }

    /// Also append a human-readable copy of each event to `path`.
    pub fn tee(&self, path: &Path) {
        // In the app's log directory, which its user can write: no links, no FIFOs.
        let f = crate::fsafe::open_append(path, 0o640).ok();
        if let Ok(mut l) = self.log.lock() {
            *l = f;
        }
    }

    pub fn send(&self, ev: &Event) {
        if std::env::var_os("JIB_HUMAN").is_some() {
            // An administrator running `jib setup --root-script`'s script reads this.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", describe(ev));
        } else if let Ok(line) = serde_json::to_string(ev) {
            let mut out = std::io::stdout().lock();
            // The CLI may be gone (connection lost); the deploy still finishes consistently.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Ok(mut guard) = self.log.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{} {}", crate::release::utc_now(), describe(ev));
        }
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.send(&Event::Warning {
            message: message.into(),
        });
    }

    /// Runs one named step, reporting its start and duration.
    pub fn step<T>(
        &self,
        name: &str,
        f: impl FnOnce() -> Result<(T, Option<String>), RemoteError>,
    ) -> Result<T, RemoteError> {
        self.send(&Event::StepStarted { step: name.into() });
        let t = Instant::now();
        let (v, detail) = f()?;
        self.send(&Event::StepDone {
            step: name.into(),
            ms: t.elapsed().as_millis() as u64,
            detail,
        });
        Ok(v)
    }
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::StepStarted { step } => format!("{step} …"),
        Event::StepDone { step, ms, detail } => {
            format!(
                "{step} done in {ms} ms{}",
                detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        }
        Event::Warning { message } => format!("warning: {message}"),
        Event::Waiting { holder } => format!("waiting for {holder}"),
        Event::Hello { version } => format!("hello from {version}"),
        Event::Log { line } => line.clone(),
        Event::NeedObjects { have } => {
            format!("asking for objects (server has {} commits)", have.len())
        }
        Event::Done { result } => format!(
            "done: {}",
            serde_json::to_string(result).unwrap_or_default()
        ),
        Event::Failed { error } => format!(
            "FAILED: {error}{}",
            error
                .log_tail
                .iter()
                .map(|l| format!("\n    {l}"))
                .collect::<String>()
        ),
    }
}

/// The audit entry for a request that changes something (`None` for reads), completed by
/// [`record`] once the result is known.
fn audit_start(req: &Request, by: &str) -> Option<(Layout, AuditEntry)> {
    let (server, app) = req.audited()?;
    let (action, branch, commit, from) = match req {
        Request::Deploy(d) => ("push", d.branch.clone(), d.commit.clone(), None),
        Request::Promote(p) => (
            "promote",
            p.artifact.branch.clone(),
            p.artifact.commit.clone(),
            Some(format!(
                "{}/{}@{}",
                p.from_env, p.artifact.app, p.artifact.release
            )),
        ),
        Request::Rollback { .. } => ("rollback", String::new(), String::new(), None),
        Request::Restart { .. } => ("restart", String::new(), String::new(), None),
        Request::Destroy { .. } => ("destroy", String::new(), String::new(), None),
        Request::Env { op, .. } => (
            match op {
                EnvOp::Unset { .. } => "env unset",
                _ => "env set",
            },
            String::new(),
            String::new(),
            None,
        ),
        _ => return None,
    };
    let layout = Layout::new(&server.root);
    // Only roots that were set up get a trail (never create directories for a bad request).
    layout.state().is_dir().then(|| {
        (
            layout,
            AuditEntry {
                time: crate::release::utc_now(),
                by: by.to_string(),
                action: action.into(),
                app: app.to_string(),
                branch,
                from,
                commit,
                release: String::new(),
                result: String::new(),
                error: None,
                ms: 0,
            },
        )
    })
}

fn record(
    (layout, mut entry): (Layout, AuditEntry),
    result: &Result<Reply, RemoteError>,
    started: Instant,
) {
    entry.ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(r) => {
            entry.result = "ok".into();
            match r {
                Reply::Deploy {
                    release,
                    commit,
                    unchanged,
                    ..
                } => {
                    entry.release = release.clone();
                    entry.commit = commit.clone();
                    if *unchanged {
                        entry.result = "unchanged".into();
                    }
                }
                Reply::Promote { release, .. } | Reply::Restart { release, .. } => {
                    entry.release = release.clone()
                }
                Reply::Rollback {
                    to, commit, from, ..
                } => {
                    entry.release = to.clone();
                    entry.commit = commit.clone();
                    entry.from = Some(from.clone());
                }
                _ => {}
            }
        }
        Err(e) => {
            entry.result = "failed".into();
            entry.error = Some(e.to_string());
        }
    }
    if entry.branch.is_empty()
        && let Some(cur) = crate::release::current(&layout.app(&entry.app))
    {
        entry.branch = cur.branch;
        if entry.commit.is_empty() {
            entry.commit = cur.commit;
        }
    }
    let _ = crate::audit::append(&layout, &entry);
}

/// What only root may ask for: `setup` writes what root runs (the nginx site, the systemd
/// unit, the agent itself), so a user may only re-run one that would change nothing.
fn peer_may(req: &Request, peer: &ctl::Peer) -> Result<(), RemoteError> {
    let Request::Setup { server, .. } = req else {
        return Ok(());
    };
    let layout = Layout::new(&server.root);
    let current = setup::running_serve(&layout).is_some_and(|info| {
        info.version == crate::protocol::version_line() && &info.config == server
    });
    if current {
        return Ok(());
    }
    Err(RemoteError::new(
        "setup",
        format!(
            "{} may deploy here, but changing the environment (or upgrading the agent) needs root",
            peer.user
        ),
    )
    .hint("run `jib setup` again: it asks to use sudo, or prints a script for an administrator (`jib setup --root-script`)")
    .kind(crate::protocol::ErrorKind::NeedsRoot))
}

/// `jib-agent <verb>`: one request in, events out. Exit status 0 on success, 1 on failure.
pub fn run_verb(verb: &str) -> Result<i32> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    input.read_line(&mut line).context("reading the request")?;
    let em = Emitter::new();
    let me = crate::protocol::version_line();
    em.send(&Event::Hello {
        version: me.clone(),
    });
    let env = match Envelope::accept(&line) {
        Ok(e) => e,
        Err(error) => {
            em.send(&Event::Failed { error });
            return Ok(3);
        }
    };
    let req = env.request;
    if req.verb() != verb {
        bail!("request for {:?} sent to `jib-agent {verb}`", req.verb());
    }
    // A call serve runs for an unprivileged user: only within its root, never as root.
    let peer = ctl::Peer::current();
    let by = match &peer {
        Some(p) => format!("{} [{}]", env.by, p.user),
        None => env.by,
    };
    if let Some(p) = &peer
        && let Err(e) = p.check(req.server()).and_then(|()| peer_may(&req, p))
    {
        em.send(&Event::Failed { error: e });
        return Ok(1);
    }
    // Everything a user's call acts on is the environment root set up, never the request's
    // own idea of it (doctor would run its nginx command): setup itself was checked above.
    if peer.is_some()
        && !matches!(req, Request::Setup { .. })
        && let Err(e) = deploy::check_server(req.server())
    {
        em.send(&Event::Failed { error: e });
        return Ok(1);
    }
    let started = Instant::now();
    let audit = audit_start(&req, &by);
    let result: Result<Reply, RemoteError> = match req {
        Request::Setup {
            server,
            install_deps,
            grant,
        } => setup::setup(&server, install_deps, grant.as_deref(), &em),
        Request::Deploy(d) => deploy::deploy(*d, &mut input, &em),
        Request::List { server } => apps::list(&server),
        Request::Status { server, app } => apps::status(&server, &app),
        Request::Restart { server, app } => apps::restart(&server, &app, &em),
        Request::Logs {
            server,
            app,
            lines,
            follow,
            deploy,
            process,
        } => apps::logs(&server, &app, lines, follow, deploy, process.as_ref(), &em),
        Request::Env {
            server,
            app,
            op,
            restart,
        } => apps::env(&server, &app, op, restart, &em),
        Request::Destroy {
            server,
            app,
            drop_db,
        } => apps::destroy(&server, &app, drop_db.as_ref(), &by, &em),
        Request::Stash { server, exec } => {
            exec::stash(&server, *exec, &by, peer.as_ref().map(|p| p.user.as_str()))
        }
        Request::Exec { .. } => Err(RemoteError::new(
            "exec",
            "exec is its own verb: `jib-agent exec`",
        )),
        Request::Artifact { server, app } => promote::artifact(&server, &app),
        Request::Promote(p) => promote::promote(*p, &mut input, &em),
        Request::Rollback {
            server,
            app,
            to,
            lock_wait_secs,
            health_timeout_secs,
        } => promote::rollback(
            &server,
            &app,
            to.as_deref(),
            &by,
            lock_wait_secs,
            std::time::Duration::from_secs(health_timeout_secs.max(1)),
            &em,
        ),
        Request::Audit { server, lines } => promote::audit(&server, lines),
        Request::Doctor { server, python } => Ok(doctor::doctor(&server, &python)),
    };
    if let Some(entry) = audit {
        record(entry, &result, started);
    }
    Ok(match result {
        Ok(r) => {
            em.send(&Event::Done { result: r });
            0
        }
        Err(e) => {
            em.send(&Event::Failed { error: e });
            1
        }
    })
}
