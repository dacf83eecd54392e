//! The control socket: how an unprivileged ssh user (`deploy@server`) reaches the root agent.
//!
//! `jib-agent serve` (root) listens on `<root>/.jib/agent.sock`. The `jib-agent <verb>` that ssh
//! starts as `deploy` finds that socket next to its own binary, connects, and hands over its
//! stdin, stdout and stderr (SCM_RIGHTS) with its arguments. serve checks who connected
//! (SO_PEERCRED: root, or a member of the `jib` group), then runs the same verb as root on those
//! very descriptors, marked as coming from that user, and reports its exit status back. The
//! verb then refuses what only root may do (see `Peer`). Nothing is relayed: the verb reads
//! the request and the pack from the ssh channel and writes its events there, and a terminal
//! (`jib shell`) is the user's own.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags};

use crate::layout::Layout;
use crate::protocol::{CtlAnswer as Answer, CtlCall as Header, Event, RemoteError};

/// The group whose members may use the control socket.
pub const GROUP: &str = "jib";

/// Set on a verb serve runs for a user: who it acts for.
const PEER_USER_ENV: &str = "JIB_PEER_USER";
/// Set with it: the root the serve that ran it is for.
const PEER_ROOT_ENV: &str = "JIB_PEER_ROOT";

/// Calls handled at once (each a thread, most a running verb).
const MAX_IN_FLIGHT: usize = 64;
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The largest argument list accepted (an exec request rides in it).
const MAX_HEADER: usize = 1 << 20;

/// Who a verb acts for when serve runs it on a user's behalf (`None`: root itself, over ssh).
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub user: String,
    pub root: PathBuf,
}

impl Peer {
    /// The peer of this process, when serve started it for one. Only a root process trusts
    /// the marker (anyone may set variables for a process of their own).
    pub fn current() -> Option<Peer> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let user = std::env::var(PEER_USER_ENV).ok()?;
        let root = std::env::var_os(PEER_ROOT_ENV)?;
        Some(Peer {
            user,
            root: PathBuf::from(root),
        })
    }

    /// Refuses a request this user may not make: another root than the one this serve is
    /// for, or an environment whose apps would run as root.
    pub fn check(&self, server: &crate::protocol::ServerConfig) -> Result<(), RemoteError> {
        if server.root != self.root {
            return Err(RemoteError::new(
                "request",
                format!(
                    "{} is not the environment this socket serves ({})",
                    server.root.display(),
                    self.root.display()
                ),
            )
            .hint("check root in deploy.toml"));
        }
        match crate::identity::of_server(server) {
            Ok(Some(_)) => Ok(()),
            _ => Err(RemoteError::new(
                "request",
                format!(
                    "{} runs apps without run_as: deploying there as {} would run code as root",
                    self.root.display(),
                    self.user
                ),
            )
            .hint("set run_as in deploy.toml to an unprivileged user and run `jib setup` (as root or through sudo)")),
        }
    }
}

/// The root whose agent binary this is (`<root>/.jib/bin/jib-agent`).
pub(super) fn own_root() -> Option<Layout> {
    Layout::of_agent_bin(&std::env::current_exe().ok()?)
}

/// For a `jib-agent <args>` not running as root: hands the call to the root agent of its root
/// when there is one, and returns the exit status. `None`: no root agent here (local mode,
/// or a root owned by this user), so the verb runs in this process.
pub fn forward(args: &[String]) -> Option<i32> {
    if nix::unistd::geteuid().is_root() || !matches!(args.first(), Some(v) if !v.starts_with('-')) {
        return None;
    }
    let layout = own_root()?;
    let sock = layout.control_socket();
    // A root this user set up for itself has no root agent listening.
    std::fs::symlink_metadata(&sock).ok()?;
    let json = args.first().is_some_and(|v| v != "exec") || args.len() == 1;
    match call(&sock, args) {
        Ok(code) => Some(code),
        // `jib doctor` explains instead: it runs here, as this user, and says why the root
        // agent refused (the request is still unread on stdin).
        Err(error) if args.first().is_some_and(|v| v == "doctor") => {
            let why = match &error.hint {
                Some(h) => format!("{}\n{h}", error.message),
                None => error.message.clone(),
            };
            // SAFETY: single-threaded at this point (before any verb runs).
            unsafe { std::env::set_var(REFUSED_ENV, why) };
            None
        }
        Err(error) => {
            report(json, error);
            Some(1)
        }
    }
}

/// Set for a `jib-agent doctor` that runs as the ssh user because the root agent refused it.
const REFUSED_ENV: &str = "JIB_ACCESS_REFUSED";

/// How this process reaches the root agent, for `jib doctor`: (ok, what, how to fix).
pub(super) fn access(layout: &Layout) -> (bool, String, String) {
    let me = user_name();
    if let Some(p) = Peer::current() {
        return (
            true,
            format!("{} deploys through the root agent (group {GROUP})", p.user),
            String::new(),
        );
    }
    if nix::unistd::geteuid().is_root() {
        return (true, "root".into(), String::new());
    }
    if let Ok(why) = std::env::var(REFUSED_ENV) {
        let (what, fix) = why.split_once('\n').unwrap_or((why.as_str(), ""));
        return (false, what.to_string(), fix.to_string());
    }
    let sock = layout.control_socket();
    if std::fs::symlink_metadata(&sock).is_err() {
        let sudo = match Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => "it may use sudo: `jib setup` runs the root steps".to_string(),
            Ok(_) => "it may not use sudo without a password: `jib setup` in a terminal asks for it, or `jib setup --root-script` prints the steps for an administrator".to_string(),
            Err(_) => "sudo is not installed: `jib setup --root-script` prints the root steps for an administrator".to_string(),
        };
        return (
            false,
            format!(
                "{me} is not root and no root agent serves {}",
                layout.root.display()
            ),
            sudo,
        );
    }
    (true, format!("{me} (as itself)"), String::new())
}

fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::getuid().to_string())
}

/// Tells the CLI why the call could not be handed over, in the form it reads.
fn report(json: bool, error: RemoteError) {
    if json {
        let hello = Event::Hello {
            version: crate::protocol::version_line(),
        };
        println!("{}", serde_json::to_string(&hello).unwrap_or_default());
        println!(
            "{}",
            serde_json::to_string(&Event::Failed { error }).unwrap_or_default()
        );
    } else {
        eprintln!("jib: {error}");
        if let Some(h) = &error.hint {
            eprintln!("  next: {h}");
        }
    }
}

fn call(sock: &Path, args: &[String]) -> Result<i32, RemoteError> {
    let me = user_name();
    let mut stream = UnixStream::connect(sock).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "add {me} to the group {GROUP} on the server (sudo usermod -aG {GROUP} {me})"
            ),
            _ => "jib-agent serve is not running: run `jib setup` (it uses sudo) or ask an administrator to run it".to_string(),
        };
        RemoteError::new(
            "connect",
            format!("cannot reach the root agent at {}: {e}", sock.display()),
        )
        .hint(hint)
        .kind(crate::protocol::ErrorKind::Unreachable)
    })?;
    let body = serde_json::to_vec(&Header {
        argv: args.to_vec(),
        stream: false,
    })
    .map_err(|e| RemoteError::new("connect", e.to_string()))?;
    let len = (body.len() as u32).to_le_bytes();
    let fds: [RawFd; 3] = [0, 1, 2];
    // A refusal may come (and the connection close) before we are done sending: then the
    // answer below says why, so a failed send is not the error to report.
    let sent = nix::sys::socket::sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(&len)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .is_ok();
    if sent {
        let _ = stream.write_all(&body);
    }
    // The verb owns our stdio now; we only wait for its verdict.
    let mut reader = std::io::BufReader::new(stream);
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line)
            .map_err(|e| RemoteError::new("connect", e.to_string()))?;
        if n == 0 {
            return Err(RemoteError::new(
                "connect",
                "the root agent closed the connection without an answer",
            )
            .hint("see the agent's log (journalctl -u jib-agent-*) and try again"));
        }
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Accepted) => {}
            Ok(Answer::Refused { error }) => {
                return Err(error.kind(crate::protocol::ErrorKind::Unreachable));
            }
            Ok(Answer::Exit { code }) => return Ok(code),
            Err(e) => return Err(RemoteError::new("connect", format!("bad answer: {e}"))),
        }
    }
}

/// serve's side: accepts calls until the process ends (a thread of its own).
pub(super) fn listen(layout: &Layout) -> Result<()> {
    let sock = layout.control_socket();
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;
    // Anyone may connect; who may use it is decided by SO_PEERCRED (so a membership of the
    // group added after the user logged in counts at once).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666))?;
    }
    let layout = layout.clone();
    std::thread::Builder::new()
        .name("ctl".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else {
                    // Out of descriptors, say: keep serving once some are free.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                };
                // A bound on calls at once: a member flooding the socket must not use up the
                // threads and processes serve itself needs. Over it, the call is dropped.
                if IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) >= MAX_IN_FLIGHT {
                    continue;
                }
                IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let layout = layout.clone();
                // No thread to be had: the connection is dropped, the listener lives on.
                let spawned = std::thread::Builder::new().spawn(move || {
                    let _ = handle(conn, &layout);
                    IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
                if spawned.is_err() {
                    IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        })
        .context("cannot start the control socket's thread")?;
    Ok(())
}

/// The peer's user name when it may use this socket: root, or a member of [`GROUP`].
/// The users `jib setup` let deploy to this root.
pub(super) fn allowed_users(layout: &Layout) -> Vec<String> {
    crate::fsafe::read_to_string(&layout.users_file(), 1 << 20)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Whether `user` may use this root: a member of [`GROUP`] whom setup granted this root (the
/// group is the whole server's; the list keeps dev's deployers out of prod).
pub(super) fn may_use(layout: &Layout, user: &str) -> bool {
    allowed_users(layout).iter().any(|u| u == user)
}

fn authorize(stream: &UnixStream, layout: &Layout) -> Result<String, RemoteError> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| RemoteError::new("connect", format!("SO_PEERCRED: {e}")))?;
    let uid = nix::unistd::Uid::from_raw(cred.uid());
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .ok_or_else(|| RemoteError::new("connect", format!("uid {uid} has no user name")))?;
    if uid.is_root() {
        return Ok(user.name);
    }
    let group = nix::unistd::Group::from_name(GROUP).ok().flatten();
    let member = group.as_ref().is_some_and(|g| {
        user.gid == g.gid
            || g.mem.iter().any(|m| m == &user.name)
            || std::ffi::CString::new(user.name.as_bytes())
                .ok()
                .and_then(|n| nix::unistd::getgrouplist(&n, user.gid).ok())
                .is_some_and(|gs| gs.contains(&g.gid))
    });
    if member && may_use(layout, &user.name) {
        return Ok(user.name);
    }
    if member {
        return Err(RemoteError::new(
            "connect",
            format!(
                "{} may not deploy to {} (it is not in {})",
                user.name,
                layout.root.display(),
                layout.users_file().display()
            ),
        )
        .hint("run `jib setup` for this environment as that user (it grants it through sudo or a root script)"));
    }
    Err(RemoteError::new(
        "connect",
        format!("{} is not in the group {GROUP}", user.name),
    )
    .hint(format!(
        "an administrator adds it: sudo usermod -aG {GROUP} {}",
        user.name
    )))
}

/// The verbs a user may ask for: never `serve`, never an option of the binary itself.
fn allowed(argv: &[String]) -> bool {
    match argv
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["exec"] => true,
        ["exec", "--request", hex] => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        ["exec", "--stashed", t] => t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()),
        [verb] => *verb != "serve" && verb.bytes().all(|b| b.is_ascii_lowercase()),
        _ => false,
    }
}

/// One call on the control socket: who it is, what it asks for, the verb run on the caller's
/// descriptors (or on the connection itself), and its exit status back.
fn handle(stream: UnixStream, layout: &Layout) -> Result<()> {
    // Who it is, before reading a byte: anyone may connect, only members get further.
    let user = authorize(&stream, layout);
    let (header, stdio) = match receive(&stream)? {
        Received::Call(header, stdio) => (header, stdio),
        Received::Malformed => {
            let error = user
                .err()
                .unwrap_or_else(|| RemoteError::new("connect", "malformed call"));
            return send(&stream, &Answer::Refused { error });
        }
        Received::Late => return Ok(()),
    };
    let refuse = |error: RemoteError| match stdio {
        Stdio3::Passed(_) => send(&stream, &Answer::Refused { error }),
        Stdio3::Stream => refuse_stream(&stream, error),
    };
    let user = match user {
        Ok(u) => u,
        Err(error) => return refuse(error),
    };
    if !allowed(&header.argv) {
        return refuse(RemoteError::new(
            "connect",
            format!(
                "{:?} is not something jib-agent does for users",
                header.argv
            ),
        ));
    }
    match stdio {
        Stdio3::Passed(fds) => {
            let mut child = match run_for(&user, layout, &header.argv, fds.map(Stdio::from))? {
                Ok(c) => c,
                Err(e) => {
                    let error = RemoteError::new("connect", format!("cannot start the agent: {e}"));
                    return send(&stream, &Answer::Refused { error });
                }
            };
            send(&stream, &Answer::Accepted)?;
            let code = exit_code(child.wait());
            send(&stream, &Answer::Exit { code })
        }
        Stdio3::Stream => run_streamed(stream, &user, layout, &header.argv),
    }
}

fn send(stream: &UnixStream, a: &Answer) -> Result<()> {
    writeln!(&*stream, "{}", serde_json::to_string(a)?)?;
    Ok(())
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)))
        .unwrap_or(1)
}

/// A refusal on a streamed call, in the form the CLI reads from any agent.
fn refuse_stream(stream: &UnixStream, error: RemoteError) -> Result<()> {
    let hello = Event::Hello {
        version: crate::protocol::version_line(),
    };
    for ev in [
        hello,
        Event::Failed { error },
        Event::Exited {
            code: 1,
            stderr: String::new(),
        },
    ] {
        writeln!(&*stream, "{}", serde_json::to_string(&ev)?)?;
    }
    Ok(())
}

/// The most of a streamed verb's stderr sent back with its exit.
const MAX_STDERR: usize = 64 << 10;

/// A call forwarded through ssh: the connection is the verb's stdin and stdout, its stderr is
/// collected here and sent, with its exit status, once it has ended. When the verb cannot be
/// started (serve's binary was replaced since it started, say), the connection is closed
/// without a word: the CLI then runs the verb over ssh as it would without serve.
fn run_streamed(stream: UnixStream, user: &str, layout: &Layout, argv: &[String]) -> Result<()> {
    let (input, output) = (stream.try_clone()?, stream.try_clone()?);
    let (err_read, err_write) = std::io::pipe()?;
    let stdio = [
        Stdio::from(OwnedFd::from(input)),
        Stdio::from(OwnedFd::from(output)),
        Stdio::from(err_write),
    ];
    let Ok(mut child) = run_for(user, layout, argv, stdio)? else {
        return Ok(());
    };
    let collect = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&err_read).take(MAX_STDERR as u64).read_to_end(&mut kept);
        // The rest is drained, so a chatty verb never blocks on a full pipe.
        let _ = std::io::copy(&mut &err_read, &mut std::io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    });
    let code = exit_code(child.wait());
    let stderr = collect.join().unwrap_or_default();
    let line = serde_json::to_string(&Event::Exited { code, stderr })?;
    // The CLI may be gone already (Ctrl-C on `jib logs -f`): nothing to tell then.
    let _ = writeln!(&stream, "{line}");
    Ok(())
}

/// The verb's stdin, stdout and stderr: passed with the call, or the connection itself.
enum Stdio3 {
    Passed([OwnedFd; 3]),
    Stream,
}

/// What a connection sent.
enum Received {
    /// Its arguments, and where the verb's stdio is.
    Call(Header, Stdio3),
    /// Descriptors that do not match the call, or a header over the limit.
    Malformed,
    /// Not all of it within the deadline (or the peer went away): nothing to answer.
    Late,
}

fn receive(stream: &UnixStream) -> Result<Received> {
    // The call arrives at once or not at all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    // The length and the three descriptors arrive together (a forwarded stream has none,
    // and may deliver the length in pieces).
    let mut len = [0u8; 4];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let (fds, first): (Vec<OwnedFd>, usize) = {
        let mut iov = [IoSliceMut::new(&mut len)];
        let msg = nix::sys::socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: descriptors just received are ours alone.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        (fds, msg.bytes)
    };
    if first == 0 || !read_within(stream, &mut len[first..], deadline)? {
        return Ok(Received::Late);
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_HEADER {
        return Ok(Received::Malformed);
    }
    // The whole call within the deadline, however slowly it drips.
    let mut body = vec![0u8; n];
    if !read_within(stream, &mut body, deadline)? {
        return Ok(Received::Late);
    }
    let Ok(header) = serde_json::from_slice::<Header>(&body) else {
        return Ok(Received::Malformed);
    };
    stream.set_read_timeout(None)?;
    let stdio = match (header.stream, <[OwnedFd; 3]>::try_from(fds)) {
        (false, Ok(fds)) => Stdio3::Passed(fds),
        (true, Err(fds)) if fds.is_empty() => Stdio3::Stream,
        _ => return Ok(Received::Malformed),
    };
    Ok(Received::Call(header, stdio))
}

/// Fills `buf` from the stream before `deadline`; false when the peer stopped short of it.
fn read_within(stream: &UnixStream, buf: &mut [u8], deadline: std::time::Instant) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(k) => got += k,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Starts this agent's own binary (never one the user could have written) with `argv` on
/// the given stdio, marked as acting for `user` unless that is root itself (root reaching
/// serve through a forwarded connection is what root over ssh is).
fn run_for(
    user: &str,
    layout: &Layout,
    argv: &[String],
    [stdin, stdout, stderr]: [Stdio; 3],
) -> Result<std::io::Result<std::process::Child>> {
    let agent = std::env::current_exe()?;
    let mut cmd = Command::new(agent);
    // Nothing of serve's environment: a verb's environment is what jib sets.
    cmd.env_clear();
    for keep in ["PATH", "LANG", "TZ"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let root = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .is_some_and(|u| u.uid.is_root());
    if !root {
        cmd.env(PEER_USER_ENV, user)
            .env(PEER_ROOT_ENV, &layout.root);
    }
    Ok(cmd
        .args(argv)
        .current_dir(layout.state())
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .spawn())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verbs_are_forwarded() {
        let v = |a: &[&str]| allowed(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&["deploy"]) && v(&["exec"]) && v(&["exec", "--request", "7b7d"]));
        assert!(!v(&["serve"]) && !v(&["serve", "--root", "/"]));
        assert!(!v(&["--version"]) && !v(&["exec", "--request", "x y"]) && !v(&[]));
        assert!(!v(&["deploy", "extra"]) && !v(&["../x"]));
    }
}
