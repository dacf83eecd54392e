//! Push benchmark: jib against a plain baseline (ssh + git push/clone/fetch + python -m venv +
//! pip install -r + ln -s, the hand-written `fab push`), same server, same run. Prints the
//! median of several runs of each and the ratio; these machines are noisy, compare ratios.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Plain baseline over a fresh `ssh` each step, as a Fabric script does.
struct Baseline<'a> {
    w: &'a World,
    dir: String,
}

impl Baseline<'_> {
    fn ssh(&self, script: &str) {
        ssh_ok(self.w, HOST_ALIAS, script);
    }

    fn git_push(&self, branch: &str) {
        let cfg = &self.w.sshd.as_ref().unwrap().config;
        let out = Command::new("git")
            .args(["push", "-q", "-f"])
            .arg(format!("{HOST_ALIAS}:{}/repo.git", self.dir))
            .arg(format!("{branch}:{branch}"))
            .current_dir(&self.w.repo)
            .env("GIT_SSH_COMMAND", format!("ssh -F {}", cfg.display()))
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

    /// fab push: fetch + reset in place, pip install -r (satisfied), touch the link.
    fn warm(&self, branch: &str) {
        self.git_push(branch);
        self.ssh(&format!(
            "set -e; cd {d}/current; git fetch -q origin {branch}; git reset -q --hard FETCH_HEAD; \
             .venv/bin/pip install -q -r requirements.txt; cd ..; ln -sfn $(readlink current) current",
            d = self.dir
        ));
    }
}

fn main() {
    let w = World::new(Mode::Ssh);
    w.sample("django");
    w.jib_ok(&["setup"]);
    // Warm the shared caches (uv for jib, pip for the baseline) once, outside the figures.
    w.jib_ok(&["push"]);
    let base = Baseline {
        w: &w,
        dir: w.root.join("baseline").display().to_string(),
    };
    base.ssh(&format!(
        "mkdir -p {d} && git init -q --bare {d}/repo.git",
        d = base.dir
    ));
    base.cold("main", 0);

    let (mut jib_cold, mut jib_deps, mut base_cold) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=RUNS {
        // A new branch, dependencies unchanged: export, the shared venv, a new app boots.
        let branch = format!("cold{n}");
        git(&w.repo, &["checkout", "-q", "-b", &branch, "main"]);
        jib_cold.push(time(|| {
            w.jib_ok(&["push", &branch]);
        }));
        base_cold.push(time(|| base.cold(&branch, n)));
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
    let (mut jib_warm, mut base_warm, mut jib_noop, mut base_noop) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 1..=RUNS {
        w.write("mysite/version.py", &format!("VERSION = {n}\n"));
        w.commit(&format!("one-line change {n}"));
        jib_warm.push(time(|| {
            w.jib_ok(&["push"]);
        }));
        base_warm.push(time(|| base.warm("main")));
        jib_noop.push(time(|| {
            w.jib_ok(&["push"]);
        }));
        base_noop.push(time(|| base.warm("main")));
    }

    // `jib exec <b> -- true` over jib's open master vs. a bare command over an open master.
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
    let (mut jib_exec, mut ssh_exec) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        jib_exec.push(time(|| {
            w.jib_ok(&["exec", "main", "--", "true"]);
        }));
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
    println!("{:<42} {:>10} {:>10} {:>8}", "", "jib", "baseline", "ratio");
    for (name, j, b) in [
        (
            "cold push (new branch, deps in cache)",
            jib_cold,
            base_cold.clone(),
        ),
        (
            "cold push, new dependency set (new venv)",
            jib_deps,
            base_cold,
        ),
        ("warm re-push after a one-line change", jib_warm, base_warm),
        ("no-op push", jib_noop, base_noop),
    ] {
        let (j, b) = (median(j), median(b));
        println!(
            "{name:<42} {:>8.0}ms {:>8.0}ms {:>7.1}x",
            j.as_secs_f64() * 1000.0,
            b.as_secs_f64() * 1000.0,
            b.as_secs_f64() / j.as_secs_f64()
        );
    }
    let (j, b) = (median(jib_exec), median(ssh_exec));
    println!(
        "\njib exec main -- true (median of 10)          {:>8.0}ms   plain `ssh -S <open master> host true`: {:.0}ms   overhead {:+.0}ms",
        j.as_secs_f64() * 1000.0,
        b.as_secs_f64() * 1000.0,
        (j.as_secs_f64() - b.as_secs_f64()) * 1000.0
    );
    println!(
        "(ratio = baseline / jib; the baseline's numbers do not include reloading the app, jib's include a health check of the new release)"
    );
}
