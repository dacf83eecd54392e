//! `jib-agent list`: every app deployed in the root, as `jib status` shows one.

use super::ctx::{check_server, deployed};
use crate::layout::Layout;
use crate::protocol::{AppStatus, RemoteError, Reply, ServerConfig};

pub(super) fn list(server: &ServerConfig) -> Result<Reply, RemoteError> {
    let layout = check_server(server)?;
    Ok(Reply::List {
        apps: apps(server, &layout),
    })
}

/// Every app of the root, as `jib list` shows them (the branch index shows the same).
pub(super) fn apps(server: &ServerConfig, layout: &Layout) -> Vec<AppStatus> {
    deployed(layout)
        .iter()
        .map(|a| super::status::of(server, &layout.app(a)))
        .collect()
}
