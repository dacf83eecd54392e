//! Talking to the environment's agent: one request with its progress rendered ([`call`],
//! [`send`]), a command handed the terminal ([`exec`]), and how a failed call becomes a message
//! and an exit code ([`call_failure`]).

use std::collections::BTreeMap;

use super::ui::{self, Progress};
use super::{Exited, Failure, Project, exit};
use crate::protocol::{ErrorKind, ExecCommand, Reply, Request};
use crate::transport::{CallError, Remote};

/// One request to the environment's agent: connect (or reuse the master), send, render its
/// progress (not when the command's output is `data`, see [`Progress::new`]), close.
pub async fn call(project: &Project, req: Request, data: bool) -> Result<Reply, Failure> {
    let t = std::time::Instant::now();
    let remote = project.connect().await?;
    ui::debug(&format!(
        "connected to {} in {}",
        remote.host,
        ui::format_ms(t.elapsed().as_millis() as u64)
    ));
    let mut progress = Progress::new(data);
    send(remote, &req, &mut progress, |_| Ok(Vec::new())).await
}

/// Sends `req` over `remote` and closes it, rendering the agent's events on `progress`; when
/// the agent asks for objects, `objects` packs what the server lacks.
pub async fn send(
    remote: Remote,
    req: &Request,
    progress: &mut Progress,
    objects: impl FnMut(&[String]) -> anyhow::Result<Vec<u8>>,
) -> Result<Reply, Failure> {
    let reply = remote.call(req, |ev| progress.event(ev), objects).await;
    progress.clear();
    ui::debug(&remote.route());
    let host = remote.host.clone();
    remote.close().await;
    reply.map_err(|e| call_failure(&host, e))
}

/// Runs `command` in `app`'s environment on the server, with `env` added to its variables, on
/// our terminal (`tty`) or our stdin/stdout/stderr; its exit status is what jib exits with.
pub async fn exec(
    project: &Project,
    app: &str,
    command: ExecCommand,
    tty: bool,
    env: BTreeMap<String, String>,
) -> Result<Exited, Failure> {
    let remote = project.connect().await?;
    let req = Request::Exec {
        server: project.server.clone(),
        app: app.to_string(),
        command,
        env,
    };
    let code = if tty {
        // The terminal belongs to the command: check the agent first, then hand over.
        match remote.ensure_agent().await {
            Ok(_) => remote.exec_tty(&req).await,
            Err(e) => Err(CallError::Transport(e)),
        }
    } else {
        remote.exec_piped(&req).await
    };
    let host = remote.host.clone();
    remote.close().await;
    code.map(Exited).map_err(|e| call_failure(&host, e))
}

/// Maps an agent call failure to the exit code and message it deserves.
pub fn call_failure(host: &str, e: CallError) -> Failure {
    match e {
        CallError::Remote(r) => {
            let code = if r.kind == ErrorKind::Locked {
                exit::LOCKED
            } else {
                exit::REMOTE
            };
            Failure {
                code,
                error: anyhow::Error::new(ui::RemoteFailure {
                    host: host.to_string(),
                    error: r,
                }),
            }
        }
        CallError::Transport(t) => Failure {
            code: exit::CONNECTION,
            error: t,
        },
    }
}
