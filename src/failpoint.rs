//! Rendezvous points for the fault-injection suite (`tests/faults.rs`): a test stops a verb at
//! one named step, does its harm there (SIGKILL, a cut connection, a full disk) and lets it go
//! on. Compiled only into debug builds (what `cargo test` runs); release builds, which is what
//! `cargo install` and packages ship, have none: [`hit`] is an empty function there.
//!
//! A point is armed by creating a file named after it in the points directory: on a server
//! `<root>/.jib/failpoints` (root's, like the rest of `.jib`), for the CLI `$JIB_FAILPOINTS`.
//! A process reaching an armed point writes `<name>.hit` with its pid, then waits until the
//! file `<name>` is removed (two minutes at most). Every point passed is appended to
//! `<dir>/passed`, armed or not. Names are `<process>.<step>`, with spaces as
//! dashes: `deploy.venv`, `promote.health-check`, `cli.call`.

use std::path::PathBuf;
use std::sync::Mutex;

/// Where the CLI looks for armed points.
pub const CLI_DIR_ENV: &str = "JIB_FAILPOINTS";

/// The points directory and this process's name in point names (`deploy`, `cli`).
static ARMED: Mutex<Option<(PathBuf, String)>> = Mutex::new(None);

/// This process looks for armed points in `dir`, as `process`.
pub fn arm(dir: PathBuf, process: &str) {
    if cfg!(debug_assertions) {
        *ARMED.lock().unwrap_or_else(|e| e.into_inner()) = Some((dir, process.to_string()));
    }
}

/// The CLI's points, when `$JIB_FAILPOINTS` names a directory.
pub fn arm_cli() {
    if let Some(dir) = std::env::var_os(CLI_DIR_ENV) {
        arm(PathBuf::from(dir), "cli");
    }
}

/// Stops here while the point `<process>.<step>` is armed.
pub fn hit(step: &str) {
    if !cfg!(debug_assertions) {
        return;
    }
    let Some((dir, process)) = ARMED.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
        return;
    };
    let name = format!("{process}.{}", step.replace(' ', "-"));
    // Only this user's own directory and plain files count (root's agent ignores anyone else's).
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let ours = |p: &std::path::Path, dir: bool| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| m.uid() == me && (m.is_dir() == dir) && !m.is_symlink())
    };
    if !ours(&dir, true) {
        return;
    }
    // Every point passed, in order: how the suite learns each command's steps.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("passed"))
    {
        use std::io::Write;
        let _ = writeln!(f, "{name}");
    }
    let armed = dir.join(&name);
    if !ours(&armed, false) {
        return;
    }
    let _ = std::fs::write(
        dir.join(format!("{name}.hit")),
        std::process::id().to_string(),
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while armed.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
