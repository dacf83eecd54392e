//! How the agent runs code a branch controls: dependency installs, any interpreter inside a
//! venv, the import check, the release step (DESIGN.md §9). Each runs as the app's user
//! (`run_as`) when the agent is root, in a session and process group of its own, with its own
//! working directory, `HOME` and caches (never root's), dies with the agent (PDEATHSIG), and
//! is killed as a group when it overruns its time or finishes, so nothing it started keeps
//! running. A group still running when its agent is killed (only its first process gets the
//! PDEATHSIG) is recorded under `<root>/.jib/locks/groups/` and killed before the next
//! sandboxed command of that root runs.
//!
//! [`wait_child`] is the one wait with a time limit, for these and for `jib exec`'s command.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Group, Pid, User};

use crate::layout::Layout;

/// Who app-controlled processes run as, and where they live.
#[derive(Debug, Clone)]
pub struct Sandbox {
    who: Option<(User, Group)>,
    home: PathBuf,
    /// One file per running group (named by its id): what a killed agent leaves behind.
    groups: PathBuf,
}

/// How a sandboxed run ended.
#[derive(Debug)]
pub struct Outcome {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// Captured stdout (with [`Sandbox::capture`]), at most the cap asked for.
    pub stdout: Vec<u8>,
    /// Captured stderr (with [`Sandbox::capture`]), its first 4 KiB: for error messages.
    pub stderr: Vec<u8>,
    /// Output beyond the cap was produced (the process was stopped).
    pub overflowed: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        !self.timed_out && !self.overflowed && self.status.is_some_and(|s| s.success())
    }
    /// "exited with …", "ran longer than 30s", for error messages.
    pub fn describe(&self, limit: Duration) -> String {
        if self.timed_out {
            format!("ran longer than {}s and was stopped", limit.as_secs())
        } else if self.overflowed {
            "wrote more output than allowed and was stopped".into()
        } else {
            match self.status {
                Some(s) => format!("exited with {s}"),
                None => "did not finish".into(),
            }
        }
    }
}

impl Sandbox {
    /// The sandbox of a root: its app user (when the agent is root and `run_as` names one) and
    /// that user's home, `<root>/.jib/home`, created on first use.
    pub fn new(run_as: Option<&str>, layout: &Layout) -> Result<Sandbox> {
        let who = crate::identity::app_user(run_as)?;
        if who.is_some() {
            // Orphans of what we run come to us, not to init: see `sweep`.
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        let home = match &who {
            Some((u, g)) => {
                let home = layout.app_home();
                crate::fsafe::ensure_dir(&home, 0o700, Some((u.uid.as_raw(), g.gid.as_raw())))
                    .with_context(|| format!("cannot prepare {} for {}", home.display(), u.name))?;
                home
            }
            // Not root, or nobody to drop to: processes run as the agent's own user.
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| layout.state()),
        };
        let groups = layout.locks().join("groups");
        let sandbox = Sandbox { who, home, groups };
        sandbox.kill_leftovers();
        Ok(sandbox)
    }

    /// What killed agents left running (see `kill_leftovers`), stopped now: serve does this
    /// every few seconds, so a SIGKILLed deploy's grandchildren do not run on until the next
    /// deploy. (Not through [`Sandbox::new`]: serve must not become their subreaper.)
    pub fn kill_orphaned_groups(run_as: Option<&str>, layout: &Layout) {
        if let Ok(who) = crate::identity::app_user(run_as) {
            let groups = layout.locks().join("groups");
            Sandbox {
                who,
                home: PathBuf::new(),
                groups,
            }
            .kill_leftovers();
        }
    }

    /// A group a killed agent was running (its direct child died with it, PDEATHSIG; what
    /// that child started did not): every process still in that session, if it is the apps'
    /// user's, is killed — before anything new runs (a venv half-built by an orphan, a second
    /// release step).
    fn kill_leftovers(&self) {
        let Some((uid, _)) = self.ids() else { return };
        for e in std::fs::read_dir(&self.groups)
            .into_iter()
            .flatten()
            .flatten()
        {
            let Some(sid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            // Its agent is alive (this one, or another request running now): not a leftover.
            let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
            if owner
                .trim()
                .parse::<i32>()
                .is_ok_and(|p| kill(Pid::from_raw(p), None).is_ok())
            {
                continue;
            }
            for _ in 0..10 {
                let members = session_members(sid, uid);
                if members.is_empty() {
                    break;
                }
                for pid in members {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = std::fs::remove_file(e.path());
        }
    }

    /// Notes that group `sid` runs for this agent, until [`Sandbox::forget`].
    fn record(&self, sid: u32) {
        if self.who.is_some() && crate::fsafe::ensure_dir(&self.groups, 0o700, None).is_ok() {
            let _ = std::fs::write(
                self.groups.join(sid.to_string()),
                std::process::id().to_string(),
            );
        }
    }

    fn forget(&self, sid: u32) {
        let _ = std::fs::remove_file(self.groups.join(sid.to_string()));
    }

    /// Kills what escaped the group kill: a process that left its session (`setsid`) and
    /// whose parent then died is handed to us (we are a child subreaper) — so any process of
    /// the apps' user whose parent is this agent, and which is not a child we are waiting
    /// for, is such an escapee.
    fn sweep(&self) {
        let Some((uid, _)) = self.ids() else { return };
        let me = std::process::id().to_string();
        for _ in 0..10 {
            let mut found = false;
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let name = e.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                    continue;
                };
                let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
                    continue;
                };
                if status_field(&status, "PPid:").as_deref() == Some(me.as_str())
                    && status_field(&status, "Uid:").is_some_and(|u| u == uid.to_string())
                {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    // Reap it: it is our child now.
                    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
                    found = true;
                }
            }
            if !found {
                break;
            }
        }
    }

    /// The app's user and group, when processes drop to them.
    pub fn user(&self) -> Option<&(User, Group)> {
        self.who.as_ref()
    }

    /// `(uid, gid)` of the app's user, when processes drop to it.
    pub fn ids(&self) -> Option<(u32, u32)> {
        self.who
            .as_ref()
            .map(|(u, g)| (u.uid.as_raw(), g.gid.as_raw()))
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A command that will run sandboxed: a clean environment (PATH, HOME, USER, LANG), the
    /// sandbox's home as working directory, its own session, the app's user, PDEATHSIG.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .current_dir(&self.home)
            .stdin(Stdio::null());
        if let Some((u, _)) = &self.who {
            cmd.env("USER", &u.name).env("LOGNAME", &u.name);
        }
        let ids = self.ids();
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Its own session: one group to kill, no controlling terminal to read from.
                nix::unistd::setsid()?;
                if let Some((uid, gid)) = ids {
                    let gid = nix::unistd::Gid::from_raw(gid);
                    nix::unistd::setgroups(&[gid])?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))?;
                }
                // After the uid change (which clears it): die with the agent.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                if nix::unistd::getppid().as_raw() != parent {
                    // The agent died before the signal was armed.
                    return Err(std::io::Error::other("agent gone"));
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs `cmd` (from [`Sandbox::command`]) with its output going to `output` (or nowhere),
    /// for at most `limit`; the whole group is killed when it overruns, and after it exits.
    pub fn run(
        &self,
        cmd: &mut Command,
        limit: Duration,
        output: Option<&File>,
    ) -> Result<Outcome> {
        match output {
            Some(f) => {
                cmd.stdout(f.try_clone()?).stderr(f.try_clone()?);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().with_context(|| describe_cmd(cmd))?;
        let sid = child.id();
        self.record(sid);
        let outcome = wait_group(child, limit, None);
        self.sweep();
        self.forget(sid);
        Ok(outcome)
    }

    /// Like [`Sandbox::run`], keeping at most `cap` bytes of stdout and the start of stderr.
    pub fn capture(&self, cmd: &mut Command, limit: Duration, cap: u64) -> Result<Outcome> {
        // Anonymous in-memory files: no pipe to deadlock on, nothing on disk to trust.
        let memfd = |name: &str| -> Result<File> {
            Ok(File::from(
                rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)
                    .context("memfd_create")?,
            ))
        };
        let (mut out, mut err) = (memfd("jib-stdout")?, memfd("jib-stderr")?);
        cmd.stdout(out.try_clone()?).stderr(err.try_clone()?);
        let child = cmd.spawn().with_context(|| describe_cmd(cmd))?;
        let sid = child.id();
        self.record(sid);
        let mut outcome = wait_group(child, limit, Some((&out, cap)));
        self.sweep();
        self.forget(sid);
        out.seek(SeekFrom::Start(0))?;
        out.take(cap).read_to_end(&mut outcome.stdout)?;
        err.seek(SeekFrom::Start(0))?;
        err.take(4096).read_to_end(&mut outcome.stderr)?;
        Ok(outcome)
    }
}

/// The first value of a `/proc/<pid>/status` line (`Uid:` gives the real uid).
fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
}

/// The processes of session `sid` that belong to `uid` (from /proc: the kernel's word).
fn session_members(sid: i32, uid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // stat: `pid (comm) state ppid pgrp session …`; comm may hold anything but `)`.
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let session = rest
            .split_whitespace()
            .nth(3)
            .and_then(|s| s.parse::<i32>().ok());
        let owner = std::fs::read_to_string(e.path().join("status"))
            .ok()
            .and_then(|st| status_field(&st, "Uid:"))
            .and_then(|u| u.parse::<u32>().ok());
        if session == Some(sid) && owner == Some(uid) {
            out.push(pid);
        }
    }
    out
}

fn describe_cmd(cmd: &Command) -> String {
    format!("cannot run {}", cmd.get_program().to_string_lossy())
}

/// How waiting for a child ended.
#[derive(Debug)]
pub enum Waited {
    Exited(ExitStatus),
    /// Still running after the limit.
    TimedOut,
    /// Still running when the caller's condition said to stop waiting.
    Stopped,
    /// Its status could not be read.
    Lost,
}

/// Waits up to `limit` for `child` to exit, or until `stop()` says to stop. Polls often at
/// first (a short command is noticed within a millisecond or two), then every 20 ms.
pub fn wait_child(
    child: &mut std::process::Child,
    limit: Duration,
    mut stop: impl FnMut() -> bool,
) -> Waited {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Waited::Exited(st),
            Ok(None) => {}
            Err(_) => return Waited::Lost,
        }
        if start.elapsed() > limit {
            return Waited::TimedOut;
        }
        if stop() {
            return Waited::Stopped;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Waits for `child` (a session leader) up to `limit`, then kills its whole group; also when
/// `watch`'s size passes its cap.
fn wait_group(
    mut child: std::process::Child,
    limit: Duration,
    watch: Option<(&File, u64)>,
) -> Outcome {
    let pgid = Pid::from_raw(-(child.id() as i32));
    let overflowed = || watch.is_some_and(|(f, cap)| f.metadata().is_ok_and(|m| m.len() > cap));
    let mut outcome = Outcome {
        status: None,
        timed_out: false,
        stdout: Vec::new(),
        stderr: Vec::new(),
        overflowed: false,
    };
    match wait_child(&mut child, limit, overflowed) {
        Waited::Exited(st) => outcome.status = Some(st),
        Waited::Lost => {}
        stopped => {
            outcome.timed_out = matches!(stopped, Waited::TimedOut);
            outcome.overflowed = matches!(stopped, Waited::Stopped);
            let _ = kill(pgid, Signal::SIGKILL);
            outcome.status = child.wait().ok();
        }
    }
    // Whatever it left behind in its group goes with it.
    let _ = kill(pgid, Signal::SIGKILL);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox {
            who: None,
            home: std::env::temp_dir(),
            groups: std::env::temp_dir().join("jib-test-groups"),
        }
    }

    #[test]
    fn runs_in_its_own_group_and_kills_it_on_timeout() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("late");
        let s = sandbox();
        // The background sleeper shares the group: it must not write after the kill.
        let mut c = s.command("/bin/sh");
        c.arg("-c").arg(format!(
            "(sleep 1; echo late > {}) & sleep 30",
            marker.display()
        ));
        let o = s.run(&mut c, Duration::from_millis(200), None).unwrap();
        assert!(o.timed_out && !o.success());
        std::thread::sleep(Duration::from_millis(1300));
        assert!(!marker.exists(), "a member of the group survived the kill");
    }

    #[test]
    fn leftovers_die_when_the_command_finishes() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("late");
        let s = sandbox();
        let mut c = s.command("/bin/sh");
        c.arg("-c").arg(format!(
            "(sleep 1; echo late > {}) & exit 0",
            marker.display()
        ));
        assert!(
            s.run(&mut c, Duration::from_secs(5), None)
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_millis(1300));
        assert!(!marker.exists());
    }

    #[test]
    fn capture_is_capped_and_env_is_clean() {
        let s = sandbox();
        // SAFETY: tests of this module don't read the environment concurrently.
        unsafe { std::env::set_var("JIB_TEST_SECRET", "x") };
        let mut c = s.command("/bin/sh");
        c.arg("-c").arg("echo ${JIB_TEST_SECRET:-clean}; pwd");
        let o = s.capture(&mut c, Duration::from_secs(5), 1000).unwrap();
        assert!(o.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("clean\n"), "{out}");
        let mut c = s.command("/bin/sh");
        c.arg("-c").arg("yes | head -c 100000");
        let o = s.capture(&mut c, Duration::from_secs(5), 1000).unwrap();
        assert!(o.stdout.len() <= 1000);
    }
}
