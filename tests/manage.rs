//! Driving a deployed branch from the laptop over the same ssh connection: exec, logs,
//! restart, env, list, status, destroy, open.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// The hello sample plus an app that shows one env var, so env changes are visible.
fn world() -> World {
    let w = World::new(Mode::Ssh);
    w.sample("hello");
    w.write(
        "hello.py",
        "import os\n\ndef app(environ, start_response):\n    \
         body = ('%s|%s\\n' % (os.environ.get('JIB_BRANCH'), os.environ.get('GREETING', '-'))).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("show GREETING");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    w
}

#[test]
fn exec_passes_arguments_stdin_and_exit_status_exactly() {
    let w = world();
    let nasty = [
        "plain",
        "with space",
        "",
        "single'quote",
        "double\"quote",
        "$HOME",
        "`id`",
        "$(id)",
        "a;b&&c|d",
        "new\nline",
        "tab\there",
        "naïve ünïcødé ✓",
        "--flag=x",
        "*",
        "\\backslash",
    ];
    let mut args = vec![
        "exec",
        "main",
        "--",
        "python",
        "-c",
        "import json,sys; print(json.dumps(sys.argv[1:]))",
    ];
    args.extend(nasty);
    let out = w.jib(&args);
    assert!(out.status.success(), "{}", text(&out));
    let got: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got, nasty);

    // stdin passes through; the exit status is jib's; cwd is the current release.
    let mut child = w
        .jib_cmd(&[
            "exec",
            "main",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; pwd; echo to-stderr >&2; exit 7",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("HELLO\n"), "{stdout}");
    assert!(
        stdout.contains("/main/releases/") && stdout.trim_end().ends_with("/src"),
        "{stdout}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");

    // The app's venv and environment.
    let out = w.jib(&[
        "exec",
        "main",
        "--",
        "python",
        "-c",
        "import os,sys; print(sys.prefix == os.environ['VIRTUAL_ENV'], os.environ['JIB_BRANCH'])",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "True main\n",
        "{}",
        text(&out)
    );

    // A missing command and an unknown app are explained.
    let out = w.jib(&["exec", "main", "--", "no-such-command-jib"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("command not found"), "{}", text(&out));
    let out = w.jib(&["exec", "ghost", "--", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("no app named \"ghost\"") && text(&out).contains("deployed here: main"),
        "{}",
        text(&out)
    );
}

#[test]
fn env_values_survive_exactly_and_apply_on_reload() {
    let w = world();
    let tricky = "two words = \"quoted\" 'single' $DOLLAR\nsecond line";
    let pair = format!("GREETING={tricky}");
    let out = w.jib_ok(&["env", "main", "set", &pair, "TOKEN=s3cr3t-value"]);
    // Masked unless revealed.
    assert!(
        out.contains("TOKEN=s3****") && !out.contains("s3cr3t-value"),
        "{out}"
    );
    // Applied: the app (reloaded) and exec both see the exact value.
    let (_, body) = w.get("main", "/");
    assert_eq!(body, format!("main|{tricky}\n"));
    let out = w.jib(&[
        "exec",
        "main",
        "--",
        "python",
        "-c",
        "import os,sys; sys.stdout.write(os.environ['GREETING'])",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), tricky);
    let json = w.jib_json(&["env", "main", "list", "--reveal", "--json"]);
    assert_eq!(json["vars"]["GREETING"], tricky);
    // Stored 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.root.join("main/env.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // --no-restart defers; the next restart applies.
    w.jib_ok(&["env", "main", "unset", "GREETING", "--no-restart"]);
    assert_eq!(w.get("main", "/").1, format!("main|{tricky}\n"));
    w.jib_ok(&["restart", "main"]);
    assert_eq!(w.get("main", "/").1, "main|-\n");
    let out = w.jib(&["env", "main", "set", "1BAD=x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // A secret set before a branch's first push is there when it starts.
    git(&w.repo, &["checkout", "-q", "-b", "newbie"]);
    w.jib_ok(&["env", "newbie", "set", "GREETING=set before the first push"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("newbie", "/").1, "newbie|set before the first push\n");
}

#[test]
fn restart_under_load_drops_nothing_and_leaves_other_branches_alone() {
    let w = world();
    git(&w.repo, &["checkout", "-q", "-b", "other"]);
    w.jib_ok(&["push"]);
    git(&w.repo, &["checkout", "-q", "main"]);
    let other_workers = || {
        let mut v: Vec<_> = std::fs::read_dir(w.root.join("other/workers"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    let before = other_workers();

    let load = Load::start(w.port, &w.host("main"), 4);
    let out = w.jib_ok(&["restart", "main"]);
    assert!(out.contains("main restarted"), "{out}");
    let r = load.stop();
    assert_eq!(r.bad, 0, "failed requests during restart ({} ok)", r.ok);
    assert!(r.ok > 50);
    assert_eq!(other_workers(), before);
}

#[test]
fn logs_show_follow_rotation_and_stop_cleanly() {
    let w = world();
    let out = w.jib_ok(&["logs", "-n", "5"]);
    assert!(!out.is_empty());
    assert!(w.jib_ok(&["logs", "--deploy"]).contains("health check"));

    let log = w.root.join("main/log/uwsgi.log");
    let mut child = w
        .jib_cmd(&["logs", "main", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    let expect = |needle: &str| {
        let start = Instant::now();
        loop {
            let left = Duration::from_secs(15).saturating_sub(start.elapsed());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => continue,
                Err(_) => panic!("never saw {needle:?} in jib logs -f"),
            }
        }
    };
    std::thread::sleep(Duration::from_secs(1));
    let append = |line: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    };
    append("marker-one");
    expect("marker-one");
    // Rotation: the file is moved away and a new one appears.
    std::fs::rename(&log, log.with_extension("log.1")).unwrap();
    append("marker-after-rotation");
    expect("marker-after-rotation");
    // Truncation (copytruncate); the app writes again a moment later.
    std::fs::write(&log, "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append("marker-after-truncation");
    expect("marker-after-truncation");

    // Ctrl-C ends it, and nothing is left running on the server.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let start = Instant::now();
    loop {
        let left = std::process::Command::new("pgrep")
            .args(["-f", "jib-agent logs"])
            .output()
            .unwrap();
        let pids: Vec<i32> = String::from_utf8_lossy(&left.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        // Only agents under this test's root count (tests run in parallel).
        let ours = pids.iter().any(|p| {
            std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e.starts_with(&w.root))
        });
        if !ours {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "jib-agent logs still running on the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn list_status_destroy_and_open() {
    let w = world();
    git(&w.repo, &["checkout", "-q", "-b", "feature/two"]);
    w.jib_ok(&["push"]);

    let list = w.jib_json(&["list", "--json"]);
    let apps: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["feature-two", "main"]);
    let two = &list[0];
    assert_eq!(two["branch"], "feature/two");
    assert_eq!(two["state"], "running");
    assert_eq!(
        two["url"],
        format!("http://feature-two.dev.test:{}", w.port)
    );
    assert!(two["rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert_eq!(two["commit"].as_str().unwrap().len(), 40);
    assert!(two["deployed_by"].as_str().unwrap().contains('@'));
    let human = w.jib_ok(&["list"]);
    assert!(
        human.contains("feature-two") && human.contains("running"),
        "{human}"
    );

    let status = w.jib_json(&["status", "main", "--json"]);
    assert_eq!(status["status"]["app"], "main");
    assert_eq!(status["releases"][0]["current"], true);

    assert_eq!(
        w.jib_ok(&["open", "main"]).trim(),
        format!("http://main.dev.test:{}", w.port)
    );

    // Destroy asks first; without a terminal it needs --yes.
    let out = w.jib(&["destroy", "feature/two"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"));
    let out = w.jib_ok(&["destroy", "feature/two", "--yes"]);
    assert!(out.contains("feature-two destroyed"), "{out}");
    assert!(!w.root.join("feature-two").exists());
    let start = Instant::now();
    while w.get("feature-two", "/").0 != 404 {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.get("main", "/").0, 200);
    // The venv is still used by main: it stays.
    assert_eq!(
        std::fs::read_dir(w.root.join(".jib/venvs"))
            .unwrap()
            .count(),
        1
    );

    // An app that is not deployed: the error says what is.
    let out = w.jib(&["status", "feature-two"]);
    assert!(
        text(&out).contains("deployed here: main") && text(&out).contains("jib push"),
        "{}",
        text(&out)
    );
}

#[test]
fn every_command_explains_its_failure() {
    let w = world();
    let cases: &[(&[&str], &str)] = &[
        (&["logs", "ghost"], "no app named \"ghost\""),
        (&["restart", "ghost"], "deployed here: main"),
        (&["status", "ghost"], "jib push ghost"),
        (&["env", "ghost", "list"], "no app named \"ghost\""),
        (&["destroy", "ghost", "--yes"], "no app named \"ghost\""),
        (&["exec", "ghost", "--", "true"], "no app named \"ghost\""),
        (
            &["exec", "-i", "ghost", "--", "true"],
            "no app named \"ghost\"",
        ),
        (&["shell", "ghost"], "no app named \"ghost\""),
        (&["--env", "prod", "list"], "no [env.prod] section"),
        (&["open", "bad;name"], "cannot be mapped to a DNS label"),
    ];
    for (args, expect) in cases {
        let out = w.jib(args);
        assert_ne!(out.status.code(), Some(0), "jib {args:?} should fail");
        assert!(
            text(&out).contains(expect),
            "jib {args:?}: expected {expect:?} in\n{}",
            text(&out)
        );
    }
    // destroy refuses prod without --force (checked before anything is contacted).
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &format!(
            "{toml}\n{}",
            toml.split("[env.dev]")
                .nth(1)
                .map(|s| format!("[env.prod]{s}"))
                .unwrap()
                .replace("[env.dev.nginx]", "[env.prod.nginx]")
        ),
    );
    let out = w.jib(&["--env", "prod", "destroy", "main", "--yes"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("refusing to destroy main in prod"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_dropped_connection_leaves_no_command_running() {
    let w = world();
    let marker = format!("jib-drop-marker-{}", std::process::id());
    let mut child = w
        .jib_cmd(&[
            "exec",
            "main",
            "--",
            "python",
            "-c",
            "import time; time.sleep(300)",
            &marker,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let running = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    let start = Instant::now();
    while !running() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The laptop side dies outright (lost connection, kill -9): jib and its ssh client.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    let start = Instant::now();
    while running() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the command outlived the connection"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: impl ToString, sig: &str) {
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
}

/// A master that stops answering (what a laptop has after sleep, or a half-dead TCP
/// connection) is replaced by a fresh one instead of hanging the command; a serve that stops
/// answering is gone around.
#[test]
fn a_master_or_serve_that_stops_answering_does_not_hang_jib() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    let masters = master_pids(&w);
    assert_eq!(masters.len(), 1, "{masters:?}");
    signal(masters[0], "-STOP");
    let t = std::time::Instant::now();
    let out = w
        .jib_cmd(&["list"])
        .env("JIB_ANSWER_TIMEOUT", "2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("main"), "{}", text(&out));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
    let now = master_pids(&w);
    assert!(
        !now.contains(&masters[0]),
        "the stopped master is still there\n{}",
        text(&out)
    );
    assert_eq!(now.len(), 1, "{now:?}");

    // serve stopped: the forwarded socket gives no answer, jib uses the per-command path.
    let serve = std::fs::read_to_string(w.root.join(".jib/agent.pid")).unwrap();
    let serve = serve.trim().to_string();
    signal(&serve, "-STOP");
    let out = w
        .jib_cmd(&["-v", "list"])
        .env("JIB_ANSWER_TIMEOUT", "2")
        .output()
        .unwrap();
    signal(&serve, "-CONT");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("jib-agent ran as its own process over ssh"),
        "{}",
        text(&out)
    );
}

/// A persisted master that dies while a command is about to start the agent (killed here; in
/// the field, ControlPersist expiring just as a new mux client arrives): the call goes again
/// over a fresh master, and the command succeeds.
#[test]
fn a_master_that_dies_before_the_call_is_replaced_and_the_call_sent_again() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    // Once through serve, so that its forwarded socket is there too: both paths meet a dead
    // master.
    w.jib_ok(&["list"]);
    let masters = master_pids(&w);
    assert_eq!(masters.len(), 1, "{masters:?}");

    let points = w.tmp.path().join("failpoints");
    std::fs::create_dir_all(&points).unwrap();
    std::fs::write(points.join("cli.call"), "").unwrap();
    let child = w
        .jib_cmd(&["-v", "list"])
        .env("JIB_FAILPOINTS", &points)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("jib list to reach the call", 30, || {
        points.join("cli.call.hit").exists()
    });
    signal(masters[0], "-KILL");
    wait_until("the master to die", 10, || master_pids(&w).is_empty());
    std::fs::remove_file(points.join("cli.call")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("main"), "{}", text(&out));
    assert!(
        text(&out).contains("over a fresh master connection"),
        "{}",
        text(&out)
    );
    let now = master_pids(&w);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], masters[0]);
    // The fresh master is the one the next command finds.
    let out = w.jib(&["-v", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("fresh master"), "{}", text(&out));
    assert_eq!(master_pids(&w), now);
}

/// Commands spaced around the master's idle expiry (1 s here) race it: each finds a master
/// that may be exiting as it starts the agent (it answers `ssh -O check` and exits in the
/// same turn of its loop). Every one succeeds. The window is narrow: this is the field
/// case, the test above is the one that always makes it happen.
#[test]
fn commands_racing_the_master_expiry_all_succeed() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    // push's master is kept 60 s: it goes, and every master from here is kept 1 s.
    for pid in master_pids(&w) {
        signal(pid, "-KILL");
    }
    let mut revived = 0;
    for i in 0..15u64 {
        // ssh counts idleness in whole seconds: a master kept 1 s exits 0 to 1 s after its
        // last channel closed. 0.2 to 1.2 s in even steps lands on both sides of that.
        std::thread::sleep(Duration::from_millis(200 + i * 1000 / 14));
        let out = w
            .jib_cmd(&["-v", "list"])
            .env("JIB_SSH_PERSIST", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "run {i}:\n{}", text(&out));
        assert!(text(&out).contains("main"), "run {i}:\n{}", text(&out));
        if text(&out).contains("over a fresh master connection") {
            revived += 1;
        }
    }
    eprintln!("{revived} of 15 runs went again over a fresh master");
}
