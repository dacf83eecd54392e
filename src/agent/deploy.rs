//! `jib-agent deploy`: ships a commit the CLI pushed as a new release of its branch's app
//! (see [`super::pipeline`]), its venv resolved from the commit's dependency file — unless
//! the same commit and spec already run, healthy.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use git2::{Oid, Repository};
use sha2::{Digest, Sha256};

use super::ctx::internal;
use super::emit::Emitter;
use super::pipeline::{self, Build, Objects, Packages, Ship};
use crate::health;
use crate::protocol::{DeployRequest, RemoteError, Reply};
use crate::release::{ReleaseMeta, ReleaseState};
use crate::venv;

pub(super) fn deploy(
    req: DeployRequest,
    input: &mut dyn std::io::BufRead,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    let ship = Ship {
        server: &req.server,
        spec: &req.spec,
        app: &req.app,
        commit: &req.commit,
        branch: &req.branch,
        by: &req.by,
        doing: format!(
            "push {} ({})",
            req.branch,
            req.commit.get(..12).unwrap_or(&req.commit)
        ),
        lock_wait_secs: req.lock_wait_secs,
        label: &req.branch,
        reflog: "jib push",
        gated: req.gated,
    };
    let opened = pipeline::open(&ship, Objects::FromCli, input, em)?;
    if !req.force
        && let Some(cur) = &opened.previous
    {
        refuse_other_branch(&req, cur)?;
    }

    // What this release would be, besides its code: same digest + same commit = nothing to do.
    let python = venv::find_python(&req.spec.python)?;
    let requirements = read_requirements(
        &opened.repo,
        opened.commit,
        req.spec.requirements.as_deref(),
    )?;
    let digest = spec_digest(&req, &venv::hash(&python, &requirements));
    let addr = health::local_addr(&req.server.listen).map_err(internal("health check"))?;
    let url = crate::config::app_url(&req.app, &req.server);
    if !req.force
        && let Some(cur) = &opened.previous
        && already_live(&req, cur, &digest, addr)
    {
        // Nothing to deploy, but a certificate that failed before is tried again now.
        let url = url_after_certificate(&req, em, url);
        return Ok(Reply::Deploy {
            app: req.app.clone(),
            url,
            release: cur.id.clone(),
            commit: req.commit.clone(),
            venv: cur.venv.clone(),
            venv_reused: true,
            unchanged: true,
        });
    }

    let shipped = opened.ship(
        "export",
        |n| format!("{n} files"),
        Build {
            python: &python,
            packages: Packages::Requirements(&requirements),
        },
        digest,
        None,
    )?;
    let url = url_after_certificate(&req, em, url);
    Ok(Reply::Deploy {
        app: req.app.clone(),
        url,
        release: shipped.id,
        commit: req.commit.clone(),
        venv: shipped.venv.hash,
        venv_reused: shipped.venv_reused,
        unchanged: false,
    })
}

/// The branch's URL once its certificate is settled: `http://` while it has none.
fn url_after_certificate(req: &DeployRequest, em: &Emitter, url: String) -> String {
    if branch_certificate(req, em) {
        url
    } else {
        crate::config::plain_url(&req.server.app_host(&req.app), &req.server)
    }
}

/// A branch environment with one certificate per branch: a branch's first push waits for serve
/// to obtain its certificate (HTTP-01 through nginx, now that the branch is live); later pushes
/// reuse it. A failure does not fail the push: the branch keeps serving plain HTTP and serve
/// retries with backoff. False when the branch has no certificate of its own to serve with.
fn branch_certificate(req: &DeployRequest, em: &Emitter) -> bool {
    let server = &req.server;
    let front_door = super::serve::is_router(server);
    if !crate::acme::per_branch(server)
        || server.router != crate::protocol::RouterKind::Nginx
        || !front_door
    {
        return true;
    }
    let layout = crate::layout::Layout::new(&server.root);
    let slot = crate::acme::branch_slot(server, &layout, &req.app);
    if crate::acme::installed(&slot.cert).is_some() {
        return true;
    }
    let since = std::time::SystemTime::now();
    // An earlier push's failure may have serve waiting out its backoff: try now.
    if slot.status.exists() {
        let _ = std::fs::write(layout.acme_retry(), b"");
    }
    let mut failed = None;
    let _ = em.step("certificate", || {
        match crate::acme::wait_obtained(&slot, since, Duration::from_secs(120)) {
            Ok(c) => {
                // serve writes the branch's servers into the site, then reloads nginx: wait for
                // the site so the URL this push prints answers on HTTPS.
                let cert = slot.cert.display().to_string();
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_secs(10)
                    && !std::fs::read_to_string(layout.nginx_conf())
                        .is_ok_and(|site| site.contains(&cert))
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok((
                    (),
                    Some(format!(
                        "{} obtained, valid until {}",
                        c.names.join(", "),
                        c.not_after.date()
                    )),
                ))
            }
            Err(e) => {
                failed = Some(format!("{e:#}"));
                Ok(((), Some("not obtained: serving plain HTTP".into())))
            }
        }
    });
    if let Some(e) = failed {
        em.warn(format!(
            "no certificate for {} on {}: {e}; the branch serves plain HTTP meanwhile. jib-agent serve retries with backoff (see {}); fix the cause, then push the branch again to retry now",
            slot.names.join(", "),
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            layout.agent_log().display()
        ));
        return false;
    }
    true
}

/// Two branch names can map to one app (`feature/x` and `feature_x` are both `feature-x`):
/// the CLI only sees the pusher's own branches, so the server refuses to replace another
/// branch's app unless told to.
fn refuse_other_branch(req: &DeployRequest, cur: &ReleaseMeta) -> Result<(), RemoteError> {
    if cur.branch.is_empty() || cur.branch == req.branch {
        return Ok(());
    }
    Err(RemoteError::new(
        "push",
        format!(
            "{} runs branch {:?}, pushed by {} at {}; {:?} maps to the same name",
            req.app, cur.branch, cur.by, cur.created, req.branch
        ),
    )
    .hint(format!(
        "rename your branch (git branch -m <new-name>), or `jib push {} --force` to replace it",
        req.branch
    )))
}

/// True when `cur`, the release serving, is this very commit and spec and answers healthy
/// (through the router at `addr`).
fn already_live(req: &DeployRequest, cur: &ReleaseMeta, digest: &str, addr: SocketAddr) -> bool {
    let host = req.server.app_host(&req.app);
    cur.commit == req.commit
        && cur.spec_digest == digest
        && cur.state == ReleaseState::Ok
        && matches!(health::get(addr, &host, &req.spec.health_path, Duration::from_secs(5)),
                    Ok(r) if r.release.as_deref() == Some(cur.id.as_str()) && (200..400).contains(&r.status))
}

/// The commit's dependency file (`app.requirements`), as bytes; empty when there is none.
fn read_requirements(
    repo: &Repository,
    commit: Oid,
    path: Option<&str>,
) -> Result<Vec<u8>, RemoteError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| RemoteError::new("venv", e.message().to_string()))?;
    let entry = tree.get_path(Path::new(path)).map_err(|_| {
        RemoteError::new(
            "venv",
            format!("{path} is not in commit {}", &commit.to_string()[..12]),
        )
        .hint("commit the dependency file, or fix app.requirements in deploy.toml")
    })?;
    let blob = repo
        .find_blob(entry.id())
        .map_err(|_| RemoteError::new("venv", format!("{path} is not a file")))?;
    Ok(blob.content().to_vec())
}

/// Digest of everything that defines a release besides its code: the spec, the venv, and
/// the agent's version.
fn spec_digest(req: &DeployRequest, venv_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&req.spec).unwrap_or_default());
    h.update(venv_hash.as_bytes());
    h.update(crate::protocol::VERSION.as_bytes());
    hex::encode(&h.finalize()[..12])
}
