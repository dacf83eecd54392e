//! The committed completions in completions/ and the man pages in docs/man/ match what the
//! clap definition generates.
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
fn committed_man_pages_are_current() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let fresh = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jib"))
        .args(["man", "--out-dir"])
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let names = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    let stale = "docs/man is stale: run `cargo run --bin jib -- man --out-dir docs/man`";
    assert_eq!(names(fresh.path()), names(&committed), "{stale}");
    for n in names(fresh.path()) {
        assert!(
            std::fs::read(fresh.path().join(&n)).unwrap()
                == std::fs::read(committed.join(&n)).unwrap(),
            "{stale} ({n:?} differs)"
        );
    }
    // `jib man` alone prints the main page.
    let out = Command::new(env!("CARGO_BIN_EXE_jib"))
        .arg("man")
        .output()
        .unwrap();
    assert_eq!(out.stdout, std::fs::read(committed.join("jib.1")).unwrap());
}
