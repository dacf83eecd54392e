//! `jib-agent promote`: ships the build another environment runs (its commit, its exact
//! package set, on the same Python version) as this environment's app, through the same
//! pipeline as a push (see [`super::pipeline`]); never from the source's files.

use std::path::{Path, PathBuf};

use super::emit::Emitter;
use super::pipeline::{self, Build, Objects, Packages, Ship};
use crate::layout::Layout;
use crate::protocol::{PromoteRequest, RemoteError, Reply};
use crate::venv;

pub(super) fn promote(
    req: PromoteRequest,
    input: &mut dyn std::io::BufRead,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let a = &req.artifact;
    let ship = Ship {
        server: &req.server,
        spec: &req.spec,
        app: &req.app,
        commit: &a.commit,
        branch: &a.branch,
        by: &req.by,
        doing: format!(
            "promote {} ({})",
            a.branch,
            a.commit.get(..12).unwrap_or(&a.commit)
        ),
        lock_wait_secs: req.lock_wait_secs,
        label: &req.app,
        reflog: "jib promote",
        gated: req.gated,
    };
    // Always built from git objects, never from the source's files (its app user could have
    // changed them). Same server: the objects come from the source root's repository; else
    // the CLI sends what this server lacks.
    let objects = match req.same_host.then(|| source_repo(&a.src)).flatten() {
        Some(repo) => Objects::FromRoot(repo),
        None => Objects::FromCli,
    };
    let opened = pipeline::open(&ship, objects, input, em)?;
    let copied = opened.copied;
    // The venv: the exact set the branch ran, from an interpreter of the same version.
    let python = venv::find_python(&req.spec.python)?;
    let shipped = opened.ship(
        "files",
        |n| {
            if copied {
                format!("{n} files, objects copied from {}", a.app)
            } else {
                format!("{n} files")
            }
        },
        Build {
            python: &python,
            packages: Packages::Locked {
                lock: &a.lock,
                python_version: &a.python_version,
                from: &a.app,
            },
        },
        venv::lock_digest(&a.lock),
        Some(format!("{}/{}@{}", req.from_env, a.app, a.release)),
    )?;
    Ok(Reply::Promote {
        app: req.app.clone(),
        url: crate::config::app_url(&req.app, &req.server),
        release: shipped.id,
        commit: a.commit.clone(),
        previous: shipped.previous.map(|p| p.id).unwrap_or_default(),
        venv: shipped.venv.hash,
        venv_reused: shipped.venv_reused,
        files: if copied { "copied" } else { "objects" }.to_string(),
    })
}

/// The repository of the root a same-server artifact's release lives in
/// (`<root>/<app>/releases/<id>/src`), when that is a root jib set up.
fn source_repo(src: &Path) -> Option<PathBuf> {
    let layout = Layout::of_release_src(src)?;
    // A root jib set up and only root can change (not a look-alike someone built), and, for
    // a user's call, one that user may deploy to as well.
    let trusted =
        !nix::unistd::geteuid().is_root() || super::setup::check_ancestors(&layout.state()).is_ok();
    let allowed = super::ctl::Peer::current().is_none_or(|p| super::ctl::may_use(&layout, &p.user));
    (trusted && allowed && layout.server_json().is_file() && layout.repo().is_dir())
        .then(|| layout.repo())
}
