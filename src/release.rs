//! Releases of one app: `releases/<utc>-<sha12>/{src/, release.json}`, `current` switched by
//! rename(2) so there is never a moment without a valid target, and retention that never lets
//! failed attempts evict good releases (Capistrano #2120).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde::{Deserialize, Serialize};

use crate::layout::AppLayout;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: String,
    pub app: String,
    pub branch: String,
    pub commit: String,
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
    pub state: String,
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

/// A new release id: sortable by time, names the commit.
pub fn new_id(app: &AppLayout, commit: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
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

/// Writes the tree of `commit` into `dest` (which must not exist): files with their exec bit,
/// symlinks as symlinks; submodules are skipped. Entry names are checked so that no path can
/// leave `dest`.
pub fn export(repo: &Repository, commit: Oid, dest: &Path) -> Result<usize> {
    let tree = repo.find_commit(commit)?.tree()?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut count = 0usize;
    let mut err: Option<anyhow::Error> = None;
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let name = match entry.name() {
            Ok(n) if !n.is_empty() && n != "." && n != ".." && n != ".git" && !n.contains('/') => n,
            other => {
                err = Some(anyhow::anyhow!(
                    "refusing tree entry {:?} in {parent:?}",
                    other.ok()
                ));
                return TreeWalkResult::Abort;
            }
        };
        let path = dest.join(parent).join(name);
        let res = (|| -> Result<()> {
            match entry.kind() {
                Some(ObjectType::Tree) => std::fs::create_dir_all(&path)?,
                Some(ObjectType::Blob) => {
                    let blob = repo.find_blob(entry.id())?;
                    let mode = entry.filemode();
                    if mode == 0o120000 {
                        let target = std::str::from_utf8(blob.content())
                            .context("symlink target is not UTF-8")?;
                        std::os::unix::fs::symlink(target, &path)?;
                    } else {
                        std::fs::write(&path, blob.content())?;
                        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm))?;
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
                err = Some(e.context(format!("writing {}", path.display())));
                TreeWalkResult::Abort
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(count)
}

/// Copies a release's files (`src/`) into `dest`, which must not exist: regular files with their
/// permissions, symlinks as symlinks (never followed), directories recursively.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<usize> {
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut n = 0;
    for e in std::fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let e = e?;
        let (from, to) = (e.path(), dest.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            n += 1;
        } else if ft.is_dir() {
            n += copy_tree(&from, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

pub fn write_meta(dir: &Path, meta: &ReleaseMeta) -> Result<()> {
    let tmp = dir.join("release.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(meta)?)?;
    std::fs::rename(&tmp, dir.join("release.json"))?;
    Ok(())
}

pub fn read_meta(dir: &Path) -> Option<ReleaseMeta> {
    serde_json::from_slice(&std::fs::read(dir.join("release.json")).ok()?).ok()
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
    let good: Vec<&ReleaseMeta> = all.iter().filter(|r| r.state == "ok").collect();
    let newest_failed = all
        .last()
        .filter(|r| r.state == "failed")
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
