//! A machine of a fleet (DESIGN.md §7): `jib-agent join` says where it is on the private
//! network and which subscription key it holds (setup's first round); `jib-agent route` is a
//! router's part of a deploy — admit the app's keys, then check through its own front door
//! that the app answers from the new release of every host and from nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ctx::check_server;
use super::setup::write_if_changed;
use crate::fleet;
use crate::layout::Layout;
use crate::protocol::{RemoteError, Reply, ServerConfig};

pub(super) fn join(server: &ServerConfig, export_key: bool) -> Result<Reply, RemoteError> {
    let err = |m: String| RemoteError::new("join", m);
    server.check().map_err(|m| RemoteError::new("request", m))?;
    let role = server
        .fleet
        .as_ref()
        .ok_or_else(|| err("this environment is not on several servers".into()))?;
    let address = fleet::private_address(&role.private).map_err(|e| {
        err(format!("{e:#}"))
            .hint("check env.<name>.private in deploy.toml against `ip -4 addr` on this server")
    })?;
    let layout = Layout::new(&server.root);
    let key = read_key(&layout.fleet_key());
    Ok(Reply::Join {
        address,
        key: key.as_deref().and_then(|k| fleet::fingerprint(k).ok()),
        private_key: if export_key { key } else { None },
    })
}

/// A node's subscription key, when it has one.
fn read_key(path: &Path) -> Option<String> {
    // Root's file in root's directory: plain reads are safe here.
    std::fs::read_to_string(path).ok().filter(|k| !k.is_empty())
}

/// The public key file uWSGI looks for under a subscription key (its sanitized name).
pub(super) fn sign_check_file(layout: &Layout, key: &str) -> std::path::PathBuf {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    layout.sign_check_dir().join(format!("{name}.pem"))
}

/// Lets the nodes announce `app` here: its keys get the environment's public key.
pub(super) fn admit(layout: &Layout, server: &ServerConfig, app: &str) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("route", m);
    let public = std::fs::read(layout.fleet_public_key()).map_err(|e| {
        err(format!("no subscription key on this router ({e})"))
            .hint("run `jib setup` for this environment")
    })?;
    for k in crate::router::keys(server, app) {
        let f = sign_check_file(layout, &k);
        write_public(&f, &public).map_err(|e| err(format!("{}: {e}", f.display())))?;
    }
    Ok(())
}

/// A public key the FastRouter (the apps' user) reads: 0644 whatever root's umask.
pub(super) fn write_public(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    write_if_changed(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

pub(super) fn route(
    server: &ServerConfig,
    app: &str,
    path: &str,
    releases: &[String],
    timeout_secs: u64,
) -> Result<Reply, RemoteError> {
    let err = |m: String| RemoteError::new("route", m);
    let layout = check_server(server)?;
    if !server.fleet.as_ref().is_some_and(|f| f.router) {
        return Err(err(
            "this machine is not one of the environment's routers".into()
        ));
    }
    if !crate::slug::is_app_name(app) {
        return Err(err(format!("{app:?} is not a valid app name")));
    }
    // It goes into a request line: a path, nothing else.
    if !path.starts_with('/')
        || path.len() > 1024
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(err(format!("{path:?} is not a health check path")));
    }
    let timeout_secs = timeout_secs.min(600);
    admit(&layout, server, app)?;
    // One release per host; two hosts may have named theirs alike (same millisecond), so
    // hosts are told apart by the node that answered (its address), not by the release.
    let hosts = releases.len();
    let releases: std::collections::BTreeSet<&String> = releases.iter().collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_release: std::collections::BTreeSet<String> = Default::default();
    if releases.is_empty() {
        return Ok(Reply::Route { seen });
    }
    let addr = crate::health::local_addr(&server.listen).map_err(|e| err(format!("{e:#}")))?;
    let host = server.app_host(app);
    // Each host's new release answers at least once (the router balances over them), and
    // then a run of answers in a row come from new releases only: no old instance is left
    // in the pool.
    let clean_run = hosts * 4;
    let (start, limit) = (Instant::now(), Duration::from_secs(timeout_secs.max(1)));
    let mut in_a_row = 0;
    let mut last = String::from("no answer yet");
    while start.elapsed() < limit {
        match crate::health::get(addr, &host, path, Duration::from_secs(10)) {
            Ok(r) if (200..400).contains(&r.status) => match r.release {
                Some(rel) if releases.contains(&&rel) => {
                    *seen
                        .entry(r.node.unwrap_or_else(|| rel.clone()))
                        .or_default() += 1;
                    by_release.insert(rel);
                    in_a_row += 1;
                    if in_a_row >= clean_run
                        && by_release.len() == releases.len()
                        && seen.len() >= hosts
                    {
                        return Ok(Reply::Route { seen });
                    }
                    continue;
                }
                other => {
                    in_a_row = 0;
                    last = format!(
                        "still answered by {}",
                        other.as_deref().unwrap_or("an app without a release tag")
                    );
                }
            },
            Ok(r) => {
                in_a_row = 0;
                last = format!("GET {path} answered {}", r.status);
            }
            Err(e) => {
                in_a_row = 0;
                last = format!("GET {path}: {e:#}");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let missing: Vec<&str> = releases
        .iter()
        .filter(|r| !by_release.contains(r.as_str()))
        .map(|r| r.as_str())
        .collect();
    if missing.is_empty() && seen.len() < hosts {
        last = format!(
            "{last}; only {} of the {hosts} hosts' instances answered ({})",
            seen.len(),
            seen.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Err(err(format!(
        "http://{host}{path} through this router did not settle on the new release within {}s: {last}{}",
        limit.as_secs(),
        if missing.is_empty() {
            String::new()
        } else {
            format!("; never answered by {}", missing.join(", "))
        }
    ))
    .hint("`jib status` shows each host; `jib doctor` checks the routers"))
}
