//! Push benchmark: jib beside two baselines on the same server, in the same run.
//! - **fab push**: Fabric 3 from PyPI running the seed's script (git push to a bare origin;
//!   clone, or fetch + reset --hard; python -m venv when missing; pip install -r; link the
//!   uWSGI ini into its own emperor, or touch its reload file; wait until the branch answers
//!   with the new code). Host keys come from the test's known_hosts with paramiko's
//!   RejectPolicy, never Fabric's default AutoAddPolicy.
//! - **plain**: the same steps as one `ssh` script each, without reloading anything.
//!
//! Prints medians with ratios, and what a load generator saw during the warm switch (failed
//! requests, p99, max). These machines are noisy: compare ratios, not absolute figures.

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 5;
const CLIENTS: usize = 4;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Plain baseline over a fresh `ssh` each step: no reload, no wait.
struct Plain<'a> {
    w: &'a World,
    dir: String,
}

impl Plain<'_> {
    fn ssh(&self, script: &str) {
        ssh_ok(self.w, HOST_ALIAS, script);
    }

    fn git_push(&self, branch: &str) {
        let out = Command::new("git")
            .args(["push", "-q", "-f"])
            .arg(format!("{HOST_ALIAS}:{}/repo.git", self.dir))
            .arg(format!("{branch}:{branch}"))
            .current_dir(&self.w.repo)
            .env("GIT_SSH_COMMAND", git_ssh(self.w))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }

    /// New checkout, new venv, pip install, switch the link.
    fn cold(&self, branch: &str, n: usize) {
        self.git_push(branch);
        self.ssh(&format!(
            "set -e; cd {d}; rm -rf r{n}; git clone -q -b {branch} repo.git r{n}; python3 -m venv r{n}/.venv; \
             r{n}/.venv/bin/pip install -q -r r{n}/requirements.txt; ln -sfn r{n} current",
            d = self.dir
        ));
    }

    /// fetch + reset in place, pip install -r (satisfied), touch the link.
    fn warm(&self, branch: &str) {
        self.git_push(branch);
        self.ssh(&format!(
            "set -e; cd {d}/current; git fetch -q origin {branch}; git reset -q --hard FETCH_HEAD; \
             .venv/bin/pip install -q -r requirements.txt; cd ..; ln -sfn $(readlink current) current",
            d = self.dir
        ));
    }
}

fn git_ssh(w: &World) -> String {
    format!("ssh -F {}", w.sshd.as_ref().unwrap().config.display())
}

/// The seed's `fab push`, as a Fabric 3 fabfile. Every branch gets its own vassal ini in the
/// fabfile's own emperor, listening on the port the caller gives it.
const FABFILE: &str = r#"
import os, shlex
import paramiko
from fabric import Connection, task

ROOT = os.environ["FAB_ROOT"]
INI = """[uwsgi]
plugins = python3
master = true
processes = 2
http-socket = 127.0.0.1:{port}
chdir = {d}/app
virtualenv = {d}/venv
module = mysite.wsgi:application
env = DJANGO_SETTINGS_MODULE=mysite.settings
env = JIB_BRANCH={branch}
touch-reload = {d}/reload
"""

def server():
    c = Connection(os.environ["FAB_HOST"], port=int(os.environ["FAB_PORT"]), user=os.environ["FAB_USER"],
                   connect_kwargs={"key_filename": os.environ["FAB_KEY"], "look_for_keys": False, "allow_agent": False})
    # Fabric's default is AutoAddPolicy: check the host key against the known_hosts we trust.
    c.client.load_host_keys(os.environ["FAB_KNOWN_HOSTS"])
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return c

@task
def push(c, branch, port, expect):
    c.run(f"git push -q -f fab {branch}:{branch}")
    s = server()
    d = f"{ROOT}/apps/{branch}"
    if s.run(f"test -d {d}/app", warn=True, hide=True).failed:
        s.run(f"mkdir -p {d} && git clone -q -b {branch} {ROOT}/origin.git {d}/app")
    else:
        with s.cd(f"{d}/app"):
            s.run(f"git fetch -q origin {branch} && git reset -q --hard FETCH_HEAD")
    if s.run(f"test -x {d}/venv/bin/python", warn=True, hide=True).failed:
        s.run(f"python3 -m venv {d}/venv")
    s.run(f"{d}/venv/bin/pip install -q --disable-pip-version-check -r {d}/app/requirements.txt")
    if s.run(f"test -e {ROOT}/vassals/{branch}.ini", warn=True, hide=True).failed:
        ini = shlex.quote(INI.format(port=port, d=d, branch=branch))
        s.run(f"printf %s {ini} > {d}/uwsgi.ini")
        s.run(f"touch {d}/reload && ln -s {d}/uwsgi.ini {ROOT}/vassals/{branch}.ini")
    else:
        s.run(f"touch {d}/reload")
    s.run(f"for i in $(seq 1500); do curl -sf http://127.0.0.1:{port}/ | grep -q '{expect}' && exit 0; "
          f"sleep 0.02; done; echo 'never answered {expect}' >&2; exit 1", hide=True)
"#;

/// Fabric 3 in a venv kept between runs (PyPI the first time).
fn fabric_venv() -> PathBuf {
    let venv = std::env::temp_dir().join("jib-bench-fabric");
    let fab = venv.join("bin/fab");
    if !fab.exists() {
        eprintln!(
            "installing Fabric 3 into {} (first run only)",
            venv.display()
        );
        let uv = Command::new("uv")
            .arg("venv")
            .arg("-q")
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        let ok = if uv {
            Command::new("uv")
                .args(["pip", "install", "-q", "--python"])
                .arg(venv.join("bin/python"))
                .arg("fabric>=3,<4")
                .status()
        } else {
            let st = Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status();
            assert!(st.is_ok_and(|s| s.success()), "python3 -m venv failed");
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "fabric>=3,<4"])
                .status()
        };
        assert!(ok.is_ok_and(|s| s.success()), "installing Fabric failed");
    }
    venv
}

/// The fab push baseline: its own bare origin, checkouts, venvs and uWSGI emperor.
struct Fab<'a> {
    w: &'a World,
    root: PathBuf,
    fab: PathBuf,
    fabfile_dir: PathBuf,
    ports: std::cell::RefCell<std::collections::HashMap<String, u16>>,
}

impl<'a> Fab<'a> {
    fn new(w: &'a World) -> Fab<'a> {
        let venv = fabric_venv();
        let root = w.root.parent().unwrap().join("fab");
        let fabfile_dir = w.tmp.path().join("fabfile");
        std::fs::create_dir_all(&fabfile_dir).unwrap();
        std::fs::write(fabfile_dir.join("fabfile.py"), FABFILE).unwrap();
        ssh_ok(
            w,
            HOST_ALIAS,
            &format!(
                "set -e; mkdir -p {r}/vassals {r}/apps; git init -q --bare {r}/origin.git; \
                 uwsgi --emperor '{r}/vassals/*.ini' --daemonize {r}/emperor.log --pidfile {r}/emperor.pid",
                r = root.display()
            ),
        );
        git(
            &w.repo,
            &[
                "remote",
                "add",
                "fab",
                &format!("{HOST_ALIAS}:{}/origin.git", root.display()),
            ],
        );
        Fab {
            w,
            root,
            fab: venv.join("bin/fab"),
            fabfile_dir,
            ports: Default::default(),
        }
    }

    fn port(&self, branch: &str) -> u16 {
        *self
            .ports
            .borrow_mut()
            .entry(branch.to_string())
            .or_insert_with(free_port)
    }

    /// `fab push`, returning once the branch answers with `expect`.
    fn push(&self, branch: &str, expect: &str) {
        let sshd = self.w.sshd.as_ref().unwrap();
        let out = Command::new(&self.fab)
            .arg("-r")
            .arg(&self.fabfile_dir)
            .args(["push", "--branch", branch, "--port"])
            .arg(self.port(branch).to_string())
            .args(["--expect", expect])
            .current_dir(&self.w.repo)
            .env("FAB_ROOT", &self.root)
            .env("FAB_HOST", "127.0.0.1")
            .env("FAB_PORT", sshd.port.to_string())
            .env(
                "FAB_USER",
                std::env::var("USER").unwrap_or_else(|_| "root".into()),
            )
            .env("FAB_KEY", sshd.dir.join("user_key"))
            .env("FAB_KNOWN_HOSTS", sshd.dir.join("known_hosts"))
            .env("GIT_SSH_COMMAND", git_ssh(self.w))
            .output()
            .unwrap();
        assert!(out.status.success(), "fab push {branch}: {}", text(&out));
    }
}

impl Drop for Fab<'_> {
    fn drop(&mut self) {
        // SIGINT stops the emperor and its vassals.
        let pid = std::fs::read_to_string(self.root.join("emperor.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
    }
}

/// The Django sample showing `mysite/version.py`'s VERSION, so a baseline can wait for new code.
fn sample(w: &World) {
    w.sample("django");
    let urls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/django/mysite/urls.py");
    let urls = std::fs::read_to_string(urls).unwrap().replace(
        "\"django %s on %s\\n\" % (django.get_version(), os.environ.get(\"JIB_BRANCH\", \"?\")),",
        "\"django %s on %s version %s\\n\" % (django.get_version(), os.environ.get(\"JIB_BRANCH\", \"?\"), VERSION),",
    );
    assert!(
        urls.contains("VERSION"),
        "the Django sample's urls.py changed: update the bench"
    );
    w.write(
        "mysite/urls.py",
        &format!("from mysite.version import VERSION\n{urls}"),
    );
    w.write("mysite/version.py", "VERSION = 0\n");
    w.commit("show the version");
}

fn version(w: &World, n: usize) -> String {
    w.write("mysite/version.py", &format!("VERSION = {n}\n"));
    w.commit(&format!("one-line change {n}"));
    format!("version {n}")
}

/// Runs `f` with `CLIENTS` clients hammering `port`/`host`, adding what they saw to `into`.
fn under_load(port: u16, host: &str, into: &mut LoadReport, f: impl FnOnce()) {
    let load = Load::start(port, host, CLIENTS);
    f();
    into.merge(load.stop());
}

fn main() {
    let w = World::new(Mode::Ssh);
    sample(&w);
    w.jib_ok(&["setup"]);
    // Warm the shared caches (uv for jib, pip for the baselines) once, outside the figures.
    w.jib_ok(&["push"]);
    let plain = Plain {
        w: &w,
        dir: w.root.parent().unwrap().join("plain").display().to_string(),
    };
    plain.ssh(&format!(
        "mkdir -p {d} && git init -q --bare {d}/repo.git",
        d = plain.dir
    ));
    plain.cold("main", 0);
    let fab = Fab::new(&w);
    fab.push("main", "version 0");

    let (mut jib_cold, mut jib_deps, mut plain_cold, mut fab_cold) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 1..=RUNS {
        // A new branch, dependencies unchanged: export, the shared venv, a new app boots.
        let branch = format!("cold{n}");
        git(&w.repo, &["checkout", "-q", "-b", &branch, "main"]);
        jib_cold.push(time(|| {
            w.jib_ok(&["push", &branch]);
        }));
        fab_cold.push(time(|| fab.push(&branch, "version 0")));
        plain_cold.push(time(|| plain.cold(&branch, n)));
        // A new branch with its own dependency set: a new venv from cached wheels.
        let branch = format!("deps{n}");
        git(&w.repo, &["checkout", "-q", "-b", &branch, "main"]);
        w.write(
            "requirements.txt",
            &format!("Django>=5.2,<5.3\n# variant {n}\n"),
        );
        w.commit(&format!("deps {n}"));
        jib_deps.push(time(|| {
            w.jib_ok(&["push", &branch]);
        }));
    }

    git(&w.repo, &["checkout", "-q", "main"]);
    let (mut jib_warm, mut plain_warm, mut fab_warm) = (Vec::new(), Vec::new(), Vec::new());
    let (mut jib_noop, mut plain_noop, mut fab_noop) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    let mut example = String::new();
    for _ in 0..RUNS {
        n += 1;
        let expect = version(&w, n);
        jib_warm.push(time(|| {
            example = w.jib_ok(&["push"]);
        }));
        fab_warm.push(time(|| fab.push("main", &expect)));
        plain_warm.push(time(|| plain.warm("main")));
        jib_noop.push(time(|| {
            w.jib_ok(&["push"]);
        }));
        fab_noop.push(time(|| fab.push("main", &expect)));
        plain_noop.push(time(|| plain.warm("main")));
    }

    // The warm switch again, with clients hammering the branch: jib through nginx and its
    // FastRouter, fab's vassal on its own port (one hop fewer).
    let (mut jib_load, mut fab_load) = (LoadReport::default(), LoadReport::default());
    let (mut jib_loaded, mut fab_loaded) = (Vec::new(), Vec::new());
    let fab_port = fab.port("main");
    for _ in 0..RUNS {
        n += 1;
        let expect = version(&w, n);
        under_load(w.port, &w.host("main"), &mut jib_load, || {
            jib_loaded.push(time(|| {
                w.jib_ok(&["push"]);
            }))
        });
        under_load(fab_port, "main", &mut fab_load, || {
            fab_loaded.push(time(|| fab.push("main", &expect)))
        });
    }
    let new_code = format!("version {n}");
    assert!(
        w.get("main", "/").1.contains(&new_code),
        "jib's main does not serve {new_code}"
    );

    // Commands on a warm connection: `jib status`, `jib list`, `jib exec main -- true`, and a
    // bare command over an open master (the floor any ssh-based command pays).
    let cfg = w.sshd.as_ref().unwrap().config.clone();
    let ctl = w.tmp.path().join("bench-master");
    let st = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-M", "-f", "-N", "-S"])
        .arg(&ctl)
        .arg(HOST_ALIAS)
        .status()
        .unwrap();
    assert!(st.success());
    w.jib_ok(&["exec", "main", "--", "true"]);
    let (mut jib_exec, mut jib_status, mut jib_list, mut ssh_exec) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut list_ssh, mut status_ssh) = (Vec::new(), Vec::new());
    let over_ssh = |args: &[&str]| {
        let out = w.jib_cmd(args).env("JIB_VIA_SERVE", "0").output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    };
    for _ in 0..10 {
        jib_exec.push(time(|| {
            w.jib_ok(&["exec", "main", "--", "true"]);
        }));
        jib_status.push(time(|| {
            w.jib_ok(&["status", "main"]);
        }));
        jib_list.push(time(|| {
            w.jib_ok(&["list"]);
        }));
        status_ssh.push(time(|| over_ssh(&["status", "main"])));
        list_ssh.push(time(|| over_ssh(&["list"])));
        ssh_exec.push(time(|| {
            let out = Command::new("ssh")
                .arg("-S")
                .arg(&ctl)
                .arg(HOST_ALIAS)
                .arg("true")
                .output()
                .unwrap();
            assert!(out.status.success());
        }));
    }
    let _ = Command::new("ssh")
        .arg("-S")
        .arg(&ctl)
        .args(["-O", "exit", HOST_ALIAS])
        .output();

    println!("\njib push benchmark — Django sample, sshd on loopback, median of {RUNS} runs");
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "", "jib", "fab push", "plain", "fab/jib", "plain/jib"
    );
    let row = |name: &str, j: Vec<Duration>, f: Option<Vec<Duration>>, p: Vec<Duration>| {
        let (j, p) = (median(j), median(p));
        let (fab, fab_ratio) = match f.map(median) {
            Some(f) => (
                format!("{:>7.0}ms", ms(f)),
                format!("{:>7.1}x", ms(f) / ms(j)),
            ),
            None => ("        —".into(), "       —".into()),
        };
        println!(
            "{name:<44} {:>7.0}ms {fab} {:>7.0}ms {fab_ratio} {:>8.1}x",
            ms(j),
            ms(p),
            ms(p) / ms(j)
        );
    };
    row(
        "cold push (new branch, deps in cache)",
        jib_cold,
        Some(fab_cold.clone()),
        plain_cold.clone(),
    );
    row(
        "cold push, new dependency set (new venv)",
        jib_deps,
        Some(fab_cold),
        plain_cold,
    );
    row(
        "warm re-push after a one-line change",
        jib_warm.clone(),
        Some(fab_warm),
        plain_warm,
    );
    row("no-op push", jib_noop, Some(fab_noop), plain_noop);
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    println!(
        "warm re-push, slowest of {RUNS}: jib {:.0}ms",
        ms(max(&jib_warm))
    );

    println!("\nduring {RUNS} warm switches each, {CLIENTS} clients (new connection per request):");
    println!(
        "{:<10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "", "push", "requests", "failed", "p50", "p99", "max"
    );
    for (name, r, t) in [
        ("jib", &jib_load, jib_loaded),
        ("fab push", &fab_load, fab_loaded),
    ] {
        println!(
            "{name:<10} {:>7.0}ms {:>9} {:>8} {:>6.1}ms {:>6.1}ms {:>6.1}ms",
            ms(median(t)),
            r.ok + r.bad,
            r.bad,
            ms(r.quantile(0.5)),
            ms(r.quantile(0.99)),
            ms(r.quantile(1.0)),
        );
        let mut seen: Vec<&String> = Vec::new();
        for f in &r.failures {
            if !seen.contains(&f) {
                seen.push(f);
            }
        }
        for f in seen.iter().take(3) {
            println!(
                "           failed: {}",
                f.chars().take(100).collect::<String>()
            );
        }
    }

    let ssh = median(ssh_exec);
    println!(
        "\ncommands on a warm connection (median of 10; \"over ssh\": JIB_VIA_SERVE=0, a jib-agent process per command):"
    );
    for (name, v) in [
        ("jib status main", jib_status),
        ("jib list", jib_list),
        ("jib status main, over ssh", status_ssh),
        ("jib list, over ssh", list_ssh),
        ("jib exec main -- true", jib_exec),
    ] {
        let j = median(v);
        println!(
            "{name:<26} {:>7.0}ms   (plain `ssh -S <open master> host true`: {:.0}ms, overhead {:+.0}ms)",
            ms(j),
            ms(ssh),
            ms(j) - ms(ssh)
        );
    }
    println!(
        "\nthe last warm `jib push`, as it printed:\n{}",
        example.trim_end()
    );
    println!(
        "\n(ratio = baseline / jib. fab push and jib wait until the new code answers; plain reloads nothing.)"
    );
}
