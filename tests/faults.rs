//! The fault-injection suite (issue 15). Every step of push, promote, rollback, restart, env
//! set and destroy — every failpoint the command passes (src/failpoint.rs, debug builds only),
//! learnt from a clean run of it — is stopped there and hit: the agent SIGKILLed, the ssh
//! connection cut, or the disk full (the roots are small tmpfs mounts). Clients load the branch
//! and prod through nginx all along. After each hit:
//! - no request failed;
//! - every app's `current` is a release checked `ok` (serve repairs a dead deploy's within
//!   seconds);
//! - no lock is held, and nothing of the hit command still runs;
//! - every venv marked ready is complete;
//! - the same command, run again, succeeds.
//!
//! One test per fault, so the three run side by side; each prints its table.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    /// SIGKILL of the agent process at the point.
    Kill,
    /// The ssh connection cut at the point (the master process killed: both ends see it go).
    Cut,
    /// The root's file system full at the point, until the command has ended.
    Disk,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmd {
    Push,
    Promote,
    Rollback,
    Restart,
    EnvSet,
    Destroy,
}

const CMDS: [Cmd; 6] = [
    Cmd::Push,
    Cmd::Promote,
    Cmd::Rollback,
    Cmd::Restart,
    Cmd::EnvSet,
    Cmd::Destroy,
];

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Push => "push",
            Cmd::Promote => "promote",
            Cmd::Rollback => "rollback",
            Cmd::Restart => "restart",
            Cmd::EnvSet => "env set",
            Cmd::Destroy => "destroy",
        }
    }
}

/// Size of each root's file system: room for a few dozen releases and venvs.
const DISK_MB: u64 = 384;

/// A world whose two roots (dev and prod) are tmpfs mounts of their own, unmounted once the
/// world (and its serves) stopped.
struct Suite {
    w: Option<World>,
    roots: Vec<PathBuf>,
    serial: usize,
}

impl Drop for Suite {
    fn drop(&mut self) {
        drop(self.w.take());
        for r in &self.roots {
            let _ = Command::new("umount").arg("-l").arg(r).status();
        }
    }
}

fn mount_tmpfs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={DISK_MB}m,mode=0755"))
        .arg("tmpfs")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "cannot mount a tmpfs on {}", dir.display());
}

impl Suite {
    fn new() -> Suite {
        let mut w = World::new(Mode::Ssh);
        let prod = w.tmp.path().join("prod");
        mount_tmpfs(&w.root);
        mount_tmpfs(&prod);
        let mut s = Suite {
            w: None,
            roots: vec![w.root.clone(), prod.clone()],
            serial: 0,
        };
        let toml = w
            .deploy_toml(
                "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\n\
                 python = \"/usr/bin/python3\"\nrelease = \"true\"\nhealth_timeout = 30\n",
            )
            // Apps are not root's: what a killed step leaves is the sandbox's to find.
            .replacen(
                "\n[env.dev.nginx]",
                "run_as = \"nobody\"\n\n[env.dev.nginx]",
                1,
            );
        w.write("deploy.toml", &toml);
        w.write("requirements.txt", "six\n");
        w.write("hello.py", &hello_py("v0"));
        w.commit("v0");
        assert_eq!(w.add_prod(false, "run_as = \"nobody\""), prod);
        w.jib_ok(&["setup"]);
        w.jib_ok(&["setup", "-e", "prod"]);
        w.jib_ok(&["push"]);
        w.jib_ok(&["promote", "main", "--yes"]);
        for r in &s.roots {
            std::fs::create_dir_all(r.join(".jib/failpoints")).unwrap();
        }
        s.w = Some(w);
        s
    }

    fn w(&self) -> &World {
        self.w.as_ref().expect("the world")
    }

    fn points(&self, root: &Path) -> PathBuf {
        root.join(".jib/failpoints")
    }

    /// A new commit of main: another greeting, and another venv (its requirements differ).
    fn new_commit(&mut self) {
        self.serial += 1;
        let n = self.serial;
        let w = self.w();
        w.write("hello.py", &hello_py(&format!("v{n}")));
        w.write("requirements.txt", &format!("six\n# build {n}\n"));
        w.commit(&format!("v{n}"));
    }

    /// What the command needs first (a commit to push, a release to promote, a branch to
    /// destroy); then its arguments.
    fn prepare(&mut self, cmd: Cmd) -> Vec<String> {
        let own = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match cmd {
            Cmd::Push => {
                self.new_commit();
                own(&["push"])
            }
            Cmd::Promote => {
                self.new_commit();
                self.w().jib_ok(&["push"]);
                own(&["promote", "main", "--yes"])
            }
            Cmd::Rollback => {
                // Always a release to go back to (rollbacks walk back through the kept ones).
                self.new_commit();
                self.w().jib_ok(&["push"]);
                self.w().jib_ok(&["promote", "main", "--yes"]);
                own(&["rollback", "prod"])
            }
            Cmd::Restart => own(&["restart", "main"]),
            Cmd::EnvSet => {
                self.serial += 1;
                vec![
                    "env".into(),
                    "main".into(),
                    "set".into(),
                    format!("FAULT_SERIAL={}", self.serial),
                ]
            }
            Cmd::Destroy => {
                self.serial += 1;
                let branch = format!("gone{}", self.serial);
                git(&self.w().repo, &["branch", &branch]);
                self.w().jib_ok(&["push", &branch]);
                vec!["destroy".into(), branch, "--yes".into()]
            }
        }
    }

    /// The points a clean run of `cmd` passes, on either root, in order.
    fn discover(&mut self, cmd: Cmd) -> Vec<(PathBuf, String)> {
        let args = self.prepare(cmd);
        for r in &self.roots {
            let _ = std::fs::remove_file(self.points(r).join("passed"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.w().jib_ok(&args);
        let mut found = Vec::new();
        for r in &self.roots {
            let passed = std::fs::read_to_string(self.points(r).join("passed")).unwrap_or_default();
            for p in passed.lines() {
                let p = (r.clone(), p.to_string());
                if !found.contains(&p) {
                    found.push(p);
                }
            }
        }
        assert!(!found.is_empty(), "{} passed no failpoint", cmd.name());
        found
    }

    /// Fills `root`'s file system to the last block; returns what to remove afterwards.
    fn fill(root: &Path) -> PathBuf {
        let f = root.join(".fill");
        let mut file = std::fs::File::create(&f).unwrap();
        let chunk = vec![0u8; 1 << 20];
        while file.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        f
    }

    /// One cell: `cmd` stopped at `point` (on `root`) and hit with `fault`.
    fn cell(&mut self, cmd: Cmd, root: &Path, point: &str, fault: Fault) -> Result<String, String> {
        let args = self.prepare(cmd);
        let w = self.w();
        let dev = Load::start(w.port, &w.host("main"), 2);
        let prod = Load::start(w.port, PROD_NAME, 2);
        let dir = self.points(root);
        let (armed, hit) = (dir.join(point), dir.join(format!("{point}.hit")));
        let _ = std::fs::remove_file(&hit);
        std::fs::write(&armed, "").unwrap();
        let log = w.tmp.path().join("fault-cmd.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = w
            .jib_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut result = Ok(String::new());
        let start = Instant::now();
        while !hit.exists() {
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(90) {
                result = Err("the point was not reached".to_string());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut fills = Vec::new();
        if result.is_ok() {
            match fault {
                Fault::Kill => {
                    let pid = std::fs::read_to_string(&hit).unwrap();
                    let _ = Command::new("kill").args(["-9", pid.trim()]).status();
                }
                Fault::Cut => {
                    for pid in master_pids(w) {
                        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                    }
                }
                Fault::Disk => fills = self.roots.iter().map(|r| Self::fill(r)).collect(),
            }
        }
        let _ = std::fs::remove_file(&armed);
        let code = wait_child(&mut child, 180);
        for f in fills {
            let _ = std::fs::remove_file(f);
        }
        let outcome = match code {
            Some(0) => "ok".to_string(),
            Some(c) => format!("exit {c}"),
            None => "hung".to_string(),
        };
        if code.is_none() {
            result = Err("the command did not end within 180 s".to_string());
        }
        if result.is_ok() {
            result = self.check(&args);
        }
        let (d, p) = (dev.stop(), prod.stop());
        if result.is_ok() && d.bad + p.bad > 0 {
            result = Err(format!(
                "{} failed requests under load: {:?}",
                d.bad + p.bad,
                d.failures
                    .iter()
                    .chain(&p.failures)
                    .take(3)
                    .collect::<Vec<_>>()
            ));
        }
        let _ = std::fs::remove_file(&hit);
        match result {
            Ok(_) => Ok(outcome),
            Err(e) => Err(format!(
                "{outcome}: {e}\n--- the command said:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )),
        }
    }

    /// What must hold after any hit, given time to settle; then the same command again.
    fn check(&mut self, args: &[String]) -> Result<String, String> {
        let settle = |what: &str, secs: u64, f: &mut dyn FnMut() -> Option<String>| {
            let start = Instant::now();
            loop {
                match f() {
                    None => return Ok(()),
                    Some(why) if start.elapsed() > Duration::from_secs(secs) => {
                        return Err(format!("{what}: {why}"));
                    }
                    Some(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        };
        let roots = self.roots.clone();
        settle("a lock is still held", 90, &mut || held_lock(&roots))?;
        settle("something of the command still runs", 20, &mut || {
            leftover_process(&roots)
        })?;
        settle("current is not a release checked ok", 30, &mut || {
            unchecked_current(&roots)
        })?;
        settle("an instance of the hit command still runs", 30, &mut || {
            extra_instances(&roots)
        })?;
        if let Some(why) = incomplete_ready_venv(&roots) {
            return Err(why);
        }
        // A destroy hit half-way: the app may still be there, and destroying it must work.
        if args[0] == "destroy" {
            let apps = self.w().jib_json(&["list", "--json"]);
            let name = &args[1];
            if apps
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["branch"] == name.as_str()))
            {
                self.run_again(args)?;
            }
        }
        let cmd = match args[0].as_str() {
            "push" => Cmd::Push,
            "promote" => Cmd::Promote,
            "rollback" => Cmd::Rollback,
            "restart" => Cmd::Restart,
            "env" => Cmd::EnvSet,
            _ => Cmd::Destroy,
        };
        let again = self.prepare(cmd);
        self.run_again(&again)?;
        if let Some(why) = unchecked_current(&self.roots) {
            return Err(format!("after the next command: {why}"));
        }
        Ok(String::new())
    }

    fn run_again(&self, args: &[String]) -> Result<(), String> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.w().jib(&a);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "the next `jib {}` failed:\n{}",
                a.join(" "),
                text(&out)
            ))
        }
    }
}

fn wait_child(child: &mut std::process::Child, secs: u64) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A lock file under either root that something holds.
fn held_lock(roots: &[PathBuf]) -> Option<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "lock") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for r in roots {
        walk(&r.join(".jib/locks"), &mut files);
    }
    for f in files {
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(&f) else {
            continue;
        };
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(&f).unwrap_or_default();
            return Some(format!("{} ({holder})", f.display()));
        }
        let _ = file.unlock();
    }
    None
}

/// A process working in either root that is neither serve nor uWSGI: a verb still running,
/// or what one started (an installer, the release step, an import check).
fn leftover_process(roots: &[PathBuf]) -> Option<String> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let inside = roots
            .iter()
            .any(|r| cwd.starts_with(r) || cmdline.contains(&r.display().to_string()));
        let ours = comm.starts_with("uwsgi") || cmdline.contains(" serve --root ");
        if inside && !ours && pid != std::process::id() {
            return Some(format!("pid {pid}: {}", cmdline.trim()));
        }
    }
    None
}

/// An app of either root whose `current` is not a release whose state is `ok`.
fn unchecked_current(roots: &[PathBuf]) -> Option<String> {
    for r in roots {
        for e in std::fs::read_dir(r).into_iter().flatten().flatten() {
            let cur = e.path().join("current");
            let Ok(link) = std::fs::read_link(&cur) else {
                continue;
            };
            let meta = std::fs::read_to_string(e.path().join(&link).join("release.json"));
            let state = meta
                .ok()
                .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
                .and_then(|v| v["state"].as_str().map(str::to_string));
            if state.as_deref() != Some("ok") {
                return Some(format!("{} is {state:?}", cur.display()));
            }
        }
    }
    None
}

/// An app of either root with more than one uWSGI instance (vassal): a new one the hit
/// command started and nobody stopped, or an old one it never withdrew.
fn extra_instances(roots: &[PathBuf]) -> Option<String> {
    for r in roots {
        for e in std::fs::read_dir(r).into_iter().flatten().flatten() {
            let app = e.file_name().to_string_lossy().into_owned();
            let inis: Vec<String> = std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|f| f.starts_with(&format!("{app}~")) && f.ends_with(".ini"))
                .collect();
            if inis.len() > 1 {
                return Some(format!("{app}: {inis:?}"));
            }
        }
    }
    None
}

/// A venv marked ready (its record written) that cannot import what it was built with.
fn incomplete_ready_venv(roots: &[PathBuf]) -> Option<String> {
    for r in roots {
        for e in std::fs::read_dir(r.join(".jib/venvs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !e.path().join(".jib-ready.json").exists() {
                continue;
            }
            let ok = Command::new(e.path().join("bin/python"))
                .args(["-c", "import six"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Some(format!(
                    "{} is marked ready but incomplete",
                    e.path().display()
                ));
            }
        }
    }
    None
}

fn run_suite(fault: Fault) {
    let mut s = Suite::new();
    let mut table: Vec<(Cmd, String, Result<String, String>)> = Vec::new();
    for cmd in CMDS {
        let points = s.discover(cmd);
        for (root, point) in points {
            let r = s.cell(cmd, &root, &point, fault);
            // Where the point was: the environment's root the agent ran for.
            let env = if root == s.roots[0] { "dev" } else { "prod" };
            let point = format!("{env}: {point}");
            eprintln!(
                "{fault:?} {} {point}: {:?}",
                cmd.name(),
                r.as_ref().map(|_| "pass")
            );
            table.push((cmd, point, r));
        }
    }
    let mut report = format!(
        "\nfault: {fault:?}\n{:<9} {:<30} {:<10} {}\n",
        "command", "point", "it ended", "then"
    );
    for (cmd, point, r) in &table {
        let (said, verdict) = match r {
            Ok(o) => (o.as_str(), "pass".to_string()),
            Err(e) => (e.split(':').next().unwrap_or(""), "FAIL".to_string()),
        };
        report.push_str(&format!(
            "{:<9} {:<30} {:<10} {verdict}\n",
            cmd.name(),
            point,
            said
        ));
    }
    println!("{report}");
    let failed: Vec<String> = table
        .iter()
        .filter_map(|(c, p, r)| r.as_ref().err().map(|e| format!("{} {p}: {e}", c.name())))
        .collect();
    assert!(failed.is_empty(), "{report}\n{}", failed.join("\n\n"));
}

#[test]
fn sigkill_of_the_agent_at_every_step() {
    run_suite(Fault::Kill);
}

#[test]
fn connection_cut_at_every_step() {
    run_suite(Fault::Cut);
}

#[test]
fn full_disk_at_every_step() {
    run_suite(Fault::Disk);
}
