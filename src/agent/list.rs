//! `jib-agent list`: every app deployed in the root, as `jib status` shows one.

use super::ctx::{check_server, deployed};
use crate::protocol::{RemoteError, Reply, ServerConfig};

pub(super) fn list(server: &ServerConfig) -> Result<Reply, RemoteError> {
    let layout = check_server(server)?;
    let apps = deployed(&layout)
        .iter()
        .map(|a| super::status::of(server, &layout.app(a)))
        .collect();
    Ok(Reply::List { apps })
}
