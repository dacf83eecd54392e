//! Who apps run as. An agent running as root never runs app code as root when `run_as` is set:
//! uWSGI drops to that user, `jib exec`/`shell` drop to it, and the files an app writes are
//! handed to it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::unistd::{Group, User};

/// The user (and its primary group) apps of this server run as, when a drop applies: the agent
/// is root and `run_as` names someone.
pub fn app_user(run_as: Option<&str>) -> Result<Option<(User, Group)>> {
    let Some(name) = run_as else { return Ok(None) };
    if !nix::unistd::geteuid().is_root() {
        // Not root: everything already runs as the ssh user.
        return Ok(None);
    }
    let user = User::from_name(name)?.with_context(|| {
        format!(
            "run_as = {name:?}: no such user on this server (create it: useradd --system {name})"
        )
    })?;
    if user.uid.is_root() {
        bail!("run_as = {name:?} is root; name an unprivileged user");
    }
    let group = Group::from_gid(user.gid)?
        .with_context(|| format!("the primary group of {name} does not exist"))?;
    Ok(Some((user, group)))
}

/// Hands `path` (and, for a directory, what is directly inside) to the app user.
pub fn hand_over(path: &Path, who: Option<&(User, Group)>) -> Result<()> {
    let Some((u, g)) = who else { return Ok(()) };
    // The app's user can plant symlinks in its own directories: never follow them (a link to
    // /etc/shadow must not be handed over).
    let chown = |p: &Path| {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            p,
            Some(u.uid),
            Some(g.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("cannot give {} to {}", p.display(), u.name))
    };
    chown(path)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for e in std::fs::read_dir(path)?.flatten() {
            chown(&e.path())?;
        }
    }
    Ok(())
}

/// Opens a file for writing without following a symlink at its place (it may sit in a
/// directory the app's user owns). `append`: keep the content; else truncate.
pub fn open_for_writing(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .append(append)
        .truncate(!append)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Makes `cmd` run as the app user (supplementary groups, gid, uid, HOME, USER).
pub fn run_as(cmd: &mut std::process::Command, who: Option<&(User, Group)>) {
    use std::os::unix::process::CommandExt;
    let Some((u, g)) = who else { return };
    let (uid, gid) = (u.uid, g.gid);
    cmd.env("HOME", &u.dir).env("USER", &u.name);
    // Root's supplementary groups must not stay; then gid, then uid.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setgroups(&[gid])?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            Ok(())
        });
    }
}

/// Hands a whole tree to the app user (never following links).
pub fn hand_over_tree(path: &Path, who: Option<&(User, Group)>) -> Result<()> {
    if who.is_none() {
        return Ok(());
    }
    hand_over(path, who)?;
    for e in std::fs::read_dir(path)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            hand_over_tree(&e.path(), who)?;
        }
    }
    Ok(())
}

/// Becomes the app user (for `jib exec`). Groups first, then gid, then uid.
pub fn become_user(who: &(User, Group)) -> Result<()> {
    let (u, g) = who;
    let name = std::ffi::CString::new(u.name.as_bytes())?;
    nix::unistd::initgroups(&name, g.gid).context("initgroups")?;
    nix::unistd::setgid(g.gid).context("setgid")?;
    nix::unistd::setuid(u.uid).context("setuid")?;
    Ok(())
}
