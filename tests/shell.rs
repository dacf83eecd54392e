//! `jib shell` through a real PTY: a Python prompt in the branch's environment over ssh -t.

mod common;

use std::time::Duration;

use common::*;
use expectrl::{ControlCode, Expect, Session};

fn spawn(w: &World, args: &[&str]) -> expectrl::session::OsSession {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jib"));
    cmd.args(args).current_dir(&w.repo).env("TERM", "dumb");
    if let Some(s) = &w.sshd {
        cmd.env("JIB_SSH_CONFIG", &s.config);
    }
    let mut p = Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    p
}

fn exit_code(p: &mut expectrl::session::OsSession) -> i32 {
    match p.get_process_mut().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, code) => code,
        other => panic!("jib did not exit normally: {other:?}"),
    }
}

#[test]
fn django_shell_and_a_server_without_setup() {
    let w = World::new(Mode::Ssh);
    w.sample("django");
    // Nothing set up yet: the commands say what to do.
    let out = w.jib(&["list"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("jib setup"), "{}", text(&out));
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    let mut p = spawn(&w, &["shell"]);
    p.expect(">>> ").unwrap();
    p.send_line("from django.conf import settings; print('urlconf=' + settings.ROOT_URLCONF)")
        .unwrap();
    p.expect("urlconf=mysite.urls").unwrap();
    // Ctrl-D only once the shell reads again: sent while Python is still busy, the terminal
    // is not in readline's mode yet and the keystroke can be lost.
    p.expect(">>> ").unwrap();
    p.send(ControlCode::EndOfTransmission).unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn python_shell_in_the_branch_environment() {
    let w = World::new(Mode::Ssh);
    w.sample("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    w.jib_ok(&["env", "main", "set", "GREETING=hi there"]);

    let mut p = spawn(&w, &["shell", "main"]);
    p.expect(">>> ").unwrap();
    p.send_line("import os; print('branch=' + os.environ['JIB_BRANCH'] + '|' + os.environ['GREETING'] + '|' + os.getcwd())").unwrap();
    p.expect("branch=main|hi there|").unwrap();
    p.expect("/src").unwrap();
    // Ctrl-C interrupts the remote statement, not jib.
    p.send_line("import time; time.sleep(100)").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("KeyboardInterrupt").unwrap();
    p.expect(">>> ").unwrap();
    p.send_line("print(6 * 7)").unwrap();
    p.expect("42").unwrap();
    // The exit status comes back.
    p.send_line("raise SystemExit(3)").unwrap();
    assert_eq!(exit_code(&mut p), 3);

    // Ctrl-D leaves cleanly.
    let mut p = spawn(&w, &["shell"]);
    p.expect(">>> ").unwrap();
    p.send(ControlCode::EndOfTransmission).unwrap();
    assert_eq!(exit_code(&mut p), 0);

    // A login shell in the same environment.
    let mut p = spawn(&w, &["shell", "main", "--bash"]);
    p.send_line("echo \"venv=$VIRTUAL_ENV greeting=$GREETING\"; exit 4")
        .unwrap();
    p.expect("greeting=hi there").unwrap();
    assert_eq!(exit_code(&mut p), 4);
}
