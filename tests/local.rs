//! Local mode: the same agent on this machine, no ssh, uWSGI's HTTP router on loopback.

mod common;

use common::*;

#[test]
fn local_mode_end_to_end() {
    let w = World::new(Mode::Local);
    w.sample("hello");
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("uWSGI HTTP router"), "{out}");
    let out = w.jib_ok(&["push"]);
    let url = format!("http://main.localhost:{}", w.port);
    assert!(out.contains(&url), "{out}");
    assert_eq!(w.get("main", "/"), (200, "hello from main\n".into()));
    let (status, body) = w.get("ghost", "/");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("No branch is deployed at ghost.localhost"),
        "{body}"
    );
    // setup is idempotent: a second run leaves the running service alone.
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("already running"), "{out}");
    assert_eq!(w.get("main", "/").0, 200);
}
