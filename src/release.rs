//! Releases of one app: `releases/<utc>-<sha12>/{src/, release.json}`, `current` switched by
//! rename(2) so there is never a moment without a valid target, and retention that never lets
//! failed attempts evict good releases (Capistrano #2120).

use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde::{Deserialize, Serialize};

use crate::layout::AppLayout;
pub use crate::protocol::ReleaseState;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: String,
    pub app: String,
    pub branch: String,
    pub commit: String,
    /// The commit message's first line, as the branch index and `jib list --json` show it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    pub entry: String,
    pub venv: String,
    pub site_packages: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Digest of everything that defines this release besides the code (spec, venv).
    pub spec_digest: String,
    /// What the health check requests (restarts check the same).
    #[serde(default = "default_health_path")]
    pub health_path: String,
    pub created: String,
    pub by: String,
    /// `pending` until the health check passes, then `ok`; `failed` when it never did.
    pub state: ReleaseState,
    /// For promoted releases: `<env>/<app>@<release>` they were copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
    /// `[processes]` the supervisor runs from this release.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub processes: BTreeMap<String, String>,
    /// `[cron]` entries the supervisor runs from this release.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cron: BTreeMap<String, String>,
}

fn default_health_path() -> String {
    "/".into()
}

pub fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The first line of `commit`'s message, for showing: control characters dropped (the text is
/// the branch's, shown on terminals and pages), at most 200 characters.
pub fn subject(repo: &Repository, commit: Oid) -> String {
    let Ok(c) = repo.find_commit(commit) else {
        return String::new();
    };
    let line = c
        .summary_bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// A new release id: sortable by time (to the millisecond: two pushes can land in one
/// second, and "the newest" must be the newest), names the commit.
pub fn new_id(app: &AppLayout, commit: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second][subsecond digits:3]Z"
        ))
        .unwrap_or_default();
    let base = format!("{stamp}-{}", &commit[..12.min(commit.len())]);
    let mut id = base.clone();
    let mut n = 2;
    while app.release(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// Creates a release's directory: the agent's, in the apps' group (`gid`) so that they can
/// read its `release.json` and nobody else can.
pub fn create_dir(dir: &Path, gid: Option<u32>) -> Result<()> {
    let releases = dir.parent().context("a release directory has a parent")?;
    std::fs::create_dir_all(releases)
        .with_context(|| format!("cannot create {}", releases.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    crate::fsafe::ensure_dir(dir, 0o755, gid.map(|g| (me, g)))
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes the tree of `commit` into `dest` (which must not exist): files 0644 (0755 with an
/// exec bit) whatever the tree says, symlinks as symlinks; submodules are skipped.
///
/// Everything is created relative to descriptors of directories this export made itself, with
/// O_EXCL: a tree that names an entry twice (a link and a file, which libgit2 does not refuse)
/// or puts a path through a link is refused, and nothing is ever written through a link.
pub fn export(repo: &Repository, commit: Oid, dest: &Path) -> Result<usize> {
    use rustix::fs::{Mode, OFlags};
    let tree = repo.find_commit(commit)?.tree()?;
    crate::fsafe::ensure_dir(dest, 0o755, None)?;
    let top = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", dest.display()))?;
    if rustix::fs::Dir::read_from(&top)?
        .any(|e| e.is_ok_and(|e| !matches!(e.file_name().to_bytes(), b"." | b"..")))
    {
        anyhow::bail!("{} is not empty", dest.display());
    }
    // Descriptors of the directories on the current path, by tree path ("" is the top, "a/b/"
    // as libgit2 names parents). The walk is depth-first: a directory left is never seen again,
    // so only the current path stays open (a tree of thousands of directories fits any limit).
    let mut dirs: Vec<(String, std::os::fd::OwnedFd)> = vec![(String::new(), top)];
    let mut count = 0usize;
    let mut err: Option<anyhow::Error> = None;
    let walked = tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let res = (|| -> Result<()> {
            let name = match entry.name() {
                Ok(n)
                    if !n.is_empty()
                        && n != "."
                        && n != ".."
                        && n != ".git"
                        && !n.contains('/')
                        && !n.contains('\0') =>
                {
                    n
                }
                other => anyhow::bail!("refusing tree entry {:?} in {parent:?}", other.ok()),
            };
            while dirs.len() > 1 && dirs.last().is_some_and(|(p, _)| p != parent) {
                dirs.pop();
            }
            let Some((_, dir)) = dirs.last().filter(|(p, _)| p == parent) else {
                anyhow::bail!(
                    "refusing {parent}{name}: {parent:?} is not a directory of this tree"
                );
            };
            let exists = |e: rustix::io::Errno| -> anyhow::Error {
                if e == rustix::io::Errno::EXIST {
                    anyhow::anyhow!("the tree names {parent}{name} twice; refusing it")
                } else {
                    anyhow::anyhow!("{e}")
                }
            };
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)).map_err(exists)?;
                    let fd = rustix::fs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    dirs.push((format!("{parent}{name}/"), fd));
                }
                Some(ObjectType::Blob) => {
                    let blob = repo.find_blob(entry.id())?;
                    let mode = entry.filemode();
                    if mode == 0o120000 {
                        let target = std::str::from_utf8(blob.content())
                            .context("symlink target is not UTF-8")?;
                        rustix::fs::symlinkat(target, dir, name).map_err(exists)?;
                    } else {
                        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                        let fd = rustix::fs::openat(
                            dir,
                            name,
                            OFlags::WRONLY
                                | OFlags::CREATE
                                | OFlags::EXCL
                                | OFlags::NOFOLLOW
                                | OFlags::CLOEXEC,
                            Mode::from_raw_mode(perm),
                        )
                        .map_err(exists)?;
                        // The umask must not decide the mode.
                        rustix::fs::fchmod(&fd, Mode::from_raw_mode(perm))?;
                        std::io::Write::write_all(&mut std::fs::File::from(fd), blob.content())?;
                    }
                    count += 1;
                }
                _ => {} // submodule commits: not fetched, not exported
            }
            Ok(())
        })();
        match res {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                err = Some(e.context(format!("exporting {}", dest.display())));
                TreeWalkResult::Abort
            }
        }
    });
    // An aborted walk is an error of libgit2's too: ours says why.
    if let Some(e) = err {
        return Err(e);
    }
    walked?;
    Ok(count)
}

/// Records a release (atomically): readable by the agent and the apps' group only, since it
/// holds the app's environment.
pub fn write_meta(dir: &Path, meta: &ReleaseMeta) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::symlink_metadata(dir)?.gid();
    let tmp = dir.join("release.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    std::os::unix::fs::fchown(&f, None, Some(gid))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
    std::io::Write::write_all(&mut f, &serde_json::to_vec_pretty(meta)?)?;
    std::fs::rename(&tmp, dir.join("release.json"))?;
    Ok(())
}

pub fn read_meta(dir: &Path) -> Option<ReleaseMeta> {
    serde_json::from_slice(&crate::fsafe::read(&dir.join("release.json"), 1 << 20).ok()?).ok()
}

/// Points `link` at `target` atomically: a new symlink renamed over the old one.
pub fn switch_link(link: &Path, target: &Path) -> Result<()> {
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::rename(&tmp, link).with_context(|| format!("cannot switch {}", link.display()))?;
    Ok(())
}

/// Points the app's `current` at release `id` (atomically, see [`switch_link`]).
pub fn make_current(app: &AppLayout, id: &str) -> Result<()> {
    switch_link(&app.current(), &AppLayout::current_target(id))
}

/// The release `current` points at.
pub fn current(app: &AppLayout) -> Option<ReleaseMeta> {
    let target = std::fs::read_link(app.current()).ok()?;
    let dir = if target.is_absolute() {
        target
    } else {
        app.dir.join(target)
    };
    read_meta(&dir)
}

/// All releases, oldest first.
pub fn list(app: &AppLayout) -> Vec<ReleaseMeta> {
    let mut out: Vec<ReleaseMeta> = std::fs::read_dir(app.releases())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| read_meta(&e.path()))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Keeps the newest `keep` good releases, always the current one, and the newest attempt when
/// it failed (to inspect it; `jib list` marks it); removes other failed releases and anything
/// older. Failures never count against `keep`. Returns the ids removed.
pub fn prune(app: &AppLayout, keep: usize) -> Result<Vec<String>> {
    let current = crate::layout::link_target_name(&app.current());
    let all = list(app);
    let good: Vec<&ReleaseMeta> = all.iter().filter(|r| r.state == ReleaseState::Ok).collect();
    let newest_failed = all
        .last()
        .filter(|r| r.state == ReleaseState::Failed)
        .map(|r| r.id.as_str());
    let keep_ids: Vec<&str> = good
        .iter()
        .rev()
        .take(keep)
        .map(|r| r.id.as_str())
        .chain(current.as_deref())
        .chain(newest_failed)
        .collect();
    let mut removed = Vec::new();
    for r in &all {
        // Runs under the app lock, so a `pending` release here is a crashed attempt.
        if keep_ids.contains(&r.id.as_str()) {
            continue;
        }
        std::fs::remove_dir_all(app.release(&r.id))
            .with_context(|| format!("cannot remove release {}", r.id))?;
        removed.push(r.id.clone());
    }
    // Directories without metadata are leftovers of interrupted exports.
    for e in std::fs::read_dir(app.releases())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if read_meta(&e.path()).is_none() && Some(&name) != current.as_ref() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A raw tree object: libgit2's TreeBuilder refuses duplicate names, a hostile push may not.
    fn raw_tree(repo: &Repository, entries: &[(&str, &str, Oid)]) -> Oid {
        let mut bytes = Vec::new();
        for (mode, name, oid) in entries {
            bytes.extend(format!("{mode} {name}\0").as_bytes());
            bytes.extend(oid.as_bytes());
        }
        repo.odb().unwrap().write(ObjectType::Tree, &bytes).unwrap()
    }

    fn commit_of(repo: &Repository, tree: Oid) -> Oid {
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo.find_tree(tree).unwrap();
        repo.commit(None, &sig, &sig, "t", &tree, &[]).unwrap()
    }

    #[test]
    fn export_refuses_a_name_given_twice_and_writes_nothing_through_links() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(d.path().join("r.git")).unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let link = repo.blob(outside.to_string_lossy().as_bytes()).unwrap();
        let evil = repo.blob(b"pwned").unwrap();
        let inner = raw_tree(&repo, &[("100644", "f", evil)]);
        // `x` is a link to `outside`, then a directory `x` with a file: the file must not land
        // in `outside`.
        for entries in [
            vec![("120000", "x", link), ("100644", "x", evil)],
            vec![("120000", "x", link), ("40000", "x", inner)],
        ] {
            let c = commit_of(&repo, raw_tree(&repo, &entries));
            let dest = d.path().join(format!("rel-{}", c));
            let e = export(&repo, c, &dest).unwrap_err();
            assert!(format!("{e:#}").contains("twice"), "{e:#}");
            assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        }
    }

    #[test]
    fn export_holds_descriptors_only_along_the_current_path() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(d.path().join("r.git")).unwrap();
        let b = repo.blob(b"x").unwrap();
        let leaf = raw_tree(&repo, &[("100644", "f", b)]);
        // More directories than a default descriptor limit (1024).
        let mut names: Vec<String> = (0..1500).map(|i| format!("d{i:04}")).collect();
        names.sort();
        let entries: Vec<(&str, &str, Oid)> =
            names.iter().map(|n| ("40000", n.as_str(), leaf)).collect();
        let c = commit_of(&repo, raw_tree(&repo, &entries));
        assert_eq!(export(&repo, c, &d.path().join("rel")).unwrap(), 1500);
    }

    #[test]
    fn export_masks_modes() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(d.path().join("r.git")).unwrap();
        let b = repo.blob(b"#!/bin/sh\n").unwrap();
        // Modes a hostile tree could claim: setuid, group/world-writable.
        let c = commit_of(
            &repo,
            raw_tree(
                &repo,
                &[
                    ("104755", "suid", b),
                    ("100666", "open", b),
                    ("100755", "run", b),
                ],
            ),
        );
        let dest = d.path().join("rel");
        assert_eq!(export(&repo, c, &dest).unwrap(), 3);
        let mode = |n: &str| std::fs::metadata(dest.join(n)).unwrap().mode() & 0o7777;
        assert_eq!(mode("suid"), 0o755);
        assert_eq!(mode("open"), 0o644);
        assert_eq!(mode("run"), 0o755);
    }
}
