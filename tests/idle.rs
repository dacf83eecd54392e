//! Scale to zero: an idle branch has no process left; the first requests to it (even several
//! at once) start exactly one instance and all get their answer. Logs, env and exec still work
//! on a sleeping branch without waking it.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// (pid, ppid, cmdline) of every process whose command line mentions `needle`.
fn procs(needle: &str) -> Vec<(i32, i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !cmd.contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        out.push((pid, ppid, cmd));
    }
    out
}

fn state(w: &World, app: &str) -> String {
    let out = w.jib(&["status", app, "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    v["status"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn wait_asleep(w: &World, app: &str) {
    // This world's vassal only: other tests run apps named main too.
    let ini = format!("{}/{app}/{app}.ini", w.root.display());
    let start = Instant::now();
    while !procs(&ini).is_empty() || state(w, app) != "sleeping" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{app} never went to sleep: {:?}",
            procs(&ini)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn idle_branches_sleep_and_wake_on_the_first_requests() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &toml.replace("[env.dev]\n", "[env.dev]\nidle = \"2s\"\n"),
    );
    w.commit("idle after 2 s");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "hello from main\n".into()));

    // Quiet for 2 s: every process of the app exits.
    wait_asleep(&w, "main");
    let list = w.jib_ok(&["list"]);
    assert!(list.contains("sleeping"), "{list}");

    // Eight clients at once on a sleeping branch: all answered, one instance started.
    let port = w.port;
    let host = w.host("main");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || http_get(port, &host, "/"))
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), (200, "hello from main\n".into()));
    }
    let ini = format!("{}/main/main.ini", w.root.display());
    let running = procs(&ini);
    let pids: Vec<i32> = running.iter().map(|p| p.0).collect();
    let masters: Vec<_> = running
        .iter()
        .filter(|(_, ppid, _)| !pids.contains(ppid))
        .collect();
    assert_eq!(masters.len(), 1, "{running:?}");
    assert_eq!(state(&w, "main"), "running");

    // A name nothing serves still gets the 404 page, not a 502.
    let (status, body) = w.get("nothing-here", "/");
    assert_eq!(status, 404, "{body}");

    // Asleep again: logs, env and exec work and wake nothing.
    wait_asleep(&w, "main");
    let logs = w.jib_ok(&["logs", "main", "-n", "200"]);
    assert!(logs.contains("GET /"), "{logs}");
    w.jib_ok(&["env", "main", "set", "GREETING=hi", "--no-restart"]);
    let out = w.jib_ok(&[
        "exec",
        "main",
        "--",
        "python",
        "-c",
        "import os; print(os.environ['GREETING'])",
    ]);
    assert!(out.contains("hi"), "{out}");
    assert_eq!(state(&w, "main"), "sleeping");
    assert!(procs(&ini).is_empty());

    // A push to a sleeping branch wakes it for the health check and serves the new code.
    w.write("hello.py", &hello_py("again"));
    w.commit("again");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "again from main\n".into()));
}
