//! `jib-agent audit`: the root's trail of who did what, when — and the entry each request
//! that changes something (push, promote, rollback, restart, env set/unset, destroy) leaves
//! there once its result is known.

use std::time::Instant;

use super::ctx::check_server;
use crate::layout::Layout;
use crate::protocol::{AuditEntry, EnvOp, RemoteError, Reply, Request, ServerConfig};

pub(super) fn audit(server: &ServerConfig, lines: usize) -> Result<Reply, RemoteError> {
    let layout = check_server(server)?;
    Ok(Reply::Audit {
        entries: crate::audit::read(&layout, lines),
    })
}

/// The audit entry of a request in flight, written by [`Trail::record`].
pub(super) struct Trail {
    layout: Layout,
    entry: AuditEntry,
    started: Instant,
}

impl Trail {
    /// The entry for a request that changes something (`None` for reads).
    pub fn start(req: &Request, by: &str) -> Option<Trail> {
        let (server, app) = req.audited()?;
        let (action, branch, commit, from) = match req {
            Request::Deploy(d) => ("push", d.branch.clone(), d.commit.clone(), None),
            Request::Promote(p) => (
                "promote",
                p.artifact.branch.clone(),
                p.artifact.commit.clone(),
                Some(format!(
                    "{}/{}@{}",
                    p.from_env, p.artifact.app, p.artifact.release
                )),
            ),
            Request::Rollback { .. } => ("rollback", String::new(), String::new(), None),
            Request::Restart { .. } => ("restart", String::new(), String::new(), None),
            Request::Destroy { .. } => ("destroy", String::new(), String::new(), None),
            Request::Env { op, .. } => (
                match op {
                    EnvOp::Unset { .. } => "env unset",
                    _ => "env set",
                },
                String::new(),
                String::new(),
                None,
            ),
            _ => return None,
        };
        let layout = Layout::new(&server.root);
        // Only roots that were set up get a trail (never create directories for a bad request).
        layout.state().is_dir().then(|| Trail {
            layout,
            entry: AuditEntry {
                time: crate::release::utc_now(),
                by: by.to_string(),
                action: action.into(),
                app: app.to_string(),
                branch,
                from,
                commit,
                release: String::new(),
                result: String::new(),
                error: None,
                ms: 0,
            },
            started: Instant::now(),
        })
    }

    /// Completes the entry with the request's result and appends it to the trail.
    pub fn record(self, result: &Result<Reply, RemoteError>) {
        let Trail {
            layout,
            mut entry,
            started,
        } = self;
        entry.ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(r) => {
                entry.result = "ok".into();
                match r {
                    Reply::Deploy {
                        release,
                        commit,
                        unchanged,
                        ..
                    } => {
                        entry.release = release.clone();
                        entry.commit = commit.clone();
                        if *unchanged {
                            entry.result = "unchanged".into();
                        }
                    }
                    Reply::Promote { release, .. } | Reply::Restart { release, .. } => {
                        entry.release = release.clone()
                    }
                    Reply::Rollback {
                        to, commit, from, ..
                    } => {
                        entry.release = to.clone();
                        entry.commit = commit.clone();
                        entry.from = Some(from.clone());
                    }
                    _ => {}
                }
            }
            Err(e) => {
                entry.result = "failed".into();
                entry.error = Some(e.to_string());
            }
        }
        // Verbs that name no branch: the one the app runs now.
        if entry.branch.is_empty()
            && let Some(cur) = crate::release::current(&layout.app(&entry.app))
        {
            entry.branch = cur.branch;
            if entry.commit.is_empty() {
                entry.commit = cur.commit;
            }
        }
        let _ = crate::audit::append(&layout, &entry);
    }
}
