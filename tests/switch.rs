//! The blue/green switch of an awake app: in every path that starts new workers (push,
//! env set and unset, restart) clients under load see no failed request, the old and the new
//! instance overlap, and exactly one instance is left afterwards.

mod common;

use common::*;

/// The app shows its code version and a variable from `jib env`.
fn app(w: &World, version: &str) {
    w.write(
        "hello.py",
        &format!(
            "import os\n\ndef app(environ, start_response):\n    \
             body = ('{version} %s\\n' % os.environ.get('GREETING', 'none')).encode()\n    \
             start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
             return [body]\n"
        ),
    );
    w.commit(version);
}

/// The vassal inis of `app` (one per running instance).
fn instances(w: &World, app: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(w.root.join(app))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ini"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_switch_path_drops_nothing_and_leaves_one_instance() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    app(&w, "v1");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "v1 none\n");
    let first = instances(&w, "main");
    assert_eq!(first.len(), 1, "{first:?}");

    let host = w.host("main");
    let mut seen = Vec::new();
    let mut check = |what: &str, args: &[&str], before: &str, after: &str| {
        let load = Load::start(w.port, &host, 4);
        let out = w.jib_ok(args);
        let r = load.stop();
        assert_eq!(
            r.bad,
            0,
            "{what}: {} failed of {} (first: {:?})\n{out}",
            r.bad,
            r.ok + r.bad,
            r.failures.first()
        );
        assert!(r.ok > 20, "{what}: only {} answers", r.ok);
        // The old instance served until the new one took over, then only the new one.
        assert!(
            r.bodies.iter().all(|b| b == before || b == after),
            "{what}: {:?}",
            r.bodies
        );
        assert_eq!(w.get("main", "/").1, after, "{what}");
        let now = instances(&w, "main");
        assert_eq!(now.len(), 1, "{what}: instances left {now:?}");
        assert!(!seen.contains(&now[0]), "{what}: {now:?} was used before");
        seen.push(now[0].clone());
        println!(
            "{what}: {} requests, 0 failed, p99 {:?}, max {:?}",
            r.ok,
            r.quantile(0.99),
            r.quantile(1.0)
        );
    };

    app(&w, "v2");
    check("push", &["push"], "v1 none\n", "v2 none\n");
    check(
        "env set",
        &["env", "main", "set", "GREETING=hi"],
        "v2 none\n",
        "v2 hi\n",
    );
    check(
        "env unset",
        &["env", "main", "unset", "GREETING"],
        "v2 hi\n",
        "v2 none\n",
    );
    check("restart", &["restart", "main"], "v2 none\n", "v2 none\n");
    // The new instance's names never reuse an old one's (sockets and FIFOs stay distinct).
    assert!(!seen.contains(&first[0]));
}

/// The agent killed while the new instance is loading (the longest step of a switch): the
/// old release never stops serving, nothing of the half-done switch is routed to, and the
/// next push succeeds and leaves one instance.
#[test]
fn an_agent_killed_mid_switch_leaves_the_old_release_serving() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    app(&w, "v1");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);

    // v2 takes seconds to import: the push sits in its import check.
    w.write(
        "hello.py",
        "import time\ntime.sleep(4)\n\ndef app(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'v2 slow\\n']\n",
    );
    w.commit("slow import");
    let load = Load::start(w.port, &w.host("main"), 4);
    let mut push = w.jib_cmd(&["push"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let agent = loop {
        let staged = instances(&w, "main").len() == 2;
        // This world's agent only: other tests deploy at the same time.
        let own = format!("{}/.jib/bin/jib-agent deploy", w.root.display());
        let out = std::process::Command::new("pgrep")
            .args(["-f", &own])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string);
        if let (true, Some(pid)) = (staged, pid) {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the push never got to its import check: {:?}",
            instances(&w, "main")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Command::new("kill")
        .args(["-KILL", &agent])
        .status()
        .unwrap();
    let st = push.wait().unwrap();
    assert!(!st.success(), "the push whose agent was killed succeeded");
    // The half-loaded instance finishes loading, held back: it is never routed to.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let r = load.stop();
    assert_eq!(r.bad, 0, "failed requests: {:?}", r.failures.first());
    assert_eq!(r.bodies, ["v1 none\n"], "{:?}", r.bodies);

    // The next push takes over: the leftover instance goes with the old one.
    app(&w, "v3");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "v3 none\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        instances(&w, "main").len(),
        1,
        "{:?}",
        instances(&w, "main")
    );
}

/// A restart is a switch too: during a push it waits for the push's lock (and says who holds
/// it) instead of switching beside it.
#[test]
fn a_restart_during_a_push_waits_for_it() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    app(&w, "v1");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    w.write(
        "hello.py",
        "import time\ntime.sleep(3)\n\ndef app(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'v2 slow\\n']\n",
    );
    w.commit("slow import");
    let push = w.jib_cmd(&["push"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while instances(&w, "main").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never staged"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = w.jib_ok(&["restart", "main"]);
    assert!(out.contains("waiting"), "{out}");
    assert!(out.contains("push main"), "{out}");
    let pushed = push.wait_with_output().unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(w.get("main", "/").1, "v2 slow\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        instances(&w, "main").len(),
        1,
        "{:?}",
        instances(&w, "main")
    );
}
