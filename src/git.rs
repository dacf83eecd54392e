//! The laptop's repository: which commit a branch names, whether the work tree is dirty, and
//! the pack of objects the server is missing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use git2::{BranchType, Oid, Repository, StatusOptions};

pub struct Repo {
    repo: Repository,
}

impl Repo {
    /// Opens the repository containing `dir`.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let repo = Repository::discover(dir).map_err(|e| {
            anyhow!(
                "{} is not inside a git repository ({}) — run jib from your project's checkout",
                dir.display(),
                e.message()
            )
        })?;
        Ok(Repo { repo })
    }

    /// A server's bare repository (a promotion on one server packs from the source root's).
    pub fn open_bare(path: &Path) -> Result<Repo> {
        let repo = Repository::open_bare(path)
            .map_err(|e| anyhow!("cannot open {}: {}", path.display(), e.message()))?;
        Ok(Repo { repo })
    }

    pub fn workdir(&self) -> Result<PathBuf> {
        self.repo
            .workdir()
            .map(Path::to_path_buf)
            .context("this is a bare repository; run jib from a checkout")
    }

    /// The branch checked out now.
    pub fn current_branch(&self) -> Result<String> {
        let head = self
            .repo
            .head()
            .context("the repository has no commits yet")?;
        if !head.is_branch() {
            bail!("HEAD is detached; name the branch to push: jib push <branch>");
        }
        head.shorthand()
            .map(str::to_string)
            .context("the current branch name is not valid UTF-8")
    }

    /// All local branch names.
    pub fn branches(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for b in self.repo.branches(Some(BranchType::Local))? {
            let (b, _) = b?;
            if let Some(name) = b.name()? {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// The commit a local branch points at.
    pub fn branch_head(&self, branch: &str) -> Result<Oid> {
        match self.repo.find_branch(branch, BranchType::Local) {
            Ok(b) => b
                .get()
                .peel_to_commit()
                .map(|c| c.id())
                .with_context(|| format!("branch {branch:?} does not point at a commit")),
            Err(_) => {
                let known = self.branches().unwrap_or_default();
                bail!(
                    "no local branch named {branch:?}; local branches: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )
            }
        }
    }

    /// Paths with uncommitted changes (tracked files only), for a warning.
    pub fn dirty_paths(&self) -> Result<Vec<String>> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(false).include_ignored(false);
        let statuses = self.repo.statuses(Some(&mut opts))?;
        Ok(statuses
            .iter()
            .filter(|s| !s.status().is_empty())
            .filter_map(|s| s.path().ok().map(str::to_string))
            .collect())
    }

    /// A pack of everything reachable from `commit` that is not reachable from the commits the
    /// server says it has (those we know locally). Empty when the server has `commit`.
    pub fn pack_missing(&self, commit: Oid, server_has: &[String]) -> Result<Vec<u8>> {
        if server_has.iter().any(|h| h == &commit.to_string()) {
            return Ok(Vec::new());
        }
        let mut walk = self.repo.revwalk()?;
        walk.push(commit)?;
        for h in server_has {
            if let Ok(oid) = Oid::from_str(h)
                && self.repo.find_commit(oid).is_ok()
            {
                walk.hide(oid)?;
            }
        }
        let mut pb = self.repo.packbuilder()?;
        pb.insert_walk(&mut walk)?;
        let mut buf = git2::Buf::new();
        pb.write_buf(&mut buf)?;
        Ok(buf.to_vec())
    }

    /// Commits in `to` that `from` lacks, newest first: (count, up to `max` of `(short id,
    /// summary)`). `None` when `from` is not known locally (history cannot be shown).
    pub fn log_between(
        &self,
        from: Option<&str>,
        to: &str,
        max: usize,
    ) -> Option<(usize, Vec<(String, String)>)> {
        let to = Oid::from_str(to).ok()?;
        let mut walk = self.repo.revwalk().ok()?;
        walk.push(to).ok()?;
        if let Some(f) = from {
            let f = Oid::from_str(f).ok()?;
            self.repo.find_commit(f).ok()?;
            walk.hide(f).ok()?;
        }
        let mut n = 0;
        let mut shown = Vec::new();
        for oid in walk.flatten() {
            n += 1;
            if shown.len() < max
                && let Ok(c) = self.repo.find_commit(oid)
            {
                shown.push((
                    oid.to_string()[..7].to_string(),
                    String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
                ));
            }
        }
        Some((n, shown))
    }

    /// The local branch `jib promote --merge` moves: `preferred`, else `main`, else `master`.
    pub fn mainline(&self, preferred: Option<&str>) -> Result<String> {
        let known = self.branches()?;
        if let Some(p) = preferred {
            if known.iter().any(|b| b == p) {
                return Ok(p.to_string());
            }
            bail!("no local branch named {p:?} (env.<prod>.merge_into)");
        }
        ["main", "master"]
            .into_iter()
            .find(|b| known.iter().any(|k| k == b))
            .map(str::to_string)
            .context("neither main nor master exists locally; set merge_into in deploy.toml")
    }

    /// True when `branch` can move to `to` without rewriting history (it is an ancestor of it).
    pub fn can_fast_forward(&self, branch: &str, to: Oid) -> Result<bool> {
        let head = self.branch_head(branch)?;
        Ok(head == to || self.repo.graph_descendant_of(to, head)?)
    }

    /// Moves `branch` forward to `to` (never backwards or sideways). When it is checked out,
    /// the work tree follows, refusing to overwrite local changes.
    pub fn fast_forward(&self, branch: &str, to: Oid) -> Result<()> {
        if !self.can_fast_forward(branch, to)? {
            bail!("{branch} is not an ancestor of {to}: fast-forward impossible");
        }
        let checked_out = self.current_branch().ok().as_deref() == Some(branch);
        if checked_out {
            let commit = self.repo.find_commit(to)?;
            let mut co = git2::build::CheckoutBuilder::new();
            co.safe();
            self.repo
                .checkout_tree(commit.as_object(), Some(&mut co))
                .with_context(|| {
                    format!("cannot update the checkout of {branch} (local changes?)")
                })?;
        }
        let mut r = self
            .repo
            .find_branch(branch, BranchType::Local)?
            .into_reference();
        r.set_target(to, &format!("jib promote --merge: fast-forward to {to}"))?;
        Ok(())
    }

    /// Whether `commit` is in `branch`'s history (`None` when either is unknown here).
    pub fn is_merged(&self, commit: &str, branch: &str) -> Option<bool> {
        let c = Oid::from_str(commit).ok()?;
        self.repo.find_commit(c).ok()?;
        let head = self.branch_head(branch).ok()?;
        Some(head == c || self.repo.graph_descendant_of(head, c).ok()?)
    }

    /// Whether a branch of that name exists here or on any remote we track.
    pub fn branch_exists_anywhere(&self, name: &str) -> bool {
        if self.repo.find_branch(name, BranchType::Local).is_ok() {
            return true;
        }
        self.repo
            .branches(Some(BranchType::Remote))
            .into_iter()
            .flatten()
            .flatten()
            .any(|(b, _)| {
                b.name()
                    .ok()
                    .flatten()
                    .and_then(|n| n.split_once('/').map(|(_, rest)| rest == name))
                    .unwrap_or(false)
            })
    }

    /// Who is deploying: git's user.email, else the local user and host.
    pub fn identity(&self) -> String {
        let email = self
            .repo
            .config()
            .ok()
            .and_then(|c| c.get_string("user.email").ok());
        let local = local_user();
        match email {
            Some(e) if !e.is_empty() => format!("{e} ({local})"),
            _ => local,
        }
    }
}

/// `user@host` of this machine.
pub fn local_user() -> String {
    let user = std::env::var("USER")
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into());
    let host = nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}
