//! `jib-agent serve`: restarts what crashes, stops everything on SIGTERM; a reload touches
//! one app only.

mod common;

use std::path::Path;

use common::*;

/// uWSGI processes whose command line mentions `needle`, as (pid, cmdline).
fn uwsgi_processes(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.starts_with("uwsgi") && cmd.contains(needle) {
            out.push((pid, cmd));
        }
    }
    out
}

fn workers(w: &World, app: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(w.root.join(app).join("workers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// SIGTERM to the world's `jib-agent serve`, and wait until it has exited.
fn stop_serve(w: &World) {
    let pid = std::fs::read_to_string(w.root.join(".jib/agent.pid")).unwrap();
    let pid = pid.trim().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    wait_until("serve to exit", 30, || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
}

#[test]
fn crashed_router_comes_back_and_sigterm_stops_everything() {
    let w = World::new(Mode::Local);
    w.sample("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    git(&w.repo, &["checkout", "-q", "-b", "other"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").0, 200);

    // A reload of one app leaves the other's workers alone.
    let other_before = workers(&w, "other");
    git(&w.repo, &["checkout", "-q", "main"]);
    w.write("hello.py", &hello_py("again"));
    w.commit("again");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "again from main\n");
    assert_eq!(
        workers(&w, "other"),
        other_before,
        "the other app's workers changed\n{}",
        w.logs()
    );

    // Kill the router outright: serve starts a new one and requests are answered again.
    let root = w.root.display().to_string();
    let router: Vec<_> = uwsgi_processes(&root)
        .into_iter()
        .filter(|(_, c)| c.contains("--http "))
        .collect();
    assert!(
        !router.is_empty(),
        "no router running for {root}: {:?}",
        uwsgi_processes(&root)
    );
    for (pid, _) in &router {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    // Apps re-announce themselves to a new router within their subscription period (10 s).
    wait_until("the router to come back", 30, || {
        w.get("main", "/").0 == 200
    });

    // SIGTERM to serve: the emperor, every app and the router stop; nothing is left behind.
    stop_serve(&w);
    wait_until("uWSGI processes to exit", 30, || {
        uwsgi_processes(&root).is_empty()
    });
    assert_ne!(w.get("main", "/").0, 200);
}

/// On a warm connection, verbs go to serve through its control socket forwarded over the ssh
/// master (no login shell, no new agent process for ssh to start), objects included; the
/// answers, errors and exit codes are the ones the per-command path gives, and without serve
/// jib falls back to that path by itself.
#[test]
fn warm_commands_reach_serve_through_the_forwarded_socket_and_fall_back_without_it() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    const VIA_SERVE: &str = "answered by jib-agent serve through its control socket";
    const VIA_SSH: &str = "jib-agent ran as its own process over ssh";

    // A push with new objects: the pack travels on the forwarded stream.
    w.hello_app("through serve");
    let out = w.jib_ok(&["-v", "push"]);
    assert!(out.contains(VIA_SERVE), "{out}");
    assert_eq!(w.get("main", "/").1, "through serve from main\n");
    let out = w.jib_ok(&["-v", "status", "main"]);
    assert!(out.contains(VIA_SERVE), "{out}");

    // The same answers either way.
    let fast = w.jib_json(&["list", "--json"]);
    let slow_out = w
        .jib_cmd(&["list", "--json"])
        .env("JIB_VIA_SERVE", "0")
        .output()
        .unwrap();
    assert!(slow_out.status.success(), "{}", text(&slow_out));
    let slow: serde_json::Value = serde_json::from_slice(&slow_out.stdout).unwrap();
    // (Less what changes from one moment to the next: memory, last request, and workers
    // while the old instance finishes after the push's reply.)
    let stable = |v: &serde_json::Value| {
        let mut v = v.clone();
        for a in v.as_array_mut().unwrap() {
            for k in ["rss_bytes", "last_request", "workers"] {
                a.as_object_mut().unwrap().remove(k);
            }
        }
        v
    };
    assert_eq!(stable(&fast), stable(&slow));
    let out = w
        .jib_cmd(&["-v", "list"])
        .env("JIB_VIA_SERVE", "0")
        .output()
        .unwrap();
    assert!(text(&out).contains(VIA_SSH), "{}", text(&out));

    // A failure: same message, same exit code.
    let failed = |via: &str| {
        let out = w
            .jib_cmd(&["restart", "nosuch"])
            .env("JIB_VIA_SERVE", via)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (fast, slow) = (failed("1"), failed("0"));
    assert_ne!(fast.0, Some(0), "{}", fast.1);
    assert_eq!(fast, slow);

    // serve gone: the forwarded socket leads nowhere, and jib runs the verb over ssh.
    stop_serve(&w);
    let out = w.jib_ok(&["-v", "list"]);
    assert!(out.contains(VIA_SSH), "{out}");
    assert!(out.contains("main"), "{out}");
}

/// A deploy cut over and then died before its verdict (agent killed, machine rebooted):
/// `current` is on a `pending` release. A restarted serve puts the last good release back
/// before anything starts, and marks the unverified one failed.
#[test]
fn a_restarted_serve_never_serves_an_unverified_release() {
    let w = World::new(Mode::Ssh);
    w.hello_app("good");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    w.hello_app("unverified");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "unverified from main\n");

    // The state an interrupted switch leaves, with serve and every vassal gone (a reboot).
    stop_serve(&w);
    let current = std::fs::read_link(w.root.join("main/current")).unwrap();
    let meta = w.root.join("main").join(&current).join("release.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    m["state"] = "pending".into();
    std::fs::write(&meta, m.to_string()).unwrap();

    w.jib_ok(&["setup"]);
    wait_until("the good release to serve", 30, || {
        w.get("main", "/").1 == "good from main\n"
    });
    let rel = w.jib_json(&["releases", "main", "--json"]);
    let states: Vec<(&str, bool)> = rel
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["state"].as_str().unwrap(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, [("failed", false), ("ok", true)], "{rel}");
    // The next push works as usual.
    w.hello_app("next");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "next from main\n");
}
