//! `jib doctor`: every check from the laptop to the server, each failure with its fix; and the
//! output conventions (`-q`, `-v`) on a real push.

mod common;

use common::*;

#[test]
fn doctor_checks_the_whole_path_and_says_how_to_fix_what_fails() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hi");

    // Before setup: the server side says to run it.
    let out = w.jib(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |checks: &serde_json::Value, name: &str| -> serde_json::Value {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check in {checks}"))
    };
    for name in ["git", "ssh", "config", "connect", "agent"] {
        assert_eq!(by_name(&checks, name)["status"], "ok", "{checks}");
    }
    let setup = by_name(&checks, "setup");
    assert_eq!(setup["status"], "fail");
    assert!(
        setup["fix"].as_str().unwrap().contains("jib setup"),
        "{setup}"
    );

    // After setup: everything passes, nginx -t and the socket permissions included.
    w.jib_ok(&["setup"]);
    let out = w.jib(&["doctor"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for name in [
        "serve", "emperor", "router", "nginx", "sockets", "disk", "python", "packages",
    ] {
        assert!(
            t.lines().any(|l| l.contains('✔') && l.contains(name)),
            "{name} not ok in:\n{t}"
        );
    }

    // A stopped serve is a failure with its fix, and the exit status says so.
    let pid = std::fs::read_to_string(w.root.join(".jib/agent.pid")).unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    let start = std::time::Instant::now();
    let checks = loop {
        let out = w.jib(&["doctor", "--json"]);
        let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if by_name(&checks, "serve")["status"] == "fail" {
            assert_eq!(out.status.code(), Some(1));
            break checks;
        }
        assert!(start.elapsed().as_secs() < 20, "serve never reported down");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let serve = by_name(&checks, "serve");
    assert!(
        serve["fix"].as_str().unwrap().contains("jib setup"),
        "{serve}"
    );
}

#[test]
fn quiet_and_verbose_pushes() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");
    w.jib_ok(&["setup"]);
    // -q: the URL on stdout, nothing else.
    let out = w.jib(&["-q", "push"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("http://{}", w.host("main"))
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -v: the agent's version and each step.
    w.write("hello.py", &hello_py("again"));
    w.commit("again");
    let out = w.jib(&["-v", "push"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("agent: jib-agent"), "{err}");
    assert!(err.contains("server lacks the commit"), "{err}");
    assert!(err.contains("import check"), "{err}");
    // -v shows a --json command's steps on stderr; stdout stays JSON.
    let out = w.jib(&["-v", "status", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent: jib-agent"));
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
}
