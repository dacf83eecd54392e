//! How `jib` reaches `jib-agent`: over one OpenSSH master connection per host (the system `ssh`,
//! so ssh_config, agent, ProxyJump and known_hosts all apply), or as a local child process in
//! local mode. Every request is `jib-agent <verb>` with JSON on stdin; nothing user-supplied is
//! ever joined into a shell string.

use std::path::{Path, PathBuf};
use std::process::Stdio as StdStdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::protocol::{self, Envelope, Event, PackHeader, RemoteError, Reply, Request};

/// Environment variable naming an ssh_config file to use instead of `~/.ssh/config`.
pub const SSH_CONFIG_ENV: &str = "JIB_SSH_CONFIG";
/// Environment variable naming the `jib-agent` binary to install (default: next to `jib`).
pub const AGENT_BINARY_ENV: &str = "JIB_AGENT_BINARY";

pub struct Remote {
    /// What the user wrote in deploy.toml (`dev`, `deploy@host:2222`, `local`), for messages.
    pub host: String,
    /// The master connection; `None` in local mode (and only there: ssh mode never falls back
    /// to running the agent here). Replaceable, for a master that dies under a command.
    session: Option<std::sync::Mutex<Arc<openssh::Session>>>,
    /// A fresh master replaced one that died under this command: once per command, no more.
    revived: AtomicBool,
    agent: PathBuf,
    /// Who is asking, sent with every request for the server's audit log.
    pub by: String,
    /// serve's control socket, forwarded through the master to a local socket: `None` until
    /// tried, then where it is, or `Some(None)` when it is not to be had.
    fast: std::sync::Mutex<Option<Option<PathBuf>>>,
}

/// Environment variable: `0` runs every verb as `jib-agent <verb>` over ssh, never through
/// serve's forwarded control socket.
pub const VIA_SERVE_ENV: &str = "JIB_VIA_SERVE";

/// Verbs worth sending through serve when it is there: not setup (it restarts serve), not
/// doctor (it checks the ssh path itself), not exec (its streams are the command's).
fn streamable(verb: &str) -> bool {
    !matches!(verb, "setup" | "doctor" | "exec")
}

/// A fleet-wide switch's coordinator: told that one host reached `phase` with `release`,
/// it answers (once every host is there, or one has failed) whether that host goes on.
pub trait Gate: Sync {
    fn reached<'a>(
        &'a self,
        phase: protocol::Phase,
        release: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

/// Why a call failed: the agent reported a failure, or we could not talk to it.
#[derive(Debug)]
pub enum CallError {
    Remote(RemoteError),
    Transport(anyhow::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Remote(e) => e.fmt(f),
            CallError::Transport(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for CallError {}

/// `user@host:port` is not something `ssh` itself accepts; the URL form is.
fn ssh_destination(host: &str) -> String {
    if host.starts_with("ssh://") {
        return host.to_string();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok() && !h.contains(':') => {
            format!("ssh://{h}:{port}")
        }
        _ => host.to_string(),
    }
}

/// The `jib-agent` binary shipped with this `jib`.
pub fn local_agent_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(AGENT_BINARY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot locate the jib executable")?;
    let agent = exe.with_file_name("jib-agent");
    if !agent.exists() {
        bail!(
            "jib-agent is not installed next to {} — reinstall jib (cargo install builds both binaries) or set {AGENT_BINARY_ENV}",
            exe.display()
        );
    }
    Ok(agent)
}

impl Remote {
    /// Opens the master connection (or nothing, in local mode). `agent` is where the agent
    /// binary lives on that host.
    pub async fn connect(host: &str, agent: PathBuf) -> Result<Remote> {
        if host == crate::config::LOCAL_HOST {
            return Ok(Remote::with(host, None, agent));
        }
        let dir = control_dir();
        // Before anything in it is read: a directory someone else made could hand us their
        // own master connection (no host key check, and they see all we send).
        create_private_dir(&dir)?;
        // A master left by a recent jib run for this host: reuse it (no new handshake).
        let pointer = master_pointer(&dir, host);
        if persist_secs() > 0
            && let Ok(ctl) = std::fs::read_to_string(&pointer)
            && let Some(ctl) = master_in(&dir, ctl.trim())
        {
            let session = openssh::Session::resume(ctl.clone().into_boxed_path(), None);
            // A master that does not answer (stopped, or its TCP connection half-dead after
            // sleep or a network change) would hang every command: it goes, and a fresh one
            // is started.
            let alive = tokio::time::timeout(answer_deadline(), session.check()).await;
            if matches!(alive, Ok(Ok(()))) {
                return Ok(Remote::with(host, Some(session), agent));
            }
            // Whatever is wrong with it, it is no use: never leave it around (stopped, it
            // would hold its socket and the ssh connection forever).
            drop_master(&ctl);
            let _ = std::fs::remove_file(&pointer);
        }
        let session = launch_master(host, &dir).await?;
        Ok(Remote::with(host, Some(session), agent))
    }

    fn with(host: &str, session: Option<openssh::Session>, agent: PathBuf) -> Remote {
        Remote {
            host: host.to_string(),
            session: session.map(|s| std::sync::Mutex::new(Arc::new(s))),
            revived: AtomicBool::new(false),
            agent,
            by: crate::git::local_user(),
            fast: Default::default(),
        }
    }

    /// The current master connection (`None`: local mode). Each attempt takes it anew: a
    /// retry runs over the fresh master that replaced a dead one.
    fn ssh(&self) -> Option<Arc<openssh::Session>> {
        self.session
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Whether the master connection answers `ssh -O check` (local mode: there is none to lose).
    async fn master_answers(&self) -> bool {
        let Some(s) = self.ssh() else { return true };
        matches!(
            tokio::time::timeout(answer_deadline(), s.check()).await,
            Ok(Ok(()))
        )
    }

    /// Replaces a master that died under this command with a fresh one: the dead one is ended
    /// for good (by pid: a stopped one would hold its socket), the fresh one gets the
    /// `.master` pointer, and serve's socket is forwarded anew through it when next wanted.
    async fn reconnect(&self) -> Result<()> {
        let Some(cell) = &self.session else {
            return Ok(());
        };
        self.drop_master();
        let dir = control_dir();
        create_private_dir(&dir)?;
        let fresh = Arc::new(launch_master(&self.host, &dir).await?);
        // The old session goes here; in non-persistent mode its drop asks the (dead) master
        // to exit and removes its directory.
        *cell.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        *self.fast.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    /// Runs `attempt`, and once more over a fresh master when it ended with nothing run on
    /// the host (`nothing_ran`) because the master connection is gone: a ControlPersist
    /// expiry racing this command's mux client, a killed master. A master that answers means
    /// the failure is not the connection's: the result stands (a missing agent, say). One
    /// fresh master per command; a second lost one is reported as such, never taken for a
    /// missing agent. `nothing_ran` must be false once the agent's hello came back: the
    /// request may have run, and is never sent twice.
    async fn on_live_master<T>(
        &self,
        what: &str,
        mut attempt: impl AsyncFnMut() -> T,
        nothing_ran: impl Fn(&T) -> bool,
    ) -> Result<T> {
        let first = attempt().await;
        if !nothing_ran(&first) || self.master_answers().await {
            return Ok(first);
        }
        if self.revived.swap(true, Ordering::Relaxed) {
            return Err(self.lost_again(what));
        }
        self.reconnect().await.with_context(|| {
            format!(
                "the ssh connection to {} was lost before {what} started; a fresh connection was tried",
                self.host
            )
        })?;
        let again = attempt().await;
        if nothing_ran(&again) && !self.master_answers().await {
            return Err(self.lost_again(what));
        }
        Ok(again)
    }

    fn lost_again(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "the ssh connection to {host} was lost before {what} started, and again on a fresh \
             connection\n  try: {try_ssh}",
            host = self.host,
            try_ssh = try_ssh(&self.host)
        )
    }

    /// Installs this jib's agent unless the host already runs exactly this version.
    /// Returns true when it had to install.
    pub async fn ensure_agent(&self) -> Result<bool> {
        if self.agent_version().await?.as_deref() == Some(protocol::version_line().as_str()) {
            return Ok(false);
        }
        self.install_matching_agent().await?;
        Ok(true)
    }

    async fn install_matching_agent(&self) -> Result<()> {
        let want = protocol::version_line();
        let local = local_agent_binary()?;
        let bytes = std::fs::read(&local)
            .with_context(|| format!("cannot read the agent binary {}", local.display()))?;
        self.install_agent(&bytes).await?;
        match self.agent_version().await? {
            Some(v) if v == want => Ok(()),
            Some(v) => bail!(
                "installed jib-agent on {} but it reports {v:?}, not {want:?}",
                self.host
            ),
            None => bail!(
                "installed jib-agent on {} at {} but it does not run there; the server may have another \
                 CPU architecture or libc: build jib-agent for it and point {AGENT_BINARY_ENV} at that binary",
                self.host,
                self.agent.display()
            ),
        }
    }

    /// Whether the installed agent is exactly this jib's.
    pub async fn agent_matches(&self) -> bool {
        matches!(self.agent_version().await, Ok(Some(v)) if v == protocol::version_line())
    }

    /// What the installed agent says it is; `None` when it does not run (or is not there).
    /// An error only when the connection is lost for good.
    async fn agent_version(&self) -> Result<Option<String>> {
        let out = match self.ssh() {
            Some(_) => {
                let run = async || match self.ssh() {
                    Some(s) => s
                        .arc_command(self.agent_str())
                        .arg("--version")
                        .output()
                        .await
                        .ok(),
                    None => None,
                };
                self.on_live_master("jib-agent --version", run, Option::is_none)
                    .await?
            }
            None => tokio::process::Command::new(&self.agent)
                .arg("--version")
                .output()
                .await
                .ok(),
        };
        Ok(out.and_then(|out| {
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        }))
    }

    fn agent_str(&self) -> String {
        self.agent.to_string_lossy().into_owned()
    }

    async fn install_agent(&self, bytes: &[u8]) -> Result<()> {
        match &self.session {
            Some(_) => self.upload(&self.agent, bytes).await,
            None => {
                let dir = self.agent.parent().context("agent path has no directory")?;
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let tmp = self
                    .agent
                    .with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, bytes)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
                std::fs::rename(&tmp, &self.agent)?;
                Ok(())
            }
        }
    }

    /// Writes `bytes` as an executable at `path` on the host, atomically; again over a fresh
    /// master when the first is lost (writing the same file twice does no harm).
    async fn upload(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.on_live_master(
            "the agent upload",
            async || self.upload_once(path, bytes).await,
            Result::is_err,
        )
        .await?
    }

    async fn upload_once(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let s = self.ssh().context("no ssh connection to upload over")?;
        // A fixed script; the path travels as a positional parameter, quoted by openssh.
        const SCRIPT: &str = r#"set -e; d=$(dirname "$1"); mkdir -p "$d"; t="$1.tmp.$$"; cat > "$t"; chmod 755 "$t"; mv -f "$t" "$1""#;
        let mut child = s
            .arc_command("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("jib-install")
            .arg(path.to_string_lossy().as_ref())
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::null())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .with_context(|| format!("cannot start the agent upload on {}", self.host))?;
        let mut stdin = child.stdin().take().context("no stdin")?;
        let mut stderr = child.stderr().take().context("no stderr")?;
        let write = async {
            stdin.write_all(bytes).await?;
            stdin.shutdown().await?;
            drop(stdin);
            Ok::<_, std::io::Error>(())
        };
        let mut err = String::new();
        let (w, _) = tokio::join!(write, stderr.read_to_string(&mut err));
        // Exit 255 (ssh's own failure) comes back as an error.
        let status = child.wait().await;
        if w.is_err() || !status.as_ref().is_ok_and(|s| s.success()) {
            let err = match (err.trim(), status) {
                ("", Err(e)) => e.to_string(),
                (err, _) => err.to_string(),
            };
            bail!(
                "could not install jib-agent at {} on {}: {err}\n  when jib runs there as root for this ssh user, \
                 `jib setup` upgrades it (through sudo, or a script for an administrator)",
                path.display(),
                self.host,
            );
        }
        Ok(())
    }

    /// Sends one request and feeds each event to `on_event` until the agent's final answer.
    /// When the agent asks for objects, `objects` builds the pack from the commits it has.
    /// The first event is the agent's hello: when it is missing because the master connection
    /// died, the request is sent again over a fresh one; when it is missing otherwise or names
    /// another version, the matching agent is installed and the request sent again.
    pub async fn call(
        &self,
        req: &Request,
        on_event: impl FnMut(&Event),
        objects: impl FnMut(&[String]) -> Result<Vec<u8>>,
    ) -> Result<Reply, CallError> {
        self.call_gated(req, on_event, objects, None).await
    }

    /// [`Remote::call`] for one host of a fleet-wide switch: when the agent says it reached a
    /// phase ([`Event::Ready`]), `gate` decides whether it goes on.
    pub async fn call_gated(
        &self,
        req: &Request,
        mut on_event: impl FnMut(&Event),
        mut objects: impl FnMut(&[String]) -> Result<Vec<u8>>,
        gate: Option<&dyn Gate>,
    ) -> Result<Reply, CallError> {
        let line = self.envelope_line(req)?;
        match self
            .call_live(req.verb(), &line, &mut on_event, &mut objects, gate)
            .await
        {
            Err(Attempt::WrongAgent) => {}
            Err(Attempt::Failed(e)) => return Err(e),
            Ok(r) => return Ok(r),
        }
        let t = std::time::Instant::now();
        on_event(&Event::StepStarted {
            step: "agent".into(),
        });
        self.install_matching_agent()
            .await
            .map_err(CallError::Transport)?;
        on_event(&Event::StepDone {
            step: "agent".into(),
            ms: t.elapsed().as_millis() as u64,
            detail: Some(format!("installed {}", protocol::version_line())),
        });
        match self
            .call_live(req.verb(), &line, &mut on_event, &mut objects, gate)
            .await
        {
            Ok(r) => Ok(r),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::WrongAgent) => Err(CallError::Transport(anyhow!(
                "the agent on {} still does not answer as {} after reinstalling it; run `jib setup`",
                self.host,
                protocol::version_line()
            ))),
        }
    }

    /// [`Remote::call_once`], sent again over a fresh master when no hello came back because
    /// the master died: a missing hello is only taken for a wrong agent over a live master.
    async fn call_live(
        &self,
        verb: &str,
        line: &[u8],
        on_event: &mut impl FnMut(&Event),
        objects: &mut impl FnMut(&[String]) -> Result<Vec<u8>>,
        gate: Option<&dyn Gate>,
    ) -> Result<Reply, Attempt> {
        self.on_live_master(
            &format!("jib-agent {verb}"),
            async || self.call_once(verb, line, on_event, objects, gate).await,
            |r| matches!(r, Err(Attempt::WrongAgent)),
        )
        .await
        .map_err(|e| Attempt::Failed(CallError::Transport(e)))?
    }

    async fn call_once(
        &self,
        verb: &str,
        line: &[u8],
        on_event: &mut impl FnMut(&Event),
        objects: &mut impl FnMut(&[String]) -> Result<Vec<u8>>,
        gate: Option<&dyn Gate>,
    ) -> Result<Reply, Attempt> {
        // Tests stop here, before either path starts the agent, to kill the master.
        crate::failpoint::hit("call");
        if streamable(verb)
            && let Some(sock) = self.fast_socket().await
        {
            match self
                .call_streamed(&sock, verb, line, on_event, objects, gate)
                .await
            {
                Some(r) => return r,
                // No answer from our version of the agent there: nothing ran, use ssh.
                None => *self.fast.lock().unwrap_or_else(|e| e.into_inner()) = Some(None),
            }
        }
        let Some((child, (stdin, stdout, stderr))) =
            self.spawn_agent(verb).await.map_err(Attempt::Failed)?
        else {
            return Err(Attempt::WrongAgent);
        };
        let out = exchange(
            stdin,
            stdout,
            stderr,
            Waits {
                first_answer: Some(answer_deadline()),
                gate,
            },
            line,
            on_event,
            objects,
        )
        .await;
        if out.silent {
            self.drop_master();
        }
        // With an answer, the exit status says nothing more: over ssh, leave the agent to
        // finish after its reply (the channel closes, the agent goes on). A local agent is
        // our child and is waited for.
        let code = match child {
            AgentChild::Ssh(_) if out.reply.is_some() => None,
            child => child.wait().await,
        };
        finish(out, code, &self.host, verb)
    }

    /// Ends a master that stopped answering, so that the next command starts a fresh one.
    fn drop_master(&self) {
        if let Some(s) = self.ssh() {
            drop_master(s.control_socket());
        }
    }

    /// How the last calls reached the agent, for `jib -v`.
    pub fn route(&self) -> String {
        let fast = self.fast.lock().unwrap_or_else(|e| e.into_inner());
        let route = match (&self.session, fast.as_ref()) {
            (None, _) => "jib-agent ran here (local mode)",
            (Some(_), Some(Some(_))) => {
                "answered by jib-agent serve through its control socket, forwarded over ssh"
            }
            (Some(_), _) => "jib-agent ran as its own process over ssh",
        };
        if self.revived.load(Ordering::Relaxed) {
            format!("{route}, over a fresh master connection (the first one died)")
        } else {
            route.to_string()
        }
    }

    /// The local end of serve's control socket forwarded through the master connection
    /// (`ssh -O forward -L`), set up once per master: a verb then costs a channel to a socket
    /// instead of a remote login shell and a new process for ssh to start.
    async fn fast_socket(&self) -> Option<PathBuf> {
        if let Some(known) = self.fast.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return known;
        }
        let found = self.forward_control_socket().await;
        *self.fast.lock().unwrap_or_else(|e| e.into_inner()) = Some(found.clone());
        found
    }

    async fn forward_control_socket(&self) -> Option<PathBuf> {
        if std::env::var(VIA_SERVE_ENV).is_ok_and(|v| v == "0") {
            return None;
        }
        let s = self.ssh()?;
        let remote = crate::layout::Layout::of_agent_bin(&self.agent)?.control_socket();
        // In the master's own private directory: it goes when the master goes.
        let local = s.control_socket().parent()?.join(format!(
            "agent-{}.sock",
            master_key(&remote.to_string_lossy())
        ));
        {
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(&local).is_ok_and(|m| m.file_type().is_socket()) {
                return Some(local);
            }
        }
        s.request_port_forward(
            openssh::ForwardType::Local,
            openssh::Socket::UnixSocket {
                path: local.as_path().into(),
            },
            openssh::Socket::UnixSocket {
                path: remote.as_path().into(),
            },
        )
        .await
        .ok()?;
        Some(local)
    }

    /// One call through serve's forwarded control socket. `None`: no answer from an agent of
    /// our version came back (serve not running there, not ours, or it could not start the
    /// verb), and nothing ran.
    async fn call_streamed(
        &self,
        sock: &Path,
        verb: &str,
        line: &[u8],
        on_event: &mut impl FnMut(&Event),
        objects: &mut impl FnMut(&[String]) -> Result<Vec<u8>>,
        gate: Option<&dyn Gate>,
    ) -> Option<Result<Reply, Attempt>> {
        let mut conn = tokio::net::UnixStream::connect(sock).await.ok()?;
        let call = serde_json::to_vec(&protocol::CtlCall {
            argv: vec![verb.to_string()],
            stream: true,
        })
        .ok()?;
        let mut head = (call.len() as u32).to_le_bytes().to_vec();
        head.extend_from_slice(&call);
        conn.write_all(&head).await.ok()?;
        let (r, w) = conn.into_split();
        let out = exchange(
            Some(w),
            Some(r),
            None::<tokio::io::Empty>,
            Waits {
                first_answer: Some(answer_deadline()),
                gate,
            },
            line,
            on_event,
            objects,
        )
        .await;
        if out.silent {
            // serve is wedged while the master answers: the per-command path does without it.
            if self.master_answers().await {
                return None;
            }
            // The master itself is not moving: the per-command path would wait as long.
            self.drop_master();
            return Some(finish(out, None, &self.host, verb));
        }
        if out.hello.as_deref() != Some(protocol::version_line().as_str()) {
            return None;
        }
        let code = out.exited.as_ref().map(|(c, _)| Some(*c));
        Some(finish(out, code, &self.host, verb))
    }

    /// Starts `jib-agent <verb>` with piped streams. `None`: there is no agent binary to run.
    async fn spawn_agent(&self, verb: &str) -> Result<Option<(AgentChild, Streams)>, CallError> {
        let t = |e: anyhow::Error| CallError::Transport(e);
        match self.ssh() {
            Some(s) => {
                let mut child = s
                    .arc_command(self.agent_str())
                    .arg(verb)
                    .stdin(openssh::Stdio::piped())
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::piped())
                    .spawn()
                    .await
                    .map_err(|e| t(anyhow!("cannot run jib-agent {verb} on {}: {e}", self.host)))?;
                let streams: Streams = (
                    child.stdin().take().map(|w| Box::new(w) as BoxedWrite),
                    child.stdout().take().map(|r| Box::new(r) as BoxedRead),
                    child.stderr().take().map(|r| Box::new(r) as BoxedRead),
                );
                Ok(Some((AgentChild::Ssh(child), streams)))
            }
            None => {
                let spawned = tokio::process::Command::new(&self.agent)
                    .arg(verb)
                    .stdin(StdStdio::piped())
                    .stdout(StdStdio::piped())
                    .stderr(StdStdio::piped())
                    .kill_on_drop(true)
                    .spawn();
                let mut child = match spawned {
                    Ok(c) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(t(anyhow!("cannot run {}: {e}", self.agent.display()))),
                };
                let streams: Streams = (
                    child.stdin.take().map(|w| Box::new(w) as BoxedWrite),
                    child.stdout.take().map(|r| Box::new(r) as BoxedRead),
                    child.stderr.take().map(|r| Box::new(r) as BoxedRead),
                );
                Ok(Some((AgentChild::Local(child), streams)))
            }
        }
    }

    fn envelope_line(&self, req: &Request) -> Result<Vec<u8>, CallError> {
        let envelope = Envelope {
            client: protocol::version_line(),
            by: self.by.clone(),
            request: req.clone(),
        };
        let mut line = serde_json::to_vec(&envelope).map_err(|e| CallError::Transport(e.into()))?;
        line.push(b'\n');
        Ok(line)
    }

    /// `jib exec` without a terminal: our stdin, stdout and stderr are the command's, and so is
    /// the exit status returned. The agent is (re)installed when it does not answer as ours.
    pub async fn exec_piped(&self, req: &Request) -> Result<i32, CallError> {
        let line = self.envelope_line(req)?;
        let live = async || {
            self.on_live_master(
                "jib-agent exec",
                async || self.exec_piped_once(&line).await,
                |r| matches!(r, Ok(None)),
            )
            .await
            .map_err(CallError::Transport)?
        };
        match live().await? {
            Some(code) => return Ok(code),
            None => self
                .install_matching_agent()
                .await
                .map_err(CallError::Transport)?,
        }
        live().await?.ok_or_else(|| {
            CallError::Transport(anyhow!(
                "the agent on {} does not answer as {} after reinstalling it; run `jib setup`",
                self.host,
                protocol::version_line()
            ))
        })
    }

    /// `None`: no hello from our agent (nothing ran).
    async fn exec_piped_once(&self, line: &[u8]) -> Result<Option<i32>, CallError> {
        let Some((child, (i, o, e))) = self.spawn_agent("exec").await? else {
            return Ok(None);
        };
        match pump(i, o, e, line).await? {
            Pumped::WrongAgent => Ok(None),
            Pumped::Done => Ok(Some(child.wait().await.flatten().unwrap_or(255))),
        }
    }

    /// `jib exec -i` / `jib shell`: the command gets a real terminal (`ssh -t` over the same
    /// master connection); returns its exit status.
    pub async fn exec_tty(&self, req: &Request) -> Result<i32, CallError> {
        // stdin is the terminal, and argv is everyone's to read (the request may carry a
        // database URL): the request waits on the server, and only its one-time token rides
        // in argv.
        let stash = Request::Stash {
            server: req.server().clone(),
            exec: Box::new(req.clone()),
        };
        let token = match self.call(&stash, |_| {}, |_| Ok(Vec::new())).await? {
            protocol::Reply::Stashed { token } => token,
            other => {
                return Err(CallError::Transport(anyhow!(
                    "unexpected answer from the agent: {other:?}"
                )));
            }
        };
        let status = match self.ssh() {
            None => std::process::Command::new(&self.agent)
                .args(["exec", "--stashed", &token])
                .status()
                .with_context(|| format!("cannot run {}", self.agent.display()))
                .map_err(CallError::Transport)?,
            Some(s) => {
                let mut cmd = std::process::Command::new("ssh");
                cmd.arg("-S")
                    .arg(s.control_socket())
                    .args(["-o", "ControlMaster=no", "-t"]);
                if let Some(cfg) = std::env::var_os(SSH_CONFIG_ENV) {
                    cmd.arg("-F").arg(cfg);
                }
                // The root was validated free of quotes and spaces; quote it all the same.
                let remote = format!("'{}' exec --stashed {token}", self.agent_str());
                cmd.arg(ssh_destination(&self.host)).arg("--").arg(remote);
                cmd.status()
                    .context("cannot run ssh")
                    .map_err(CallError::Transport)?
            }
        };
        Ok(status.code().unwrap_or(255))
    }

    /// Runs a fixed program over the connection (no shell, no user input); its status and
    /// output. Local mode runs it here.
    pub async fn run_fixed(&self, argv: &[&str]) -> Result<(bool, String)> {
        let (program, args) = argv.split_first().context("no program to run")?;
        let out = match self.ssh() {
            // Fixed programs do no harm run twice: again over a fresh master when ssh failed.
            Some(_) => {
                let run = async || {
                    let s = self.ssh().context("no ssh connection")?;
                    s.arc_command(*program)
                        .args(args)
                        .stdin(openssh::Stdio::null())
                        .output()
                        .await
                        .with_context(|| format!("cannot run {program} on {}", self.host))
                };
                self.on_live_master(program, run, Result::is_err).await??
            }
            None => tokio::process::Command::new(program)
                .args(args)
                .stdin(StdStdio::null())
                .output()
                .await
                .with_context(|| format!("cannot run {program}"))?,
        };
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    }

    /// Whether commands reach the host as root (uid 0).
    pub async fn is_root(&self) -> Result<bool> {
        let (ok, uid) = self.run_fixed(&["id", "-u"]).await?;
        Ok(ok && uid == "0")
    }

    /// The ssh user's name on the host.
    pub async fn user_name(&self) -> Result<String> {
        let (ok, name) = self.run_fixed(&["id", "-un"]).await?;
        if !ok || name.is_empty() {
            bail!("cannot tell who the ssh user is on {}", self.host);
        }
        Ok(name)
    }

    /// Uploads this jib's agent into the ssh user's own cache (`~/.cache/jib/`), for the one-time
    /// root steps to run; returns its absolute path and sha256.
    pub async fn stage_agent(&self) -> Result<(String, String)> {
        use sha2::Digest;
        let local = local_agent_binary()?;
        let bytes = std::fs::read(&local)
            .with_context(|| format!("cannot read the agent binary {}", local.display()))?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let (ok, home) = self.run_fixed(&["pwd"]).await?;
        if !ok || !home.starts_with('/') {
            bail!("cannot tell the ssh user's home directory on {}", self.host);
        }
        let path = format!("{home}/.cache/jib/jib-agent-{}", &sha[..16]);
        match &self.session {
            Some(_) => self.upload(Path::new(&path), &bytes).await?,
            None => {
                Remote::with(&self.host, None, PathBuf::from(&path))
                    .install_agent(&bytes)
                    .await?
            }
        }
        Ok((path, sha))
    }

    /// Sends one request to `argv` (an agent under sudo) instead of the installed agent;
    /// `first` is written before the request (sudo's password).
    pub async fn call_program(
        &self,
        argv: &[String],
        first: Option<&str>,
        req: &Request,
        mut on_event: impl FnMut(&Event),
    ) -> Result<Reply, CallError> {
        let t = |e: anyhow::Error| CallError::Transport(e);
        let mut line = first
            .map(|p| format!("{p}\n").into_bytes())
            .unwrap_or_default();
        line.extend(self.envelope_line(req)?);
        if self.session.is_none() {
            return Err(t(anyhow!("local mode needs no root steps")));
        }
        let (program, _) = argv.split_first().context("no program to run").map_err(t)?;
        let once = async || {
            self.call_program_once(argv, &line, req.verb(), &mut on_event)
                .await
        };
        let nothing_ran = |r: &Result<Reply, Attempt>| matches!(r, Err(Attempt::WrongAgent));
        match self.on_live_master(program, once, nothing_ran).await {
            Err(e) => Err(t(e)),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(Attempt::Failed(e))) => Err(e),
            Ok(Err(Attempt::WrongAgent)) => Err(t(anyhow!(
                "{} on {} did not answer (a wrong sudo password, or sudo refused)",
                argv.join(" "),
                self.host
            ))),
        }
    }

    async fn call_program_once(
        &self,
        argv: &[String],
        line: &[u8],
        verb: &str,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<Reply, Attempt> {
        let t = |e: anyhow::Error| Attempt::Failed(CallError::Transport(e));
        let s = self.ssh().context("no ssh connection").map_err(t)?;
        let (program, args) = argv.split_first().context("no program to run").map_err(t)?;
        let mut child = s
            .arc_command(program)
            .args(args)
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| t(anyhow!("cannot run {program} on {}: {e}", self.host)))?;
        let streams: Streams = (
            child.stdin().take().map(|w| Box::new(w) as BoxedWrite),
            child.stdout().take().map(|r| Box::new(r) as BoxedRead),
            child.stderr().take().map(|r| Box::new(r) as BoxedRead),
        );
        let (i, o, e) = streams;
        // No deadline: sudo may be asking for a password on the terminal.
        let out = exchange(
            i,
            o,
            e,
            Waits {
                first_answer: None,
                gate: None,
            },
            line,
            on_event,
            &mut |_| Ok(Vec::new()),
        )
        .await;
        finish(out, AgentChild::Ssh(child).wait().await, &self.host, verb)
    }

    /// Ends this command's use of the connection. A persistent master stays up for the next
    /// command (`JIB_SSH_PERSIST` seconds of idleness); otherwise it is closed.
    pub async fn close(self) {
        let Some(cell) = self.session else { return };
        let s = cell.into_inner().unwrap_or_else(|e| e.into_inner());
        // Nothing else holds it by now (every child was waited for or dropped); if something
        // did, dropping the last reference ends a non-persistent master all the same.
        let Ok(s) = Arc::try_unwrap(s) else { return };
        if persist_secs() > 0 {
            let _ = s.detach();
        } else {
            let _ = s.close().await;
        }
    }
}

/// Environment variable: seconds to wait for the agent's first answer (default 10).
pub const ANSWER_TIMEOUT_ENV: &str = "JIB_ANSWER_TIMEOUT";

/// Environment variable: seconds to wait for an ssh connection to a server (default 15).
pub const CONNECT_TIMEOUT_ENV: &str = "JIB_CONNECT_TIMEOUT";

/// How long a server that does not answer gets before it is called unreachable.
fn connect_timeout() -> Duration {
    let secs = std::env::var(CONNECT_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(15);
    Duration::from_secs(secs)
}

fn answer_deadline() -> Duration {
    let secs = std::env::var(ANSWER_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// The `.master` pointer file naming the persisted master for `host`, in `dir`.
fn master_pointer(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("{}.master", master_key(host)))
}

/// Starts a master connection to `host` with its socket in `dir` (made private already).
/// Persistent, it outlives this command and the `.master` pointer names it for the next.
async fn launch_master(host: &str, dir: &Path) -> Result<openssh::Session> {
    let persist = persist_secs();
    let mut b = openssh::SessionBuilder::default();
    // Strict: an unknown or changed host key is refused, never accepted silently.
    b.known_hosts_check(openssh::KnownHosts::Strict)
        .connect_timeout(connect_timeout())
        .server_alive_interval(Duration::from_secs(15));
    if let Some(cfg) = std::env::var_os(SSH_CONFIG_ENV) {
        b.config_file(PathBuf::from(cfg));
    }
    b.control_directory(dir);
    clean_stale_masters(dir);
    if let Some(secs) = std::num::NonZeroUsize::new(persist as usize) {
        b.control_persist(openssh::ControlPersist::IdleFor(secs));
    }
    // A launch that fails fast (not a timeout: an unreachable host is not asked twice) gets
    // one more try: what a transient failure next to a healthy server looked like (issue 15).
    let started = std::time::Instant::now();
    let mut launched = b.launch_master(&ssh_destination(host)).await;
    if launched.is_err() && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        launched = b.launch_master(&ssh_destination(host)).await;
    }
    let tempdir = launched.map_err(|e| {
        // With its source: what ssh said (openssh's own text is only "failed to connect").
        let e = anyhow::Error::new(e);
        anyhow!(
            "cannot connect to {host} over ssh: {e:#}\n  try: {}\n  \
             (jib uses your ssh config, keys and agent; the host key must already be in known_hosts)",
            try_ssh(host)
        )
    })?;
    if persist == 0 {
        return Ok(openssh::Session::new_process_mux(tempdir));
    }
    // Keep the master for the next command; it exits by itself when idle.
    let kept = tempdir.keep();
    let ctl = kept.join("master");
    let _ = std::fs::write(
        master_pointer(dir, host),
        ctl.as_os_str().as_encoded_bytes(),
    );
    Ok(openssh::Session::resume(
        ctl.into_boxed_path(),
        Some(kept.join("log").into_boxed_path()),
    ))
}

/// The plain `ssh` command that shows what is wrong with reaching `host`, as jib reaches it.
fn try_ssh(host: &str) -> String {
    let cfg = std::env::var(SSH_CONFIG_ENV)
        .map(|c| format!(" -F {c}"))
        .unwrap_or_default();
    format!("ssh{cfg} -o BatchMode=yes {host} true")
}

/// Ends the master of `ctl` (in our private directory, so ours) with SIGKILL, which also
/// ends a stopped one, and removes its socket. It is the `ssh -M` process of ours that was
/// started with `-S <ctl>`.
fn drop_master(ctl: &Path) {
    let me = nix::unistd::getuid().as_raw();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        use std::os::unix::fs::MetadataExt;
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if e.metadata().map(|m| m.uid()).ok() != Some(me) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let master = args.iter().any(|a| *a == b"-M")
            && args
                .windows(2)
                .any(|w| w[0] == b"-S" && w[1] == ctl.as_os_str().as_encoded_bytes());
        if master {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = std::fs::remove_file(ctl);
}

/// Environment variable: seconds an idle master connection is kept for the next jib command
/// (default 60; 0 closes it when each command ends).
pub const PERSIST_ENV: &str = "JIB_SSH_PERSIST";

fn persist_secs() -> u64 {
    std::env::var(PERSIST_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Where master connection sockets live: short, private (0700), per user.
fn control_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("jib"),
        None => PathBuf::from(format!("/tmp/jib-ssh-{}", nix::unistd::getuid())),
    }
}

/// Makes `dir` (its parent must exist) or insists that what is there is a real directory of
/// ours, and leaves it 0700. `/tmp` is everyone's: another user may have made the directory,
/// or a link of that name, first. Nothing follows a link: `mkdir` does not, `lstat` tells a
/// link, and the mode is set through a descriptor opened with `O_NOFOLLOW`.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    let me = nix::unistd::geteuid().as_raw();
    let fix = "remove it, or set XDG_RUNTIME_DIR to a directory of your own";
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => bail!(
            "cannot create the ssh control directory {}: {e}; set XDG_RUNTIME_DIR to a directory of your own",
            dir.display()
        ),
    }
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot inspect the ssh control directory {}", dir.display()))?;
    let owner = |uid: u32| match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    };
    if meta.file_type().is_symlink() {
        let to = std::fs::read_link(dir)
            .map(|t| format!(" to {}", t.display()))
            .unwrap_or_default();
        bail!(
            "refusing the ssh control directory {}: it is a symbolic link{to}, made by {}, not a directory of yours; {fix}",
            dir.display(),
            owner(meta.uid())
        );
    }
    if !meta.is_dir() {
        bail!(
            "refusing the ssh control directory {}: it is not a directory (it belongs to {}); {fix}",
            dir.display(),
            owner(meta.uid())
        );
    }
    if meta.uid() != me {
        bail!(
            "refusing the ssh control directory {}: it belongs to {}, not to you (uid {me}), so \
             its connections could be someone else's; {fix}",
            dir.display(),
            owner(meta.uid()),
        );
    }
    // Ours: make sure nobody else can get in, on the very directory looked at.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(dir)
        .with_context(|| format!("cannot open the ssh control directory {}", dir.display()))?;
    let fmeta = f.metadata()?;
    if (fmeta.dev(), fmeta.ino()) != (meta.dev(), meta.ino()) || fmeta.uid() != me {
        bail!(
            "refusing the ssh control directory {}: it changed while jib looked at it; {fix}",
            dir.display()
        );
    }
    if fmeta.mode() & 0o7777 != 0o700 {
        f.set_permissions(std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`.
fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC)
        .bits()
}

/// The control socket a `.master` pointer names, if it is one jib made: `<dir>/<one name>/master`.
fn master_in(dir: &Path, ctl: &str) -> Option<PathBuf> {
    let p = Path::new(ctl);
    let name = p.parent()?.file_name()?;
    (p.parent()?.parent()? == dir && p.file_name()? == "master" && name != ".." && name != ".")
        .then(|| p.to_path_buf())
}

/// Removes what masters that exited long ago left behind (their directory and log). Recent
/// directories stay: another jib may be starting its master there right now.
fn clean_stale_masters(dir: &Path) {
    let old = std::time::SystemTime::now() - Duration::from_secs(600);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let stale = e
            .file_name()
            .to_string_lossy()
            .starts_with(".ssh-connection")
            && !p.join("master").exists()
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < old);
        if stale {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// One master per destination and ssh config.
fn master_key(host: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(host.as_bytes());
    h.update([0]);
    if let Some(cfg) = std::env::var_os(SSH_CONFIG_ENV) {
        h.update(cfg.as_encoded_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

type BoxedWrite = Box<dyn AsyncWrite + Unpin + Send>;
type BoxedRead = Box<dyn AsyncRead + Unpin + Send>;
type Streams = (Option<BoxedWrite>, Option<BoxedRead>, Option<BoxedRead>);

/// A running `jib-agent <verb>`: over the master connection, or a local child.
enum AgentChild {
    Ssh(openssh::Child<Arc<openssh::Session>>),
    Local(tokio::process::Child),
}

impl AgentChild {
    /// Its exit: `None` when the connection was lost, `Some(None)` when killed by a signal.
    async fn wait(self) -> Option<Option<i32>> {
        match self {
            AgentChild::Ssh(c) => c.wait().await.ok().map(|s| s.code()),
            AgentChild::Local(mut c) => c.wait().await.ok().map(|s| s.code()),
        }
    }
}

enum Pumped {
    WrongAgent,
    Done,
}

/// Sends the request, reads the agent's hello (and failure, if any) from stderr, then joins
/// the command's streams to ours until its output ends.
async fn pump<W, R, E>(
    stdin: Option<W>,
    stdout: Option<R>,
    stderr: Option<E>,
    line: &[u8],
) -> Result<Pumped, CallError>
where
    W: AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let t = |e: anyhow::Error| CallError::Transport(e);
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) = (stdin, stdout, stderr) else {
        return Err(t(anyhow!("the agent's streams are missing")));
    };
    if stdin.write_all(line).await.is_err() {
        return Ok(Pumped::WrongAgent);
    }
    let mut err = BufReader::new(stderr);
    let mut first = String::new();
    let _ = err.read_line(&mut first).await;
    match serde_json::from_str::<Event>(&first) {
        Ok(Event::Hello { version }) if version == protocol::version_line() => {}
        _ => return Ok(Pumped::WrongAgent),
    }
    // Either the agent explains why there is no command, or it says the command starts.
    let mut second = String::new();
    let _ = err.read_line(&mut second).await;
    match serde_json::from_str::<Event>(&second) {
        Ok(Event::Failed { error }) => return Err(CallError::Remote(error)),
        Ok(Event::StepStarted { .. }) => {}
        _ => {
            return Err(t(anyhow!(
                "the agent said {second:?} instead of starting the command"
            )));
        }
    }
    // Our stdin feeds the command until it ends; the task is left behind if the command ends
    // first (a blocked terminal read must not keep jib alive).
    tokio::spawn(async move {
        let mut ours = tokio::io::stdin();
        let _ = tokio::io::copy(&mut ours, &mut stdin).await;
        let _ = stdin.shutdown().await;
    });
    let out = async {
        let mut o = tokio::io::stdout();
        let _ = tokio::io::copy(&mut stdout, &mut o).await;
        let _ = o.flush().await;
    };
    let errs = async {
        let mut e = tokio::io::stderr();
        let _ = tokio::io::copy(&mut err, &mut e).await;
        let _ = e.flush().await;
    };
    tokio::join!(out, errs);
    Ok(Pumped::Done)
}

/// How one attempt at a call ended, when it did not end with a reply.
enum Attempt {
    /// No hello, or a hello from another version; nothing ran. Over a master that still
    /// answers: install the matching agent and retry (see [`Remote::on_live_master`]).
    WrongAgent,
    Failed(CallError),
}

struct Exchange {
    hello: Option<String>,
    reply: Option<Result<Reply, RemoteError>>,
    stderr: String,
    error: Option<anyhow::Error>,
    /// On a call through serve: the verb's exit status and stderr, which end the stream.
    exited: Option<(i32, String)>,
    /// Nothing at all came back within [`answer_deadline`].
    silent: bool,
}

/// How an exchange waits: for the agent's first answer (a deadline), and at the phases of a
/// fleet-wide switch (the gate that gives the word).
#[derive(Clone, Copy)]
struct Waits<'a> {
    first_answer: Option<Duration>,
    gate: Option<&'a dyn Gate>,
}

async fn exchange<W, R, E>(
    stdin: Option<W>,
    stdout: Option<R>,
    stderr: Option<E>,
    waits: Waits<'_>,
    line: &[u8],
    on_event: &mut impl FnMut(&Event),
    objects: &mut impl FnMut(&[String]) -> Result<Vec<u8>>,
) -> Exchange
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let read_err = async {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s).await;
        }
        s
    };
    let talk = async {
        let mut ex = Exchange {
            hello: None,
            reply: None,
            stderr: String::new(),
            error: None,
            exited: None,
            silent: false,
        };
        let mut stdin = stdin;
        if let Some(w) = stdin.as_mut()
            && let Err(e) = async {
                w.write_all(line).await?;
                w.flush().await
            }
            .await
        {
            ex.error = Some(anyhow!("sending the request failed: {e}"));
        }
        let Some(r) = stdout else { return ex };
        let mut lines = BufReader::new(r).lines();
        // The agent's hello comes at once; without it by the deadline, nothing is coming.
        let first = match waits.first_answer {
            None => lines.next_line().await,
            Some(d) => match tokio::time::timeout(d, lines.next_line()).await {
                Ok(l) => l,
                Err(_) => {
                    ex.silent = true;
                    return ex;
                }
            },
        };
        let mut next = Some(first);
        while let Ok(Some(l)) = match next.take() {
            Some(first) => first,
            None => lines.next_line().await,
        } {
            match serde_json::from_str::<Event>(&l) {
                Ok(Event::Hello { version }) => {
                    let ours = version == protocol::version_line();
                    if ours {
                        on_event(&Event::Hello {
                            version: version.clone(),
                        });
                    }
                    ex.hello = Some(version);
                    if !ours {
                        break;
                    }
                }
                Ok(Event::NeedObjects { have }) => {
                    on_event(&Event::NeedObjects { have: have.clone() });
                    let sent = async {
                        let pack = objects(&have)?;
                        let w = stdin.as_mut().context("stdin closed")?;
                        let mut header = serde_json::to_vec(&PackHeader {
                            len: pack.len() as u64,
                        })?;
                        header.push(b'\n');
                        w.write_all(&header).await?;
                        w.write_all(&pack).await?;
                        w.flush().await?;
                        Ok::<_, anyhow::Error>(())
                    }
                    .await;
                    if let Err(e) = sent {
                        ex.error = Some(e.context("sending objects failed"));
                        break;
                    }
                }
                // A host of a fleet-wide switch waits for the word to go on (no gate: no).
                Ok(Event::Ready { phase, release }) => {
                    on_event(&Event::Ready {
                        phase,
                        release: release.clone(),
                    });
                    let go = match waits.gate {
                        Some(g) => g.reached(phase, &release).await,
                        None => false,
                    };
                    let sent = async {
                        let w = stdin.as_mut().context("stdin closed")?;
                        let mut word = serde_json::to_vec(&protocol::Go { go })?;
                        word.push(b'\n');
                        w.write_all(&word).await?;
                        w.flush().await?;
                        Ok::<_, anyhow::Error>(())
                    }
                    .await;
                    if let Err(e) = sent {
                        ex.error = Some(e.context("answering the agent failed"));
                        break;
                    }
                }
                // The answer is the end: what the agent does after it (stopping withdrawn
                // instances once drained) is not ours to wait for.
                Ok(Event::Done { result }) => {
                    ex.reply = Some(Ok(*result));
                    break;
                }
                Ok(Event::Failed { error }) => {
                    ex.reply = Some(Err(error));
                    break;
                }
                Ok(Event::Exited { code, stderr }) => {
                    ex.exited = Some((code, stderr));
                    break;
                }
                Ok(ev) => on_event(&ev),
                // Not ours (a login banner, a stray print): show it rather than hide it.
                Err(_) => on_event(&Event::Warning { message: l }),
            }
            // The agent reads nothing more once it is past the objects; closing stdin lets a
            // lost CLI be noticed on the server side too.
        }
        if let Some(mut w) = stdin.take() {
            let _ = w.shutdown().await;
        }
        ex
    };
    // stderr is read alongside; once there is an answer it is not needed (and may stay open
    // while the agent finishes its work after the reply).
    let (mut read_err, mut talk) = (std::pin::pin!(read_err), std::pin::pin!(talk));
    let mut stderr = None;
    let mut ex = loop {
        tokio::select! {
            s = &mut read_err, if stderr.is_none() => stderr = Some(s),
            ex = &mut talk => break ex,
        }
    };
    ex.stderr = match (ex.exited.as_mut(), stderr) {
        (Some((_, e)), _) => std::mem::take(e),
        (None, Some(s)) => s,
        (None, None) if ex.reply.is_none() => read_err.await,
        (None, None) => String::new(),
    };
    ex
}

fn finish(
    out: Exchange,
    code: Option<Option<i32>>,
    host: &str,
    verb: &str,
) -> Result<Reply, Attempt> {
    if out.silent {
        return Err(Attempt::Failed(CallError::Transport(anyhow!(
            "no answer from {host} within {}s (jib-agent {verb}): the connection is not moving\n  \
             the ssh connection was dropped; run the command again (it starts a fresh one), \
             or check the network (`ssh {host} true`); {ANSWER_TIMEOUT_ENV} sets the deadline",
            answer_deadline().as_secs()
        ))));
    }
    let ours = out.hello.as_deref() == Some(protocol::version_line().as_str());
    if !ours {
        // Missing (127: command not found), another version, or something that is not an agent.
        return Err(Attempt::WrongAgent);
    }
    match out.reply {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(Attempt::Failed(CallError::Remote(e))),
        None => {
            let mut msg = format!("jib-agent {verb} on {host} ended without an answer");
            match code {
                Some(Some(c)) => msg.push_str(&format!(" (exit status {c})")),
                Some(None) => msg.push_str(" (killed by a signal)"),
                None => msg.push_str(" (connection lost)"),
            }
            if let Some(e) = out.error {
                msg.push_str(&format!("; {e:#}"));
            }
            let err = out.stderr.trim();
            if !err.is_empty() {
                msg.push_str(&format!(
                    "\n  its error output:\n    {}",
                    err.replace('\n', "\n    ")
                ));
            }
            msg.push_str(
                "\n  run the command again; if it persists, `jib setup` reinstalls the agent",
            );
            Err(Attempt::Failed(CallError::Transport(anyhow!(msg))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_ssh_understands() {
        assert_eq!(ssh_destination("dev"), "dev");
        assert_eq!(ssh_destination("deploy@host"), "deploy@host");
        assert_eq!(
            ssh_destination("deploy@host:2222"),
            "ssh://deploy@host:2222"
        );
        assert_eq!(ssh_destination("host:22"), "ssh://host:22");
        assert_eq!(ssh_destination("ssh://a@b:1"), "ssh://a@b:1");
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn the_control_directory_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("jib-ssh");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // Ours but loose (an older jib, a umask): tightened, and used.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // A missing parent is an error, not a tree made on the way.
        let deep = tmp.path().join("no/such/jib");
        let e = create_private_dir(&deep).unwrap_err().to_string();
        assert!(e.contains("XDG_RUNTIME_DIR"), "{e}");
        assert!(!tmp.path().join("no").exists());
    }

    #[test]
    fn a_control_directory_that_is_not_ours_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        // A link at the path, even to a directory of ours: refused, its target left alone.
        let target = tmp.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = tmp.path().join("jib-ssh-link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = create_private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(e.contains(&link.display().to_string()), "{e}");
        assert!(e.contains("remove it, or set XDG_RUNTIME_DIR"), "{e}");
        assert_eq!(mode(&target), 0o755);
        // A file.
        let file = tmp.path().join("jib-ssh-file");
        std::fs::write(&file, "").unwrap();
        let e = create_private_dir(&file).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");

        // Another user's directory (made before jib ran): refused, untouched.
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: giving a directory to another user needs root");
            return;
        }
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let theirs = tmp.path().join("jib-ssh-0");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
        nix::unistd::chown(&theirs, Some(nobody.uid), Some(nobody.gid)).unwrap();
        let e = create_private_dir(&theirs).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "refusing the ssh control directory {}: it belongs to nobody (uid {}), not to you \
                 (uid 0), so its connections could be someone else's; remove it, or set \
                 XDG_RUNTIME_DIR to a directory of your own",
                theirs.display(),
                nobody.uid
            )
        );
        assert_eq!(mode(&theirs), 0o777);
        // A link to it as well.
        let link = tmp.path().join("jib-ssh-1");
        std::os::unix::fs::symlink(&theirs, &link).unwrap();
        let e = create_private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("root"), "{e}");
    }

    #[test]
    fn only_pointers_to_our_own_masters_are_followed() {
        let dir = Path::new("/run/user/1000/jib");
        assert_eq!(
            master_in(dir, "/run/user/1000/jib/.ssh-connectionAb12/master"),
            Some(PathBuf::from(
                "/run/user/1000/jib/.ssh-connectionAb12/master"
            ))
        );
        for bad in [
            "/tmp/evil/.ssh-connection/master",
            "/run/user/1000/jib/master",
            "/run/user/1000/jib/../master",
            "/run/user/1000/jib/x/y/master",
            "/run/user/1000/jib/x/other",
            "",
        ] {
            assert_eq!(master_in(dir, bad), None, "{bad:?}");
        }
    }
}
