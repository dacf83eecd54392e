//! The release pipeline every push and promote runs: objects in, lock, recover, export the
//! commit, reuse or build the venv, record the release, activate it (import check, release
//! step, switch, health) — and everything back the way it was when a step fails. Only where
//! the objects come from, what the venv is built from and what the release records of its
//! provenance differ; the verbs say those and build their replies.

use std::path::PathBuf;

use git2::{Oid, Repository};

use super::Emitter;
use super::deploy::{
    Activation, app_env, build_venv, export_release, internal, known_commits, lock_app, open_repo,
    open_target, receive_objects, receive_pack, recover_interrupted,
};
use crate::layout::{AppLayout, Layout};
use crate::protocol::{BuildSpec, RemoteError, ServerConfig};
use crate::release::{self, ReleaseMeta, ReleaseState};
use crate::venv;

/// What is shipped, for whom.
pub(super) struct Ship<'a> {
    pub server: &'a ServerConfig,
    pub spec: &'a BuildSpec,
    pub app: &'a str,
    pub commit: &'a str,
    pub branch: &'a str,
    pub by: &'a str,
    /// What the lock says is going on (`push main (1a2b…)`).
    pub doing: String,
    pub lock_wait_secs: u64,
    /// What the user pushed or promoted, for hints.
    pub label: &'a str,
    /// The ref log message (`jib push`).
    pub reflog: &'a str,
}

/// Where the commit's objects come from.
pub(super) enum Objects {
    /// The CLI sends what this server lacks.
    FromCli,
    /// Another root's repository on this server (a same-host promote), else the CLI.
    FromRoot(PathBuf),
}

/// What the venv is built from.
pub(super) enum Packages<'a> {
    /// The commit's dependency file (its bytes), resolved.
    Requirements(&'a [u8]),
    /// The exact set a release elsewhere ran, and the Python version it ran on.
    Locked {
        lock: &'a str,
        python_version: &'a str,
        from: &'a str,
    },
}

/// The lock is held and the target known: what a verb may look at before anything is built
/// (a push of what already runs stops here).
pub(super) struct Opened<'a> {
    pub layout: Layout,
    pub app: AppLayout,
    pub repo: Repository,
    pub commit: Oid,
    pub previous: Option<ReleaseMeta>,
    /// True when the objects came from another root on this server.
    pub copied: bool,
    _lock: crate::lock::Lock,
    ship: &'a Ship<'a>,
}

/// The venv to run it with: from this interpreter, with these packages.
pub(super) struct Build<'a> {
    pub python: &'a venv::Python,
    pub packages: Packages<'a>,
}

/// What a shipped release is.
pub(super) struct Shipped {
    pub id: String,
    pub venv: venv::Venv,
    pub venv_reused: bool,
    pub previous: Option<ReleaseMeta>,
}

/// Receives the objects, takes the app's lock and puts back what an interrupted deploy left.
pub(super) fn open<'a>(
    ship: &'a Ship<'a>,
    objects: Objects,
    input: &mut impl std::io::BufRead,
    em: &Emitter,
) -> Result<Opened<'a>, RemoteError> {
    let (commit, layout, app) = open_target(ship.server, ship.app, ship.commit, em)?;
    let repo = open_repo(&layout)?;
    let copied = match objects {
        Objects::FromRoot(src) if repo.find_commit(commit).is_err() => {
            let pack = crate::git::Repo::open_bare(&src)
                .and_then(|r| r.pack_missing(commit, &known_commits(&layout)))
                .map_err(internal("files"))?;
            receive_pack(&repo, &mut pack.as_slice(), pack.len() as u64)?;
            true
        }
        Objects::FromRoot(_) => true,
        Objects::FromCli => false,
    };
    receive_objects(&layout, &repo, commit, input, em)?;
    let _ = repo.reference(&crate::layout::app_ref(ship.app), commit, true, ship.reflog);
    let lock = lock_app(
        &layout,
        ship.app,
        ship.by,
        ship.doing.clone(),
        ship.lock_wait_secs,
        em,
    )?;
    recover_interrupted(&app, ship.server, em);
    let previous = release::current(&app);
    Ok(Opened {
        layout,
        app,
        repo,
        commit,
        previous,
        copied,
        _lock: lock,
        ship,
    })
}

impl Opened<'_> {
    /// Exports, builds the venv, records and activates the release. `files_step` names the
    /// export step (`export`, or `files` for a promote); `spec_digest` and `promoted_from` are
    /// what the release records of itself besides the code.
    pub fn ship(
        self,
        files_step: &str,
        files_detail: impl FnOnce(usize) -> String,
        build: Build,
        spec_digest: String,
        promoted_from: Option<String>,
        em: &Emitter,
    ) -> Result<Shipped, RemoteError> {
        let ship = self.ship;
        let id = release::new_id(&self.app, ship.commit);
        let rel_dir = self.app.release(&id);
        em.step(files_step, || {
            let n = export_release(ship.server, &self.layout, &self.repo, self.commit, &rel_dir)?;
            Ok((n, Some(files_detail(n))))
        })?;
        let Build { python, packages } = build;
        let deps = match packages {
            Packages::Requirements(r) => venv::Deps::Requirements(r),
            Packages::Locked { lock, .. } => venv::Deps::Locked(lock),
        };
        let (venv, venv_reused) = build_venv(&self.layout, &self.app, ship.server, python, deps, em)
            .and_then(|(v, reused)| match packages {
                Packages::Locked {
                    python_version,
                    from,
                    ..
                } if venv::minor_version(&v.python_version)
                    != venv::minor_version(python_version) =>
                {
                    Err(RemoteError::new(
                        "venv",
                        format!(
                            "{from} ran on Python {python_version}, this server's app.python is {}",
                            v.python_version
                        ),
                    )
                    .hint("install the same Python version here, or set app.python so both environments use it"))
                }
                _ => Ok((v, reused)),
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&rel_dir);
            })?;
        let url = crate::config::app_url(ship.app, ship.server);
        let mut meta = ReleaseMeta {
            id: id.clone(),
            app: ship.app.to_string(),
            branch: ship.branch.to_string(),
            commit: ship.commit.to_string(),
            entry: ship.spec.entry.clone(),
            venv: venv.hash.clone(),
            site_packages: venv.site_packages.clone(),
            env: app_env(ship.spec, ship.app, ship.branch, &url),
            spec_digest,
            health_path: ship.spec.health_path.clone(),
            created: release::utc_now(),
            by: ship.by.to_string(),
            state: ReleaseState::Pending,
            processes: ship.spec.processes.clone(),
            cron: ship.spec.cron.clone(),
            promoted_from,
        };
        Activation {
            server: ship.server,
            layout: &self.layout,
            app: &self.app,
            spec: ship.spec,
            label: ship.label,
            em,
        }
        .run(&mut meta, &venv, self.previous.as_ref())?;
        Ok(Shipped {
            id,
            venv,
            venv_reused,
            previous: self.previous,
        })
    }
}
