//! The release pipeline every push and promote runs: objects in, lock, recover, export the
//! commit, reuse or build the venv, record the release, activate it (import check, release
//! step, switch, health) — and everything back the way it was when a step fails. Only where
//! the objects come from, what the venv is built from and what the release records of its
//! provenance differ; the verbs say those and build their replies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::activate::Activation;
use super::ctx::{Ctx, check_server, internal};
use super::emit::Emitter;
use super::objects;
use crate::emperor;
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
    /// One host of a fleet: the switch waits for the CLI's word (see `Ctx::pass`).
    pub gated: bool,
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
    pub ctx: Ctx<'a>,
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
    input: &'a mut dyn std::io::BufRead,
    em: &'a Emitter,
) -> Result<Opened<'a>, RemoteError> {
    let (commit, mut ctx) = open_target(ship, em)?;
    let repo = objects::open(&ctx.layout)?;
    let copied = match objects {
        Objects::FromRoot(src) => {
            objects::copy_from(&ctx.layout, &repo, &src, commit)?;
            true
        }
        Objects::FromCli => false,
    };
    objects::receive(&ctx.layout, &repo, commit, &mut &mut *input, em)?;
    if ship.gated {
        ctx.gate_on(input);
    }
    objects::set_app_ref(&repo, ship.app, commit, ship.reflog);
    let lock = ctx.lock(ship.doing.clone(), ship.lock_wait_secs)?;
    ctx.recover_interrupted();
    let previous = release::current(&ctx.app);
    Ok(Opened {
        ctx,
        repo,
        commit,
        previous,
        copied,
        _lock: lock,
        ship,
    })
}

/// Checks a deploy-like request (the app name, the full commit id, the root set up and
/// served) and starts the app's deploy log.
fn open_target<'a>(ship: &'a Ship<'a>, em: &'a Emitter) -> Result<(Oid, Ctx<'a>), RemoteError> {
    let (app, commit) = (ship.app, ship.commit);
    if !crate::slug::is_app_name(app) {
        return Err(RemoteError::new(
            "request",
            format!("{app:?} is not a valid app name"),
        ));
    }
    let oid = Oid::from_str(commit)
        .ok()
        .filter(|_| commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            RemoteError::new("request", format!("{commit:?} is not a full commit id"))
        })?;
    let layout = check_server(ship.server)?;
    require_serve(&layout, ship.server)?;
    let ctx = Ctx::new(ship.server, layout, app, ship.by, em);
    emperor::prepare_dirs(&ctx.app, ship.server).map_err(internal("prepare"))?;
    em.tee(&ctx.app.deploy_log());
    Ok((oid, ctx))
}

/// Refuses to deploy into a root whose `jib-agent serve` is not running.
fn require_serve(layout: &Layout, server: &ServerConfig) -> Result<(), RemoteError> {
    if super::setup::running_serve(layout).is_none() {
        return Err(RemoteError::new(
            "setup",
            format!(
                "jib-agent serve is not running for {}",
                server.root.display()
            ),
        )
        .hint("run `jib setup` to start it (it runs under systemd where available)"));
    }
    Ok(())
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
    ) -> Result<Shipped, RemoteError> {
        let (ship, ctx) = (self.ship, &self.ctx);
        let id = release::new_id(&ctx.app, ship.commit);
        let rel_dir = ctx.app.release(&id);
        ctx.em.step(files_step, || {
            let n = export_release(ctx, &self.repo, self.commit, &rel_dir)?;
            Ok((n, Some(files_detail(n))))
        })?;
        let (venv, venv_reused) = build_venv(ctx, build).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&rel_dir);
        })?;
        let url = crate::config::app_url(ship.app, ship.server);
        let mut meta = ReleaseMeta {
            id: id.clone(),
            app: ship.app.to_string(),
            branch: ship.branch.to_string(),
            commit: ship.commit.to_string(),
            subject: release::subject(&self.repo, self.commit),
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
            ctx,
            spec: ship.spec,
            label: ship.label,
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

/// Exports `commit` as the release in `rel_dir` (removed again when that fails).
fn export_release(
    ctx: &Ctx,
    repo: &Repository,
    commit: Oid,
    rel_dir: &Path,
) -> Result<usize, RemoteError> {
    let gid = ctx.sandbox("export")?.ids().map(|i| i.1);
    release::create_dir(rel_dir, gid)
        .and_then(|()| release::export(repo, commit, &AppLayout::src_of(rel_dir)))
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(rel_dir);
            internal("export")(e)
        })
}

/// The venv step: reuse or build the venv for `build`, as the app's user. A locked set must
/// run on the Python version it was tested with.
fn build_venv(ctx: &Ctx, build: Build) -> Result<(venv::Venv, bool), RemoteError> {
    let Build { python, packages } = build;
    let deps = match packages {
        Packages::Requirements(r) => venv::Deps::Requirements(r),
        Packages::Locked { lock, .. } => venv::Deps::Locked(lock),
    };
    let (v, reused) = ctx.em.step("venv", || {
        let sandbox = ctx.sandbox("venv")?;
        let (v, reused) = venv::ensure(&ctx.layout, python, deps, &ctx.app.venv_log(), &sandbox)?;
        check_embedded_python(&v)?;
        let detail = if reused {
            format!("reused {}", venv::short(&v.hash))
        } else {
            format!("built {} with {}", venv::short(&v.hash), v.tool)
        };
        Ok(((v, reused), Some(detail)))
    })?;
    if let Packages::Locked {
        python_version,
        from,
        ..
    } = packages
        && venv::minor_version(&v.python_version) != venv::minor_version(python_version)
    {
        return Err(RemoteError::new(
            "venv",
            format!(
                "{from} ran on Python {python_version}, this server's app.python is {}",
                v.python_version
            ),
        )
        .hint(
            "install the same Python version here, or set app.python so both environments use it",
        ));
    }
    Ok((v, reused))
}

/// The workers run inside uWSGI's embedded Python: a venv of another version would import but
/// break at the first compiled extension. Say so now, never fall back.
fn check_embedded_python(v: &venv::Venv) -> Result<(), RemoteError> {
    let Some(embedded) = emperor::embedded_python() else {
        return Ok(());
    };
    if v.python_version.is_empty() || venv::minor_version(&v.python_version) == embedded {
        return Ok(());
    }
    Err(RemoteError::new(
        "python",
        format!(
            "app.python gives Python {} but uWSGI's python3 plugin embeds Python {embedded}",
            v.python_version
        ),
    )
    .hint(format!(
        "set python = \"{embedded}\" in deploy.toml, or install a uWSGI python plugin built for {}",
        venv::minor_version(&v.python_version)
    )))
}

/// The release's environment: deploy.toml's, plus who the app is.
fn app_env(spec: &BuildSpec, app: &str, branch: &str, url: &str) -> BTreeMap<String, String> {
    let mut env = spec.env.clone();
    env.insert("JIB_APP".into(), app.to_string());
    env.insert("JIB_BRANCH".into(), branch.to_string());
    env.insert("JIB_URL".into(), url.to_string());
    env
}
