//! A failed deploy leaves the previous release serving and says which step failed.

mod common;

use common::*;

fn assert_failed(w: &World, args: &[&str], step: &str, expect: &[&str]) -> String {
    let out = w.jib(args);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "jib {args:?} should fail at {step}:\n{t}"
    );
    assert!(t.contains(&format!("{step} failed on {HOST_ALIAS}")), "{t}");
    for e in expect {
        assert!(t.contains(e), "expected {e:?} in:\n{t}");
    }
    t
}

#[test]
fn failed_deploys_keep_the_previous_release_serving() {
    let w = World::new(Mode::Ssh);
    w.hello_app("good");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));

    // A requirement that does not exist: the venv step fails, with the installer's words.
    w.write(
        "requirements.txt",
        "this-package-does-not-exist-jib==0.0.1\n",
    );
    w.write("hello.py", &hello_py("bad deps"));
    w.commit("bad requirement");
    assert_failed(
        &w,
        &["push"],
        "venv",
        &[
            "this-package-does-not-exist-jib",
            "previous release keeps serving",
        ],
    );
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));

    // An import error: caught before any traffic moves.
    w.write("requirements.txt", "");
    w.write("hello.py", "import no_such_module_jib\n");
    w.commit("import error");
    assert_failed(
        &w,
        &["push"],
        "import check",
        &["No module named 'no_such_module_jib'", "still serving"],
    );
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));

    // The app imports but answers 500: the health check fails and the old release comes back.
    w.write(
        "hello.py",
        "def app(environ, start_response):\n    start_response('500 Internal Server Error', [('Content-Type', 'text/plain')])\n    return [b'broken']\n",
    );
    w.commit("500");
    assert_failed(
        &w,
        &["push"],
        "health check",
        &["answered 500", "still serving"],
    );
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));
    // The failed attempt is kept for inspection and marked in the listing.
    let list = w.jib_ok(&["list", "--json"]);
    assert!(list.contains("\"last_deploy_failed\":true"), "{list}");

    // And a good commit afterwards deploys normally.
    w.write("hello.py", &hello_py("fixed"));
    w.commit("fixed");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "fixed from main\n".into()));

    // Failed attempts were cleaned up; the good releases remain.
    let releases: Vec<_> = std::fs::read_dir(w.root.join("main/releases"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(releases.len(), 2, "{releases:?}");
}

#[test]
fn a_first_deploy_that_fails_leaves_nothing_running() {
    let w = World::new(Mode::Ssh);
    w.hello_app("x");
    w.jib_ok(&["setup"]);
    w.write(
        "hello.py",
        "def app(environ, start_response):\n    start_response('503 Service Unavailable', [])\n    return [b'no']\n",
    );
    w.commit("503");
    let out = w.jib(&["push"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!w.root.join("main/main.ini").exists());
    // The emperor notices the removed vassal within its 1 s poll.
    let start = std::time::Instant::now();
    loop {
        let (status, _) = w.get("main", "/");
        if status == 404 {
            break;
        }
        assert!(start.elapsed().as_secs() < 10, "still answering {status}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
