//! `jib-agent status`: one app — its state, workers, memory, `[processes]`, last request —
//! with its releases; what `jib list` shows of every app.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::ctx::Ctx;
use crate::emperor;
use crate::layout::AppLayout;
use crate::protocol::{AppState, AppStatus, ReleaseInfo, RemoteError, Reply, ServerConfig};
use crate::release::{self, ReleaseState};

pub(super) fn status(ctx: &Ctx) -> Result<Reply, RemoteError> {
    let current = crate::layout::link_target_name(&ctx.app.current());
    let releases = release::list(&ctx.app)
        .into_iter()
        .rev()
        .map(|r| ReleaseInfo {
            current: current.as_deref() == Some(r.id.as_str()),
            id: r.id,
            commit: r.commit,
            created: r.created,
            by: r.by,
            state: r.state,
            venv: r.venv,
            branch: r.branch,
            promoted_from: r.promoted_from,
        })
        .collect();
    Ok(Reply::Status {
        status: of(ctx.server, &ctx.app),
        releases,
        certificate: crate::acme::status(
            ctx.server,
            &crate::layout::Layout::new(&ctx.server.root),
            Some(ctx.name()),
        )
        .map(Box::new),
    })
}

/// What `app` is doing now, for `jib list` and `jib status`.
pub(super) fn of(server: &ServerConfig, app: &AppLayout) -> AppStatus {
    let name = &app.name;
    let current = release::current(app);
    let all = release::list(app);
    let workers = emperor::workers(app);
    let mut rss: u64 = workers.iter().map(|(pid, _)| rss_bytes(*pid)).sum();
    if let Some(m) = workers.first().and_then(|(pid, _)| master_pid(*pid)) {
        rss += rss_bytes(m);
    }
    let newest = emperor::instances(app).pop();
    let linked = newest.is_some();
    let state = if !linked {
        AppState::Stopped
    } else if workers.is_empty() && server.idle_secs.is_some() {
        // Scaled to zero: the emperor holds its socket; the next request starts it.
        AppState::Sleeping
    } else if workers.is_empty() {
        // Linked but no worker alive: still starting, or dying over and over.
        let started = newest
            .and_then(|i| std::fs::symlink_metadata(app.instance_ini(&i)).ok())
            .and_then(|m| m.modified().ok());
        match started {
            Some(t) if t.elapsed().unwrap_or_default() < Duration::from_secs(15) => {
                AppState::Starting
            }
            _ => AppState::Failed,
        }
    } else {
        AppState::Running
    };
    let last_failed = all.last().is_some_and(|r| r.state == ReleaseState::Failed);
    AppStatus {
        app: name.to_string(),
        branch: current
            .as_ref()
            .map(|c| c.branch.clone())
            .unwrap_or_default(),
        url: crate::acme::served_url(name, server),
        commit: current
            .as_ref()
            .map(|c| c.commit.clone())
            .unwrap_or_default(),
        release: current.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
        deployed_at: current
            .as_ref()
            .map(|c| c.created.clone())
            .unwrap_or_default(),
        deployed_by: current.as_ref().map(|c| c.by.clone()).unwrap_or_default(),
        state,
        last_deploy_failed: last_failed,
        workers: workers.len(),
        rss_bytes: rss,
        processes: procs_of(app),
        subject: current
            .as_ref()
            .map(|c| c.subject.clone())
            .unwrap_or_default(),
        promoted_from: current.as_ref().and_then(|c| c.promoted_from.clone()),
        // uWSGI logs every request: its log's mtime is the last visit (or health check).
        last_request: std::fs::symlink_metadata(app.log())
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                time::OffsetDateTime::from(t)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_default(),
    }
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: i32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The vassal's master: the parent of its workers.
fn master_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state, ppid, …
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The app's `[processes]` as its supervisor last recorded them: name → `running (pid N)` or
/// `down`.
pub(super) fn procs_of(app: &AppLayout) -> BTreeMap<String, String> {
    let Ok(bytes) = crate::fsafe::read(&app.procs_json(), 1 << 20) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return BTreeMap::new();
    };
    v["processes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, p)| {
                    let state = match p["pid"].as_i64() {
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {
                            format!("running (pid {pid})")
                        }
                        _ => "down".to_string(),
                    };
                    (name.clone(), state)
                })
                .collect()
        })
        .unwrap_or_default()
}
