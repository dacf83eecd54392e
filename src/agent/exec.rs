//! `jib-agent exec`: becomes a command running in an app's environment — its venv, its
//! variables, cwd = its current release — so stdin, stdout, stderr, signals and the exit status
//! are the command's own, end to end.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::apps::find_app;
use crate::layout::AppLayout;
use crate::protocol::{Envelope, Event, ExecCommand, RemoteError, Request, version_line};
use crate::release;
use crate::sandbox::{Waited, wait_child};

/// Exit status when jib-agent itself fails before the command starts (like `env`'s 125).
pub const AGENT_FAILED: i32 = 125;

/// Piped mode announces itself on stderr (hello, then a failure if any) for the CLI to read;
/// terminal mode (`json == false`) talks to a human.
fn hello_and_fail(json: bool, e: Option<RemoteError>) -> i32 {
    if json {
        let hello = Event::Hello {
            version: version_line(),
        };
        eprintln!("{}", serde_json::to_string(&hello).unwrap_or_default());
    }
    match e {
        Some(err) if json => {
            eprintln!(
                "{}",
                serde_json::to_string(&Event::Failed { error: err }).unwrap_or_default()
            );
            AGENT_FAILED
        }
        Some(err) => {
            eprintln!("jib: {err}");
            if let Some(h) = &err.hint {
                eprintln!("  next: {h}");
            }
            AGENT_FAILED
        }
        None => {
            // Marks the end of the agent's words: what follows on stderr is the command's.
            if json {
                let started = Event::StepStarted {
                    step: "exec".into(),
                };
                eprintln!("{}", serde_json::to_string(&started).unwrap_or_default());
            }
            0
        }
    }
}

/// Reads the request line from fd 0 one byte at a time, so nothing meant for the command is
/// consumed.
fn read_request_line() -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stashed {
    /// Who stashed it through the control socket (`None`: root over ssh).
    peer: Option<String>,
    line: String,
}

/// `jib-agent stash`: keeps `req` (an exec of this root) for `exec --stashed`, root-only.
pub fn stash(
    server: &crate::protocol::ServerConfig,
    req: Request,
    by: &str,
    peer: Option<&str>,
) -> Result<crate::protocol::Reply, RemoteError> {
    let err = |m: String| RemoteError::new("exec", m);
    if !matches!(&req, Request::Exec { server: s, .. } if s == server) {
        return Err(err(
            "only an exec request of this environment can be stashed".into(),
        ));
    }
    let layout = super::deploy::check_server(server)?;
    let dir = layout.stashed_requests();
    crate::fsafe::ensure_dir(&dir, 0o700, None).map_err(|e| err(e.to_string()))?;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| err(format!("/dev/urandom: {e}")))?;
    let token = hex::encode(bytes);
    let envelope = Envelope {
        client: version_line(),
        by: by.to_string(),
        request: req,
    };
    let content = serde_json::to_vec(&Stashed {
        peer: peer.map(str::to_string),
        line: serde_json::to_string(&envelope).map_err(|e| err(e.to_string()))?,
    })
    .map_err(|e| err(e.to_string()))?;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(layout.stashed_request(&token))
        .map_err(|e| err(e.to_string()))?;
    std::io::Write::write_all(&mut f, &content).map_err(|e| err(e.to_string()))?;
    Ok(crate::protocol::Reply::Stashed { token })
}

/// Takes a stashed request (once): only the user who stashed it may.
fn unstash(token: &str) -> Result<String, RemoteError> {
    let err = |m: &str| RemoteError::new("handshake", m.to_string());
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("bad stash token"));
    }
    let layout = super::ctl::own_root().ok_or_else(|| err("this agent is not a root's"))?;
    let path = layout.stashed_request(token);
    let bytes = crate::fsafe::read(&path, 1 << 20).map_err(|_| err("no such stashed request"))?;
    let _ = std::fs::remove_file(&path);
    let stashed: Stashed = serde_json::from_slice(&bytes).map_err(|_| err("bad stash"))?;
    let me = super::ctl::Peer::current().map(|p| p.user);
    if stashed.peer != me {
        return Err(err("that request was stashed by someone else"));
    }
    Ok(stashed.line)
}

/// A terminal exec whose request was stashed first.
pub fn run_stashed(token: &str) -> i32 {
    match unstash(token) {
        Ok(line) => run_line(false, line),
        Err(e) => hello_and_fail(false, Some(e)),
    }
}

pub fn run(hex_request: Option<&str>) -> i32 {
    let json = hex_request.is_none();
    let line = match hex_request {
        Some(h) => match hex::decode(h) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                return hello_and_fail(
                    json,
                    Some(RemoteError::new("handshake", format!("bad request: {e}"))),
                );
            }
        },
        None => match read_request_line() {
            Ok(l) => l,
            Err(e) => {
                return hello_and_fail(
                    json,
                    Some(RemoteError::new(
                        "handshake",
                        format!("reading the request: {e}"),
                    )),
                );
            }
        },
    };
    run_line(json, line)
}

fn run_line(json: bool, line: String) -> i32 {
    let env = match Envelope::accept(&line) {
        Ok(e) => e,
        Err(e) => return hello_and_fail(json, Some(e)),
    };
    let Request::Exec {
        server,
        app,
        command,
        env: extra_env,
    } = env.request
    else {
        return hello_and_fail(
            json,
            Some(RemoteError::new("handshake", "not an exec request")),
        );
    };
    let peer = super::ctl::Peer::current();
    if let Some(p) = &peer
        && let Err(e) = p
            .check(&server)
            .and_then(|()| super::deploy::check_server(&server).map(|_| ()))
    {
        return hello_and_fail(json, Some(e));
    }
    if let Some(p) = &peer
        && !json
    {
        // serve started us for a user: their terminal arrived as plain descriptors. Make it
        // ours (as root: taken from the forwarding process's session), so Ctrl-C, job control
        // and a hang-up reach the command.
        take_terminal(&p.user);
    }
    let prepared = find_app(&server, &app, "exec")
        .and_then(|(l, a)| prepare(&a, &command).map(|p| (l, p)))
        .and_then(|(layout, mut p)| {
            p.env.extend(extra_env);
            // The command runs as the app does: never as root when run_as is set, with the
            // apps' own home (not root's, not the account's possibly missing one).
            let sandbox = super::deploy::sandbox(&server, &layout, "exec")?;
            if let Some(who) = sandbox.user() {
                let home = sandbox.home().display().to_string();
                p.env.insert("HOME".into(), home);
                p.env.insert("USER".into(), who.0.name.clone());
                p.env.insert("LOGNAME".into(), who.0.name.clone());
                crate::identity::become_user(who).map_err(|e| {
                    RemoteError::new("exec", format!("cannot become {}: {e:#}", who.0.name))
                })?;
            }
            Ok(p)
        });
    match prepared {
        Err(e) => hello_and_fail(json, Some(e)),
        // A terminal: become the command; sshd hangs it up if the connection drops.
        Ok(p) if !json => {
            let err = exec(p);
            eprintln!("jib-agent: {err}");
            AGENT_FAILED
        }
        // Pipes: stay beside the command, so a dropped connection stops it.
        Ok(p) => {
            hello_and_fail(json, None);
            supervise(p)
        }
    }
}

/// Becomes the session leader of a new session whose controlling terminal is stdin.
fn take_terminal(user: &str) {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    // Only the user's own terminal (an ssh pty is its user's): never one it merely holds.
    let owner = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    let theirs = rustix::fs::fstat(std::io::stdin()).is_ok_and(|m| Some(m.st_uid) == owner);
    if !theirs
        || !nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        || nix::unistd::setsid().is_err()
    {
        return;
    }
    // SAFETY: TIOCSCTTY on our own stdin; 1 = take it even if another session has it (root).
    unsafe {
        nix::libc::ioctl(fd, nix::libc::TIOCSCTTY, 1);
    }
    // SAFETY: plain tcsetpgrp(3) on our own stdin.
    unsafe {
        nix::libc::tcsetpgrp(fd, nix::libc::getpgrp());
    }
}

struct Prepared {
    argv: Vec<String>,
    cwd: std::path::PathBuf,
    env: BTreeMap<String, String>,
}

/// The app's environment, as its workers see it.
pub fn app_environment(
    app: &AppLayout,
    meta: &release::ReleaseMeta,
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

fn prepare(app: &AppLayout, command: &ExecCommand) -> Result<Prepared, RemoteError> {
    let Some(meta) = release::current(app) else {
        return Err(
            RemoteError::new("exec", format!("{} has no current release", app.name))
                .hint(format!("deploy it first: jib push {}", app.name)),
        );
    };
    // site-packages is <venv>/lib/pythonX.Y/site-packages.
    let venv_dir = meta
        .site_packages
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cwd = std::fs::canonicalize(app.current())
        .map(|r| AppLayout::src_of(&r))
        .map_err(|e| RemoteError::new("exec", format!("{}: {e}", app.current().display())))?;
    let python = venv_dir.join("bin/python").display().to_string();
    let argv = match command {
        ExecCommand::Argv { argv } if argv.is_empty() => {
            return Err(RemoteError::new("exec", "no command given")
                .hint("jib exec <branch> -- <command> [args…]"));
        }
        ExecCommand::Argv { argv } => argv.clone(),
        ExecCommand::PythonShell if cwd.join("manage.py").is_file() => {
            vec![python, "manage.py".into(), "shell".into()]
        }
        ExecCommand::PythonShell if venv_dir.join("bin/ipython").is_file() => {
            vec![venv_dir.join("bin/ipython").display().to_string()]
        }
        ExecCommand::PythonShell => vec![python],
        ExecCommand::Mongo { shell, eval, .. } => crate::mongo::shell_argv(shell, eval.as_deref())?,
        ExecCommand::LoginShell => {
            let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
            vec![shell, "-l".into()]
        }
    };
    let mut env = app_environment(app, &meta, &venv_dir);
    if let ExecCommand::Mongo { url, .. } = command {
        env.insert(crate::mongo::URL_ENV.into(), url.clone());
    }
    Ok(Prepared { env, argv, cwd })
}

/// Runs the command on our own stdin/stdout/stderr, in its own process group, and waits.
/// When the reading end of our stdout goes away (the CLI quit, the connection dropped), the
/// command's group is stopped: nothing is left running on the server.
fn supervise(p: Prepared) -> i32 {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let program = resolve(&p);
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&p.argv[1..])
        .env_clear()
        .envs(&p.env)
        .current_dir(&p.cwd)
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        // If this agent is killed outright, the command goes with it.
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(Into::into)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "jib-agent: {}: command not found in the app's environment",
                p.argv[0]
            );
            return AGENT_FAILED;
        }
        Err(e) => {
            eprintln!("jib-agent: cannot run {}: {e}", p.argv[0]);
            return AGENT_FAILED;
        }
    };
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    match wait_child(&mut child, Duration::MAX, peer_gone) {
        Waited::Exited(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
        Waited::Lost => AGENT_FAILED,
        Waited::Stopped | Waited::TimedOut => {
            // A hang-up first (what a closed terminal sends), a kill if it is ignored.
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGHUP);
            if !matches!(
                wait_child(&mut child, Duration::from_secs(3), || false),
                Waited::Exited(_)
            ) {
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
            }
            255
        }
    }
}

/// True when nobody reads our stdout any more (a pipe's write end reports POLLERR).
fn peer_gone() -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let out = std::io::stdout();
    let mut fds = [PollFd::new(out.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
}

/// The program to run: a path as given, else searched on the app's PATH (its venv first).
fn resolve(p: &Prepared) -> String {
    let path = p.env.get("PATH").cloned().unwrap_or_default();
    if p.argv[0].contains('/') {
        return p.argv[0].clone();
    }
    std::env::split_paths(&path)
        .map(|d| d.join(&p.argv[0]))
        .find(|c| c.is_file())
        .map(|c| c.display().to_string())
        .unwrap_or_else(|| p.argv[0].clone())
}

/// Replaces this process with the command. Returns only on failure.
fn exec(p: Prepared) -> String {
    if let Err(e) = std::env::set_current_dir(&p.cwd) {
        return format!("cannot enter {}: {e}", p.cwd.display());
    }
    let to_c =
        |s: &str| CString::new(s.as_bytes()).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Result<Vec<CString>, String> = p.argv.iter().map(|a| to_c(a)).collect();
    let envp: Result<Vec<CString>, String> = p
        .env
        .iter()
        .map(|(k, v)| to_c(&format!("{k}={v}")))
        .collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let program = resolve(&p);
    let Ok(prog) = to_c(&program) else {
        return format!("{program:?} is not a valid program name");
    };
    match nix::unistd::execve(&prog, &argv, &envp) {
        Err(nix::errno::Errno::ENOENT) => {
            format!("{}: command not found in the app's environment", p.argv[0])
        }
        Err(e) => format!("cannot run {}: {e}", p.argv[0]),
        Ok(never) => match never {},
    }
}
