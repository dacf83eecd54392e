//! `jib init` through a real PTY: it finds what the repository says (Django, its settings and
//! WSGI module, the dependency file) and asks only for the rest.

mod common;

use std::time::Duration;

use common::*;
use expectrl::{Expect, Session};

fn django_repo() -> World {
    let w = World::new(Mode::Local);
    w.sample("django");
    std::fs::remove_file(w.repo.join("deploy.toml")).unwrap();
    w
}

#[test]
fn the_wizard_asks_only_what_it_cannot_find() {
    let w = django_repo();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jib"));
    cmd.arg("init").current_dir(&w.repo).env("TERM", "dumb");
    let mut p = Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(20)));
    p.expect("Found a Django project (mysite.wsgi:application)")
        .unwrap();
    p.expect("Server for branches").unwrap();
    p.send_line("deploy@dev.example.com").unwrap();
    p.expect("Domain").unwrap();
    p.send_line("dev.example.com").unwrap();
    // Detected: offered as the default, Enter accepts it.
    p.expect("WSGI entry point").unwrap();
    p.expect("mysite.wsgi:application").unwrap();
    p.send_line("").unwrap();
    p.expect("wrote").unwrap();
    match p.get_process_mut().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, 0) => {}
        other => panic!("jib init ended with {other:?}"),
    }
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    assert!(
        toml.contains("wsgi = \"mysite.wsgi:application\""),
        "{toml}"
    );
    assert!(
        toml.contains("requirements = \"requirements.txt\""),
        "{toml}"
    );
    assert!(
        toml.contains("DJANGO_SETTINGS_MODULE = \"mysite.settings\""),
        "{toml}"
    );
    assert!(toml.contains("host = \"deploy@dev.example.com\""), "{toml}");
    assert!(toml.contains("domain = \"dev.example.com\""), "{toml}");
    // It is commented, and jib reads it back.
    assert!(
        toml.lines().filter(|l| l.starts_with('#')).count() > 5,
        "{toml}"
    );
    let cfg = w.jib_ok(&["config", "--json"]);
    assert!(cfg.contains("http://<branch>.dev.example.com"), "{cfg}");

    // An existing file is kept unless --force.
    let out = w.jib(&["init", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap(),
        toml
    );
}

#[test]
fn flags_answer_everything_for_scripts() {
    let w = django_repo();
    // No terminal and no answers: it says which flags to pass instead of hanging.
    let out = w.jib(&["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--host"), "{}", text(&out));
    let out = w.jib(&[
        "init",
        "--host",
        "local",
        "--domain",
        "localhost",
        "--python",
        "3.11",
        "--name",
        "shop",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    assert!(toml.contains("python = \"3.11\""), "{toml}");
    assert!(toml.contains("name = \"shop\""), "{toml}");
    assert!(toml.contains("host = \"local\""), "{toml}");
    w.jib_ok(&["config"]);
}
