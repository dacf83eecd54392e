//! `jib setup` + `jib push` over a real sshd, against real uWSGI and nginx.

mod common;

use common::*;

#[test]
fn push_serves_branches_side_by_side_and_redeploys() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("ready"), "{out}");

    let out = w.jib_ok(&["push"]);
    assert!(out.contains("main live at http://main.dev.test"), "{out}");
    assert_eq!(w.get("main", "/"), (200, "hello from main\n".into()));

    // A second branch coexists, at its own subdomain.
    git(&w.repo, &["checkout", "-q", "-b", "Feature/Login_Page"]);
    w.write("hello.py", &hello_py("feature"));
    w.commit("feature");
    let out = w.jib_ok(&["push", "Feature/Login_Page"]);
    assert!(out.contains("http://feature-login-page.dev.test"), "{out}");
    assert_eq!(
        w.get("feature-login-page", "/"),
        (200, "feature from Feature/Login_Page\n".into())
    );
    assert_eq!(w.get("main", "/"), (200, "hello from main\n".into()));

    // A new commit on main: new code live, same venv (the dependency file did not change).
    git(&w.repo, &["checkout", "-q", "main"]);
    let first = w.jib_json(&["push", "--json", "--force"]);
    w.write("hello.py", &hello_py("howdy"));
    w.commit("howdy");
    let second = w.jib_json(&["push", "--json"]);
    assert_eq!(w.get("main", "/"), (200, "howdy from main\n".into()));
    assert_eq!(second["venv_reused"], true, "{second}");
    assert_eq!(first["venv"], second["venv"]);
    assert_ne!(first["release"], second["release"]);

    // Pushing the same commit again changes nothing.
    let third = w.jib_json(&["push", "--json"]);
    assert_eq!(third["unchanged"], true, "{third}");
    assert_eq!(third["release"], second["release"]);

    // A host with no branch behind it gets a clear 404, not a 502.
    let (status, body) = w.get("nothing-here", "/");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("jib push"), "{body}");

    // Only the objects the server lacks travel: a one-line change is a small pack.
    w.write("hello.py", &hello_py("hi again"));
    w.commit("small change");
    let out = w.jib_ok(&["push"]);
    let pack_line = out
        .lines()
        .find(|l| l.contains("receive"))
        .unwrap_or_default()
        .to_string();
    assert!(
        pack_line.contains(" 1 KiB") || pack_line.contains(" 2 KiB"),
        "{out}"
    );
}

#[test]
fn a_dependency_change_builds_a_new_venv() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    w.jib_ok(&["setup"]);
    let a = w.jib_json(&["push", "--json"]);
    assert_eq!(a["venv_reused"], false);
    w.write("requirements.txt", "six\n");
    w.commit("add a dependency");
    let b = w.jib_json(&["push", "--json"]);
    assert_eq!(b["venv_reused"], false, "{b}");
    assert_ne!(a["venv"], b["venv"]);
    assert_eq!(w.get("main", "/").0, 200);
}

/// Two developers whose branch names map to one app (`feature/x`, `feature_x`): the second
/// push is refused, naming the branch it would replace and who pushed it, unless `--force`.
#[test]
fn a_branch_that_maps_onto_another_branchs_app_is_refused() {
    let w = World::new(Mode::Ssh);
    w.hello_app("alice");
    w.jib_ok(&["setup"]);
    git(&w.repo, &["checkout", "-q", "-b", "feature/x"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("feature-x", "/").1, "alice from feature/x\n");

    // Bob's checkout has only his branch (the CLI cannot see Alice's).
    git(&w.repo, &["branch", "-q", "-m", "feature/x", "feature_x"]);
    w.hello_app("bob");
    let out = w.jib(&["push"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("runs branch \"feature/x\""), "{t}");
    assert!(t.contains("--force"), "{t}");
    assert_eq!(w.get("feature-x", "/").1, "alice from feature/x\n");

    w.jib_ok(&["push", "--force"]);
    assert_eq!(w.get("feature-x", "/").1, "bob from feature_x\n");
    // Now it is Bob's: his next push needs no --force.
    w.hello_app("bob again");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("feature-x", "/").1, "bob again from feature_x\n");
}
