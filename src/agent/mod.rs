//! The server side: `jib-agent <verb>` reads one [`Request`] from stdin and answers with JSON
//! lines of [`Event`]; `jib-agent serve` supervises the emperor and the router.
//!
//! Each verb is a file of its own, handed a `ctx::Ctx` (or the checked server) built here;
//! push and promote share `pipeline` (and `activate`), everything else `ctx`.

mod activate;
mod artifact;
mod audit;
pub mod ctl;
mod ctx;
mod deploy;
mod destroy;
mod doctor;
mod emit;
mod env;
pub mod exec;
mod join;
mod list;
mod logs;
mod objects;
mod pipeline;
mod promote;
mod restart;
mod rollback;
pub mod serve;
mod setup;
mod stash;
mod status;
mod switch;

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use ctx::Ctx;
use emit::Emitter;

use crate::layout::Layout;
use crate::protocol::{Envelope, ErrorKind, Event, RemoteError, Reply, Request};

/// `jib-agent <verb>`: one request in, events out. Exit status 0 on success, 1 on failure.
pub fn run_verb(verb: &str) -> Result<i32> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    input.read_line(&mut line).context("reading the request")?;
    let em = Emitter::new();
    emit::verb_started();
    em.send(&Event::Hello {
        version: crate::protocol::version_line(),
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
    if let Err(e) = admit(&req, peer.as_ref()) {
        em.send(&Event::Failed { error: e });
        return Ok(1);
    }
    crate::failpoint::arm(
        Layout::new(&req.server().root).state().join("failpoints"),
        verb,
    );
    let trail = audit::Trail::start(&req, &by);
    let result = dispatch(req, &mut input, &by, peer.as_ref(), &em);
    crate::failpoint::hit("reply");
    if let Some(t) = trail {
        t.record(&result);
    }
    let code = match result {
        Ok(r) => {
            em.send(&Event::Done {
                result: Box::new(r),
            });
            0
        }
        Err(e) => {
            em.send(&Event::Failed { error: e });
            1
        }
    };
    emit::finish_after_reply();
    Ok(code)
}

/// Runs the verb `req` asks for.
fn dispatch(
    req: Request,
    input: &mut dyn BufRead,
    by: &str,
    peer: Option<&ctl::Peer>,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    // The deployed app a verb acts on; a missing one is reported as the verb's failure.
    let app = |server, name, verb| Ctx::find(server, name, verb, by, em);
    match req {
        Request::Setup {
            server,
            install_deps,
            grant,
            fleet,
        } => setup::setup(&server, install_deps, grant.as_deref(), fleet.as_ref(), em),
        Request::Join { server, export_key } => join::join(&server, export_key),
        Request::Route {
            server,
            app: name,
            path,
            releases,
            timeout_secs,
        } => join::route(&server, &name, &path, &releases, timeout_secs),
        Request::Deploy(d) => deploy::deploy(*d, input, em),
        Request::Promote(p) => promote::promote(*p, input, em),
        Request::List { server } => list::list(&server),
        Request::Status { server, app: name } => status::status(&app(&server, &name, "status")?),
        Request::Restart { server, app: name } => {
            restart::restart(&app(&server, &name, "restart")?)
        }
        Request::Logs {
            server,
            app: name,
            lines,
            follow,
            deploy,
            process,
        } => logs::logs(
            &app(&server, &name, "logs")?,
            lines,
            follow,
            deploy,
            process.as_ref(),
        ),
        Request::Env {
            server,
            app: name,
            op,
            restart,
        } => env::env(&server, &name, op, restart, by, em),
        Request::Destroy {
            server,
            app: name,
            drop_db,
        } => destroy::destroy(&app(&server, &name, "destroy")?, drop_db.as_ref()),
        Request::Stash { server, exec } => {
            stash::stash(&server, *exec, by, peer.map(|p| p.user.as_str()))
        }
        Request::Exec { .. } => Err(RemoteError::new(
            "exec",
            "exec is its own verb: `jib-agent exec`",
        )),
        Request::Artifact { server, app: name } => {
            artifact::artifact(&app(&server, &name, "artifact")?)
        }
        Request::Rollback {
            server,
            app: name,
            to,
            lock_wait_secs,
            health_timeout_secs,
            gated,
        } => {
            let mut ctx = app(&server, &name, "rollback")?;
            if gated {
                ctx.gate_on(input);
            }
            rollback::rollback(
                &ctx,
                to.as_deref(),
                lock_wait_secs,
                Duration::from_secs(health_timeout_secs.max(1)),
            )
        }
        Request::Audit { server, lines } => audit::audit(&server, lines),
        Request::Doctor { server, python } => Ok(doctor::doctor(&server, &python)),
    }
}

/// What a call serve runs for an unprivileged user may ask for: its own root only, apps
/// that never run as root, and everything acting on the environment root set up (never the
/// request's own idea of it: doctor would run its nginx command) — `setup` aside, which
/// writes what root runs, so a user may only re-run one that would change nothing.
fn admit(req: &Request, peer: Option<&ctl::Peer>) -> Result<(), RemoteError> {
    let Some(peer) = peer else {
        return Ok(());
    };
    peer.check(req.server())?;
    // A fleet's keys and firewall are root's alone: handing out the subscription key, or
    // choosing which machines may announce (or reach the apps' sockets), is taking over the
    // environment's traffic.
    let fleet_secret = matches!(
        req,
        Request::Join {
            export_key: true,
            ..
        } | Request::Setup { fleet: Some(_), .. }
    );
    if fleet_secret {
        return Err(RemoteError::new(
            req.verb(),
            format!(
                "{} may deploy here, but a fleet's keys and firewall need root",
                peer.user
            ),
        )
        .hint("run `jib setup` for this environment as root over ssh")
        .kind(ErrorKind::NeedsRoot));
    }
    let Request::Setup { server, .. } = req else {
        return ctx::check_server(req.server()).map(|_| ());
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
    .kind(ErrorKind::NeedsRoot))
}
