//! The committed completions in completions/ and the man page docs/jib.1 match what the clap
//! definition generates.
//! Regenerate with: for s in bash zsh fish powershell elvish; do jib completions $s > …; done
//! (file names below).

use std::process::Command;

#[test]
fn committed_completions_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in [
        ("bash", "jib.bash"),
        ("zsh", "_jib"),
        ("fish", "jib.fish"),
        ("powershell", "_jib.ps1"),
        ("elvish", "jib.elv"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_jib"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            committed == out.stdout,
            "completions/{file} is stale: run `cargo run --bin jib -- completions {shell} > completions/{file}`"
        );
    }
}

#[test]
fn committed_man_page_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/jib.1");
    let out = Command::new(env!("CARGO_BIN_EXE_jib"))
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH jib 1"));
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "docs/jib.1 is stale: run `cargo run --bin jib -- man > docs/jib.1`"
    );
}
