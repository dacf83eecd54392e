//! The server's repository (`<root>/.jib/repo.git`): the git objects every release is
//! exported from, received from the CLI (only what is missing) or copied from another root on
//! this server, and one ref per app (`refs/jib/<app>`) naming what it runs.

use std::io::Read;
use std::path::Path;

use git2::{Oid, Repository};

use super::ctx::internal;
use super::emit::Emitter;
use crate::layout::{self, Layout};
use crate::lock::Lock;
use crate::protocol::{Event, PackHeader, RemoteError};

/// Opens the repository, creating it on first use (under its lock: two first pushes at once).
pub(super) fn open(layout: &Layout) -> Result<Repository, RemoteError> {
    let path = layout.repo();
    if let Ok(r) = Repository::open_bare(&path) {
        return Ok(r);
    }
    let _l = Lock::wait(&layout.repo_lock()).map_err(internal("receive"))?;
    Repository::open_bare(&path)
        .or_else(|_| Repository::init_bare(&path))
        .map_err(|e| {
            RemoteError::new(
                "receive",
                format!("cannot open {}: {}", path.display(), e.message()),
            )
        })
}

/// Commits the server's repository holds (one per app), for the CLI's pack negotiation.
pub(super) fn known_commits(layout: &Layout) -> Vec<String> {
    let Ok(repo) = Repository::open_bare(layout.repo()) else {
        return Vec::new();
    };
    let Ok(refs) = repo.references_glob(layout::APP_REFS) else {
        return Vec::new();
    };
    let mut out: Vec<String> = refs
        .flatten()
        .filter_map(|r| r.target().map(|o| o.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Copies what `commit` needs from the repository `src` (another root's on this server)
/// into `repo`, unless it is there already.
pub(super) fn copy_from(
    layout: &Layout,
    repo: &Repository,
    src: &Path,
    commit: Oid,
) -> Result<(), RemoteError> {
    if repo.find_commit(commit).is_ok() {
        return Ok(());
    }
    let pack = crate::git::Repo::open_bare(src)
        .and_then(|r| r.pack_missing(commit, &known_commits(layout)))
        .map_err(internal("files"))?;
    receive_pack(repo, &mut pack.as_slice(), pack.len() as u64)
}

/// Makes sure `commit` is in the server's repository, asking the CLI for the objects it lacks.
pub(super) fn receive(
    layout: &Layout,
    repo: &Repository,
    commit: Oid,
    input: &mut impl std::io::BufRead,
    em: &Emitter,
) -> Result<(), RemoteError> {
    if repo.find_commit(commit).is_err() {
        em.send(&Event::NeedObjects {
            have: known_commits(layout),
        });
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| RemoteError::new("receive", format!("reading the pack header: {e}")))?;
        let header: PackHeader = serde_json::from_str(&line)
            .map_err(|e| RemoteError::new("receive", format!("bad pack header {line:?}: {e}")))?;
        em.step("receive", || {
            receive_pack(repo, input, header.len)?;
            Ok(((), Some(format!("{} KiB", header.len.div_ceil(1024)))))
        })?;
    }
    if repo.find_commit(commit).is_err() {
        return Err(
            RemoteError::new("receive", format!("commit {commit} did not arrive"))
                .hint("try again; if it persists, the server's repository may be damaged"),
        );
    }
    Ok(())
}

/// Writes `len` bytes of pack from `input` into the repository.
fn receive_pack(repo: &Repository, input: &mut impl Read, len: u64) -> Result<(), RemoteError> {
    let err = |e: &dyn std::fmt::Display| RemoteError::new("receive", format!("{e}"));
    let odb = repo.odb().map_err(|e| err(&e))?;
    let mut w = odb.packwriter().map_err(|e| err(&e))?;
    let copied = std::io::copy(&mut input.take(len), &mut w).map_err(|e| err(&e))?;
    if copied != len {
        return Err(RemoteError::new(
            "receive",
            format!("connection ended after {copied} of {len} bytes of objects"),
        )
        .hint("push again"));
    }
    w.commit().map_err(|e| err(&e))?;
    Ok(())
}

/// Records that `app` runs `commit` (its objects then count as the server's for the next
/// pack negotiation, and are kept).
pub(super) fn set_app_ref(repo: &Repository, app: &str, commit: Oid, reflog: &str) {
    let _ = repo.reference(&layout::app_ref(app), commit, true, reflog);
}

/// Forgets what `app` ran (it was destroyed).
pub(super) fn delete_app_ref(layout: &Layout, app: &str) {
    if let Ok(repo) = Repository::open_bare(layout.repo())
        && let Ok(mut r) = repo.find_reference(&layout::app_ref(app))
    {
        let _ = r.delete();
    }
}
