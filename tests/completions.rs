//! The committed completions in completions/ match what the clap definition generates.
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
