//! Who apps run as. An agent running as root never runs app code as root when `run_as` is set:
//! the Emperor starts each vassal as that user, `jib exec`/`shell` drop to it, and everything
//! else app-controlled runs in a [`crate::sandbox::Sandbox`].

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

/// The apps' user of an environment (see [`app_user`]).
pub fn of_server(server: &crate::protocol::ServerConfig) -> Result<Option<(User, Group)>> {
    app_user(server.run_as.as_deref())
}

/// Becomes the app user (for `jib exec`). Groups first, then gid, then uid.
pub fn become_user(who: &(User, Group)) -> Result<()> {
    let (u, g) = who;
    // Its primary group only, as the sandbox and the Emperor give it.
    nix::unistd::setgroups(&[g.gid]).context("setgroups")?;
    nix::unistd::setgid(g.gid).context("setgid")?;
    nix::unistd::setuid(u.uid).context("setuid")?;
    Ok(())
}
