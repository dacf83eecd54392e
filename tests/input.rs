//! Bad input gets a clear error and loses nothing: branch names, config, unknown branches.

mod common;

use common::*;

#[test]
fn hostile_and_colliding_branch_names() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");

    // Characters that cannot become a DNS label are refused before anything runs.
    git(&w.repo, &["branch", "naïve"]);
    let out = w.jib(&["push", "naïve"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cannot be mapped to a DNS label"),
        "{}",
        text(&out)
    );

    // Shell metacharacters that git allows are refused too; nothing is created.
    git(&w.repo, &["branch", "x$(touch${IFS}pwned)"]);
    let out = w.jib(&["push", "x$(touch${IFS}pwned)"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!w.repo.join("pwned").exists() && !w.root.exists());

    // A name longer than a DNS label.
    let long = "a".repeat(70);
    git(&w.repo, &["branch", &long]);
    let out = w.jib(&["push", &long]);
    assert!(text(&out).contains("at most 63"), "{}", text(&out));

    // Two branches that map to the same app are detected.
    git(&w.repo, &["branch", "feature/x"]);
    git(&w.repo, &["branch", "feature_x"]);
    let out = w.jib(&["push", "feature/x"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("\"feature_x\"") && text(&out).contains("feature-x"),
        "{}",
        text(&out)
    );
}

#[test]
fn unknown_branch_and_bad_config() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");
    let out = w.jib(&["push", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("no local branch named \"no-such-branch\"")
            && text(&out).contains("main"),
        "{}",
        text(&out)
    );

    // Unknown key: the error points at file:line:column and suggests the key meant.
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &toml.replace("[env.dev]\n", "[env.dev]\nhots = \"x\"\n"),
    );
    let out = w.jib(&["push"]);
    assert_eq!(out.status.code(), Some(3));
    let t = text(&out);
    assert!(
        t.contains("deploy.toml:") && t.contains("unknown key `hots`"),
        "{t}"
    );
    assert!(t.contains("did you mean `host`?"), "{t}");

    // Unknown environment.
    w.write("deploy.toml", &toml);
    let out = w.jib(&["--env", "staging", "push"]);
    assert!(
        text(&out).contains("no [env.staging] section") && text(&out).contains("dev"),
        "{}",
        text(&out)
    );

    // No deploy.toml at all.
    std::fs::remove_file(w.repo.join("deploy.toml")).unwrap();
    let out = w.jib(&["push"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("no deploy.toml"), "{}", text(&out));
}

#[test]
fn uncommitted_changes_warn_that_only_commits_ship() {
    let w = World::new(Mode::Local);
    w.hello_app("committed");
    w.jib_ok(&["setup"]);
    w.write("hello.py", &hello_py("uncommitted"));
    let out = w.jib_ok(&["push"]);
    assert!(out.contains("only committed code ships"), "{out}");
    assert_eq!(w.get("main", "/").1, "committed from main\n");
}
