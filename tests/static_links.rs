//! Issue 11, hole 9: nginx serves `[app] static` from the branch's own tree, so a link in it
//! (committed, or made by the release step at run time) must not publish files outside the
//! release that www-data can read.

mod common;

use std::os::unix::fs::symlink;

use common::*;

/// Neither a 200 nor any of /etc/passwd's content.
fn assert_not_served(w: &World, path: &str) {
    let (status, body) = w.get("main", path);
    assert_ne!(status, 200, "{path} was served: {body}");
    assert!(!body.contains("root:"), "{path} leaked /etc/passwd: {body}");
}

#[test]
fn static_files_never_follow_links_out_of_the_release() {
    let w = World::new(Mode::Ssh);
    w.write(
        "deploy.toml",
        &w.deploy_toml(
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n\
             release = \"ln -s / built\"\n\
             static = { \"/static/\" = \"staticfiles\", \"/assets/\" = \"assets\", \"/built/\" = \"built\" }\n",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("hello"));
    w.write("assets/site.css", "body { color: red }\n");
    // A whole static directory that is a link to /, and links nested in a real one.
    symlink("/", w.repo.join("staticfiles")).unwrap();
    symlink("/etc", w.repo.join("assets/etc")).unwrap();
    symlink("/etc/passwd", w.repo.join("assets/passwd.css")).unwrap();
    w.commit("hostile static tree");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);

    // Real files still come from the current release (itself reached through `current`).
    let (status, body) = w.get("main", "/assets/site.css");
    assert_eq!((status, body.as_str()), (200, "body { color: red }\n"));
    assert_eq!(w.get("main", "/").0, 200);

    // The links really are in the release, so the checks below are not vacuous.
    let src = w.root.join("main/current/src");
    for link in ["staticfiles", "assets/etc", "assets/passwd.css", "built"] {
        let m = std::fs::symlink_metadata(src.join(link));
        assert!(
            m.is_ok_and(|m| m.is_symlink()),
            "{link} is not a link in the release"
        );
    }
    for path in [
        "/static/etc/passwd",
        "/assets/etc/passwd",
        "/assets/passwd.css",
        // Made by the release step, as the app, after export.
        "/built/etc/passwd",
    ] {
        assert_not_served(&w, path);
    }
}
