//! Promote and rollback benchmark: jib against a plain baseline (copy the release, venv + pip
//! install of the frozen set, ln -s: a hand-written "promote"), same servers, same run. A load
//! generator runs through nginx during every jib promote and rollback and its failures are
//! printed. Medians; these machines are noisy, compare ratios.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 4;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Figures {
    promote: Vec<Duration>,
    rollback: Vec<Duration>,
    base_promote: Vec<Duration>,
    base_rollback: Vec<Duration>,
    requests: usize,
    failed: usize,
}

/// dev and prod (on the dev server, or on a second one), Django sample, branches a1…aN pushed.
fn run(own_host: bool) -> Figures {
    let mut w = World::new(Mode::Ssh);
    w.sample("django");
    w.add_prod(own_host, "");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["setup", "-e", "prod"]);
    w.jib_ok(&["push", "main"]);
    // The first promote builds prod's venv; the figures are for promotes after it.
    w.jib_ok(&["promote", "main", "--yes"]);
    let alias = if own_host { PROD_ALIAS } else { HOST_ALIAS };
    let base = w.tmp.path().join("baseline");
    let dev_main = w.root.join("main/current/src");
    ssh_ok(
        &w,
        alias,
        &format!(
            "set -e; mkdir -p {b}; cd {b}; cp -a {dev_main} r0; python3 -m venv r0/.venv; \
             r0/.venv/bin/pip freeze > /dev/null; ln -sfn r0 current",
            b = base.display(),
            dev_main = dev_main.display()
        ),
    );
    let mut f = Figures {
        promote: Vec::new(),
        rollback: Vec::new(),
        base_promote: Vec::new(),
        base_rollback: Vec::new(),
        requests: 0,
        failed: 0,
    };
    for n in 1..=RUNS {
        let branch = format!("a{n}");
        git(&w.repo, &["checkout", "-q", "-b", &branch, "main"]);
        w.write("mysite/version.py", &format!("VERSION = {n}\n"));
        w.commit(&format!("change {n}"));
        w.jib_ok(&["push"]);

        let load = Load::start(w.port, PROD_NAME, 2);
        let t = Instant::now();
        w.jib_ok(&["promote", &branch, "--yes"]);
        f.promote.push(t.elapsed());
        let t = Instant::now();
        w.jib_ok(&["rollback", "prod"]);
        f.rollback.push(t.elapsed());
        let r = load.stop();
        f.requests += r.ok + r.bad;
        f.failed += r.bad;
        // Leave prod on the branch, as a real promote would.
        w.jib_ok(&["rollback", "prod", "--to", &git_head(&w)]);

        // Baseline: the release's files to prod, a venv with the frozen set, switch the link.
        let src = w.root.join(format!("{branch}/current/src"));
        let freeze = w.root.join(".jib/venvs");
        let t = Instant::now();
        let from = if own_host {
            // Another server: the files travel (tar over ssh, as scp/rsync would).
            let tar = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar -C {src} -cf - . | ssh -F {cfg} {alias} 'mkdir -p {b}/r{n} && tar -C {b}/r{n} -xf -'",
                    src = src.display(),
                    cfg = w.sshd.as_ref().unwrap().config.display(),
                    b = base.display()
                ))
                .status()
                .unwrap();
            assert!(tar.success());
            String::new()
        } else {
            format!("cp -a {} r{n}; ", src.display())
        };
        ssh_ok(
            &w,
            alias,
            &format!(
                "set -e; cd {b}; {from}python3 -m venv r{n}/.venv; \
                 cat {freeze}/*/.jib-lock.txt | sort -u > r{n}/frozen.txt; \
                 r{n}/.venv/bin/pip install -q --no-deps -r r{n}/frozen.txt; ln -sfn r{n} current",
                b = base.display(),
                freeze = freeze.display(),
            ),
        );
        f.base_promote.push(t.elapsed());
        let t = Instant::now();
        ssh_ok(
            &w,
            alias,
            &format!("cd {b} && ln -sfn r{} current", n - 1, b = base.display()),
        );
        f.base_rollback.push(t.elapsed());
        ssh_ok(
            &w,
            alias,
            &format!("cd {b} && ln -sfn r{n} current", b = base.display()),
        );
    }
    f
}

fn git_head(w: &World) -> String {
    let out = git(&w.repo, &["rev-parse", "HEAD"]);
    String::from_utf8_lossy(&out.stdout).trim()[..12].to_string()
}

fn main() {
    println!("\njib promote benchmark — Django sample, sshd on loopback, median of {RUNS} runs");
    println!("{:<44} {:>10} {:>10} {:>8}", "", "jib", "baseline", "ratio");
    for (label, own_host) in [
        ("prod on the dev server", false),
        ("prod on its own server", true),
    ] {
        let f = run(own_host);
        for (name, j, b) in [
            (format!("promote, {label}"), f.promote, f.base_promote),
            (format!("rollback, {label}"), f.rollback, f.base_rollback),
        ] {
            let (j, b) = (median(j), median(b));
            println!(
                "{name:<44} {:>8.0}ms {:>8.0}ms {:>7.2}x",
                ms(j),
                ms(b),
                ms(b) / ms(j)
            );
        }
        println!(
            "  requests through nginx during jib's promotes and rollbacks: {} answered, {} failed",
            f.requests, f.failed
        );
    }
    println!(
        "(ratio = baseline / jib; the baseline neither reloads nor health-checks the app and drops \
         nothing only because it serves nothing; jib's figures include an import check, a chain \
         reload and waiting until every worker runs the new release)"
    );
}
