//! How `jib` reaches `jib-agent`: over one OpenSSH master connection per host (the system `ssh`,
//! so ssh_config, agent, ProxyJump and known_hosts all apply), or as a local child process in
//! local mode. Every request is `jib-agent <verb>` with JSON on stdin; nothing user-supplied is
//! ever joined into a shell string.

use std::path::{Path, PathBuf};
use std::process::Stdio as StdStdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::protocol::{self, Event, RemoteError, Reply, Request};

/// Environment variable naming an ssh_config file to use instead of `~/.ssh/config`.
pub const SSH_CONFIG_ENV: &str = "JIB_SSH_CONFIG";
/// Environment variable naming the `jib-agent` binary to install (default: next to `jib`).
pub const AGENT_BINARY_ENV: &str = "JIB_AGENT_BINARY";

pub struct Remote {
    /// What the user wrote in deploy.toml (`dev`, `deploy@host:2222`, `local`), for messages.
    pub host: String,
    session: Option<openssh::Session>,
    agent: PathBuf,
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
            return Ok(Remote {
                host: host.to_string(),
                session: None,
                agent,
            });
        }
        let mut b = openssh::SessionBuilder::default();
        // Strict: an unknown or changed host key is refused, never accepted silently.
        b.known_hosts_check(openssh::KnownHosts::Strict)
            .connect_timeout(Duration::from_secs(15))
            .server_alive_interval(Duration::from_secs(15));
        if let Some(cfg) = std::env::var_os(SSH_CONFIG_ENV) {
            b.config_file(PathBuf::from(cfg));
        }
        let dir = control_dir();
        if std::fs::create_dir_all(&dir).is_ok() {
            b.control_directory(&dir);
        }
        let session = b.connect(ssh_destination(host)).await.map_err(|e| {
            let cfg = std::env::var(SSH_CONFIG_ENV)
                .map(|c| format!(" -F {c}"))
                .unwrap_or_default();
            anyhow!(
                "cannot connect to {host} over ssh: {e}\n  try: ssh{cfg} -o BatchMode=yes {host} true\n  \
                 (jib uses your ssh config, keys and agent; the host key must already be in known_hosts)"
            )
        })?;
        Ok(Remote {
            host: host.to_string(),
            session: Some(session),
            agent,
        })
    }

    pub fn is_local(&self) -> bool {
        self.session.is_none()
    }

    /// The ssh control socket, for commands that run `ssh` themselves (interactive verbs).
    pub fn control_socket(&self) -> Option<&Path> {
        self.session.as_ref().map(|s| s.control_socket())
    }

    /// Checks the agent's version; installs this jib's agent when it is missing or differs.
    /// Returns true when it had to install.
    pub async fn ensure_agent(&self) -> Result<bool> {
        let want = protocol::version_line();
        if self.agent_version().await.as_deref() == Some(want.as_str()) {
            return Ok(false);
        }
        let local = local_agent_binary()?;
        let bytes = std::fs::read(&local)
            .with_context(|| format!("cannot read the agent binary {}", local.display()))?;
        self.install_agent(&bytes).await?;
        match self.agent_version().await {
            Some(v) if v == want => Ok(true),
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

    async fn agent_version(&self) -> Option<String> {
        let out = match &self.session {
            Some(s) => s
                .command(self.agent_str())
                .arg("--version")
                .output()
                .await
                .ok()?,
            None => tokio::process::Command::new(&self.agent)
                .arg("--version")
                .output()
                .await
                .ok()?,
        };
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn agent_str(&self) -> String {
        self.agent.to_string_lossy().into_owned()
    }

    async fn install_agent(&self, bytes: &[u8]) -> Result<()> {
        match &self.session {
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
            Some(s) => {
                // A fixed script; the path travels as a positional parameter, quoted by openssh.
                const SCRIPT: &str = r#"set -e; d=$(dirname "$1"); mkdir -p "$d"; t="$1.tmp.$$"; cat > "$t"; chmod 755 "$t"; mv -f "$t" "$1""#;
                let mut child = s
                    .command("sh")
                    .arg("-c")
                    .arg(SCRIPT)
                    .arg("jib-install")
                    .arg(self.agent_str())
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
                let status = child.wait().await?;
                if w.is_err() || !status.success() {
                    bail!(
                        "could not install jib-agent at {} on {}: {}\n  the ssh user needs write access to {}; \
                         run `jib setup` (it explains how) or create it: sudo mkdir -p {0} && sudo chown $USER {0}",
                        self.agent.display(),
                        self.host,
                        err.trim(),
                        self.agent
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    );
                }
                Ok(())
            }
        }
    }

    /// Sends one request (plus `payload` bytes) and feeds each event to `on_event` until the
    /// agent's final answer.
    pub async fn call(
        &self,
        req: &Request,
        payload: &[u8],
        mut on_event: impl FnMut(&Event),
    ) -> Result<Reply, CallError> {
        let mut line = serde_json::to_vec(req).map_err(|e| CallError::Transport(e.into()))?;
        line.push(b'\n');
        let verb = req.verb();
        let t = |e: anyhow::Error| CallError::Transport(e);
        match &self.session {
            Some(s) => {
                let mut child = s
                    .command(self.agent_str())
                    .arg(verb)
                    .stdin(openssh::Stdio::piped())
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::piped())
                    .spawn()
                    .await
                    .map_err(|e| t(anyhow!("cannot run jib-agent {verb} on {}: {e}", self.host)))?;
                let stdin = child.stdin().take();
                let stdout = child.stdout().take();
                let stderr = child.stderr().take();
                let out = exchange(stdin, stdout, stderr, &line, payload, &mut on_event).await;
                let status = child.wait().await.ok();
                finish(out, status.map(|s| s.code()), &self.host, verb)
            }
            None => {
                let mut child = tokio::process::Command::new(&self.agent)
                    .arg(verb)
                    .stdin(StdStdio::piped())
                    .stdout(StdStdio::piped())
                    .stderr(StdStdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| t(anyhow!("cannot run {}: {e}", self.agent.display())))?;
                let stdin = child.stdin.take();
                let stdout = child.stdout.take();
                let stderr = child.stderr.take();
                let out = exchange(stdin, stdout, stderr, &line, payload, &mut on_event).await;
                let status = child.wait().await.ok();
                finish(out, status.map(|s| s.code()), &self.host, verb)
            }
        }
    }

    pub async fn close(self) {
        if let Some(s) = self.session {
            let _ = s.close().await;
        }
    }
}

/// Where master connection sockets live: short, private, per user.
fn control_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/jib-ssh-{}", nix::unistd::getuid())))
}

struct Exchange {
    reply: Option<Result<Reply, RemoteError>>,
    stderr: String,
    io_error: Option<std::io::Error>,
}

async fn exchange<W, R, E>(
    stdin: Option<W>,
    stdout: Option<R>,
    stderr: Option<E>,
    line: &[u8],
    payload: &[u8],
    on_event: &mut impl FnMut(&Event),
) -> Exchange
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let write = async {
        if let Some(mut w) = stdin {
            w.write_all(line).await?;
            w.write_all(payload).await?;
            w.flush().await?;
            w.shutdown().await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let read_err = async {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s).await;
        }
        s
    };
    let read_out = async {
        let mut reply = None;
        if let Some(r) = stdout {
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                match serde_json::from_str::<Event>(&l) {
                    Ok(Event::Done { result }) => reply = Some(Ok(result)),
                    Ok(Event::Failed { error }) => reply = Some(Err(error)),
                    Ok(ev) => on_event(&ev),
                    // Not ours (a login banner, a stray print): show it rather than hide it.
                    Err(_) => on_event(&Event::Warning { message: l }),
                }
            }
        }
        reply
    };
    let (w, stderr, reply) = tokio::join!(write, read_err, read_out);
    Exchange {
        reply,
        stderr,
        io_error: w.err(),
    }
}

fn finish(
    out: Exchange,
    code: Option<Option<i32>>,
    host: &str,
    verb: &str,
) -> Result<Reply, CallError> {
    match out.reply {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(CallError::Remote(e)),
        None => {
            let mut msg = format!("jib-agent {verb} on {host} ended without an answer");
            match code {
                Some(Some(c)) => msg.push_str(&format!(" (exit status {c})")),
                Some(None) => msg.push_str(" (killed by a signal)"),
                None => msg.push_str(" (connection lost)"),
            }
            if let Some(e) = out.io_error {
                msg.push_str(&format!("; sending the request failed: {e}"));
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
            Err(CallError::Transport(anyhow!(msg)))
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
}
