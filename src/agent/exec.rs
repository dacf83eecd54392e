//! `jib-agent exec`: becomes a command running in an app's environment — its venv, its
//! variables, cwd = its current release — so stdin, stdout, stderr, signals and the exit status
//! are the command's own, end to end.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::time::Duration;

use super::ctx::{app_environment, find_app, sandbox};
use crate::layout::AppLayout;
use crate::protocol::{Envelope, Event, ExecCommand, RemoteError, Request, version_line};
use crate::release;
use crate::sandbox::{Waited, wait_child};
use crate::venv;

/// Exit status when jib-agent itself fails before the command starts (like `env`'s 125).
const AGENT_FAILED: i32 = 125;

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

/// A terminal exec whose request was stashed first.
pub fn run_stashed(token: &str) -> i32 {
    match super::stash::unstash(token) {
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
    } = &env.request
    else {
        return hello_and_fail(
            json,
            Some(RemoteError::new("handshake", "not an exec request")),
        );
    };
    let peer = super::ctl::Peer::current();
    if let Err(e) = super::admit(&env.request, peer.as_ref()) {
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
    let prepared = find_app(server, app, "exec")
        .and_then(|(l, a)| prepare(&a, command).map(|p| (l, p)))
        .and_then(|(layout, mut p)| {
            p.env.extend(extra_env.clone());
            // The command runs as the app does: never as root when run_as is set, with the
            // apps' own home (not root's, not the account's possibly missing one).
            let sandbox = sandbox(server, &layout, "exec")?;
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

fn prepare(app: &AppLayout, command: &ExecCommand) -> Result<Prepared, RemoteError> {
    let Some(meta) = release::current(app) else {
        return Err(
            RemoteError::new("exec", format!("{} has no current release", app.name))
                .hint(format!("deploy it first: jib push {}", app.name)),
        );
    };
    let venv_dir = venv::dir_of_site_packages(&meta.site_packages).unwrap_or_default();
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
