//! Programs installed on this machine: where one is on PATH (and the sbin directories an
//! unprivileged user's PATH lacks), and whether another user may run it.

use std::path::{Path, PathBuf};

/// The first executable `name` (see [`which_all`]).
pub fn which(name: &str) -> Option<PathBuf> {
    which_all(name).next()
}

/// Every executable `name` on PATH (then /usr/local/bin, /usr/bin), in order.
pub fn which_all(name: &str) -> impl Iterator<Item = PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let name = name.to_string();
    std::env::split_paths(&path)
        // An unprivileged user's PATH often lacks the sbin directories nginx and sshd live in.
        .chain(
            [
                "/usr/local/bin",
                "/usr/bin",
                "/usr/local/sbin",
                "/usr/sbin",
                "/sbin",
            ]
            .map(PathBuf::from),
        )
        .collect::<Vec<_>>()
        .into_iter()
        .map(move |d| d.join(&name))
        .filter(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when anyone may run `p`: the file and every directory above it are world-executable
/// (a uv under root's home is no use to the apps' user).
pub fn world_runnable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(real) = std::fs::canonicalize(p) else {
        return false;
    };
    real.ancestors()
        .all(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}
