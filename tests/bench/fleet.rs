//! A hundred branches on one small server: 100 branches of the WSGI sample and 20 of the
//! Django sample in one root with `idle` (scale to zero). Prints disk, memory with everything
//! asleep against everything awake, wake-up latency against a request to an awake app,
//! `jib list` latency, and how long the emperor takes to bring 120 vassals back. Figures, not
//! assertions; compare within the run.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const WSGI: usize = 100;
const DJANGO: usize = 20;
/// Long enough that waking all of them one after the other leaves them all awake at once.
const IDLE: u64 = 30;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Resident memory of every process whose command line mentions `needle`, in MB.
fn rss_mb(needle: &str) -> f64 {
    let mut kb = 0u64;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmd =
            String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default())
                .replace('\0', " ");
        if !cmd.contains(needle) {
            continue;
        }
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        kb += status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    kb as f64 / 1024.0
}

fn count(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().parse::<u32>().is_ok()
                && String::from_utf8_lossy(
                    &std::fs::read(e.path().join("cmdline")).unwrap_or_default(),
                )
                .replace('\0', " ")
                .contains(needle)
        })
        .count()
}

fn du_mb(p: &std::path::Path) -> f64 {
    let out = Command::new("du").arg("-sk").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Waits until no vassal runs; returns how long it took and the command lines still running
/// when it gave up.
fn wait_all_asleep(root: &str) -> (Duration, Vec<String>) {
    let start = Instant::now();
    // Vassals run as `uwsgi --ini <root>/<app>/<app>.ini`.
    let needle = format!("--ini {root}/");
    while count(&needle) > 0 && start.elapsed() < Duration::from_secs(240) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let c = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).ok()?)
                .replace('\0', " ");
            c.contains(&needle).then_some(c)
        })
        .collect();
    (start.elapsed(), left)
}

fn main() {
    let w = World::new(Mode::Ssh);
    w.sample("django");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &toml.replace("[env.dev]\n", &format!("[env.dev]\nidle = \"{IDLE}s\"\n")),
    );
    w.write("hello.py", &hello_py("hello"));
    w.commit("fleet");
    w.jib_ok(&["setup"]);
    let root = w.root.display().to_string();

    // 20 Django branches (the sample's own entry point), then 100 branches of the WSGI app.
    let t = Instant::now();
    for n in 0..DJANGO {
        let b = format!("dj{n}");
        git(&w.repo, &["checkout", "-q", "-b", &b, "main"]);
        w.jib_ok(&["push", &b]);
    }
    let django_deploy = t.elapsed();
    git(&w.repo, &["checkout", "-q", "main"]);
    w.write(
        "deploy.toml",
        &std::fs::read_to_string(w.repo.join("deploy.toml"))
            .unwrap()
            .replace("mysite.wsgi:application", "hello:app"),
    );
    w.commit("wsgi sample");
    let t = Instant::now();
    for n in 0..WSGI {
        let b = format!("w{n}");
        git(&w.repo, &["checkout", "-q", "-b", &b, "main"]);
        w.jib_ok(&["push", &b]);
    }
    let wsgi_deploy = t.elapsed();
    let wsgi: Vec<String> = (0..WSGI).map(|n| format!("w{n}")).collect();
    let django: Vec<String> = (0..DJANGO).map(|n| format!("dj{n}")).collect();

    let disk = du_mb(&w.root);
    let venvs = du_mb(&w.root.join(".jib/venvs"));
    let releases: f64 = wsgi
        .iter()
        .chain(&django)
        .map(|a| du_mb(&w.root.join(a)))
        .sum();

    // All asleep.
    let (slept, left) = wait_all_asleep(&root);
    if !left.is_empty() {
        println!("still running after {:.0} s: {left:?}", slept.as_secs_f64());
    }
    let rss_asleep = rss_mb(&root) + rss_mb("jib-agent serve");
    let procs_asleep = count(&root);

    // Wake each one: first request to a sleeping app against a second request to it, awake.
    let (mut wake_w, mut warm_w, mut wake_d, mut warm_d) = (vec![], vec![], vec![], vec![]);
    for (apps, wake, warm) in [
        (&wsgi, &mut wake_w, &mut warm_w),
        (&django, &mut wake_d, &mut warm_d),
    ] {
        for a in apps.iter() {
            let t = Instant::now();
            let (s, _) = w.get(a, "/");
            wake.push(t.elapsed());
            assert_eq!(s, 200, "{a} did not wake");
            let t = Instant::now();
            w.get(a, "/");
            warm.push(t.elapsed());
        }
    }
    let rss_awake = rss_mb(&root) + rss_mb("jib-agent serve");
    let procs_awake = count(&root);

    // jib list with 120 apps.
    w.jib_ok(&["list"]);
    let mut list: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            w.jib_ok(&["list", "--json"]);
            t.elapsed()
        })
        .collect();
    let list_med = pct(&mut list, 0.5);
    let t = Instant::now();
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&w.sshd.as_ref().unwrap().config)
        .arg(HOST_ALIAS)
        .arg("true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let ssh_alone = t.elapsed();

    // The emperor restarting (crash or upgrade) with 120 vassals: until every app has its
    // on-demand socket again, and until all answer.
    let _ = wait_all_asleep(&root);
    let emperor = Command::new("pgrep")
        .args(["-f", &format!("uwsgi --emperor {root}/")])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&emperor.stdout).trim().to_string();
    let sockets = w.root.join(".jib/s");
    let t = Instant::now();
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    std::thread::sleep(Duration::from_millis(200));
    let n_sockets = || {
        std::fs::read_dir(&sockets)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".socket"))
            .count()
    };
    while n_sockets() < WSGI + DJANGO && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let emperor_sockets = t.elapsed();
    for a in wsgi.iter().chain(&django) {
        while w.get(a, "/").0 != 200 && t.elapsed() < Duration::from_secs(300) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let emperor_all = t.elapsed();

    println!(
        "\njib fleet benchmark — {WSGI} WSGI + {DJANGO} Django branches, one 2-core server, idle = {IDLE}s"
    );
    println!(
        "deploy: {DJANGO} Django branches in {:.1} s ({:.0} ms each), {WSGI} WSGI branches in {:.1} s ({:.0} ms each)",
        django_deploy.as_secs_f64(),
        ms(django_deploy) / DJANGO as f64,
        wsgi_deploy.as_secs_f64(),
        ms(wsgi_deploy) / WSGI as f64
    );
    println!(
        "disk: {disk:.0} MB in all; venvs {venvs:.0} MB (shared: one per dependency set), app dirs {releases:.1} MB ({:.2} MB per branch)",
        releases / (WSGI + DJANGO) as f64
    );
    println!(
        "memory: all asleep {rss_asleep:.0} MB in {procs_asleep} processes (after {:.0} s) | all awake {rss_awake:.0} MB in {procs_awake} processes ({:.1}x)",
        slept.as_secs_f64(),
        rss_awake / rss_asleep.max(1.0)
    );
    let (mut a, mut b, mut c, mut d) = (
        wake_w.clone(),
        warm_w.clone(),
        wake_d.clone(),
        warm_d.clone(),
    );
    println!(
        "wake-up, WSGI:   p50 {:.0} ms  p99 {:.0} ms   | same app awake: p50 {:.1} ms",
        ms(pct(&mut a, 0.5)),
        ms(pct(&mut a, 0.99)),
        ms(pct(&mut b, 0.5))
    );
    println!(
        "wake-up, Django: p50 {:.0} ms  p99 {:.0} ms   | same app awake: p50 {:.1} ms",
        ms(pct(&mut c, 0.5)),
        ms(pct(&mut c, 0.99)),
        ms(pct(&mut d, 0.5))
    );
    println!(
        "jib list with {} apps: median {:.0} ms over jib's kept ssh master (a fresh `ssh host true` here: {:.0} ms)",
        WSGI + DJANGO,
        ms(list_med),
        ms(ssh_alone)
    );
    println!(
        "emperor killed and restarted by jib-agent serve: all {} on-demand sockets back in {:.1} s, every app answering in {:.1} s",
        WSGI + DJANGO,
        emperor_sockets.as_secs_f64(),
        emperor_all.as_secs_f64()
    );
}
