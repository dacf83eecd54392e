//! The agent: replaced automatically when it is another version; one deploy per app at a time.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn an_agent_of_another_version_is_replaced() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hi");
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("installed"), "{out}");
    let agent = w.root.join(".jib/bin/jib-agent");
    // An older agent (the running serve keeps its own copy of the binary open).
    let old = w.root.join(".jib/bin/old-agent");
    std::fs::write(&old, "#!/bin/sh\necho 'jib-agent 0.0.1 (old)'\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&old, &agent).unwrap();

    let out = w.jib_ok(&["push"]);
    assert!(out.contains("installed jib-agent"), "{out}");
    let v = std::process::Command::new(&agent)
        .arg("--version")
        .output()
        .unwrap();
    let ours = std::process::Command::new(env!("CARGO_BIN_EXE_jib-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(v.stdout, ours.stdout);
    assert_eq!(w.get("main", "/").0, 200);
}

#[test]
fn a_second_push_waits_or_names_the_holder() {
    let w = World::new(Mode::Ssh);
    w.hello_app("one");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);

    // Someone else's deploy holds the lock (the agent's lock file, taken as the agent takes it).
    let lock_path = w.root.join(".jib/locks/apps/main.lock");
    let mut held = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    held.set_len(0).unwrap();
    write!(
        held,
        r#"{{"by":"alice@example.com","pid":1,"since":"2026-01-01T00:00:00Z","what":"push main"}}"#
    )
    .unwrap();

    w.write("hello.py", &hello_py("two"));
    w.commit("two");
    let out = w.jib(&["push", "--lock-wait", "0"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("being deployed by alice@example.com"),
        "{}",
        text(&out)
    );
    assert_eq!(w.get("main", "/").1, "one from main\n");

    // With a wait, the push queues behind the holder and goes through once it is done.
    let child = w
        .jib_cmd(&["push", "--lock-wait", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("waiting: this app is being deployed by alice@example.com"),
        "{}",
        text(&out)
    );
    assert_eq!(w.get("main", "/").1, "two from main\n");

    // Two real pushes at once end consistently: both succeed, one after the other.
    w.write("hello.py", &hello_py("three"));
    w.commit("three");
    let a = w
        .jib_cmd(&["push", "--force"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = w
        .jib_cmd(&["push", "--force"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    assert_eq!(w.get("main", "/").1, "three from main\n");
}
