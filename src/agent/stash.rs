//! `jib-agent stash`: keeps an exec request on the server, root's only, for one terminal
//! exec to pick up (`exec --stashed <token>`): with a terminal, stdin is the user's, and a
//! request in argv would show its environment (a database URL) to every local user.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use super::ctx::check_server;
use crate::protocol::{Envelope, RemoteError, Reply, Request, ServerConfig, version_line};

#[derive(serde::Serialize, serde::Deserialize)]
struct Stashed {
    /// Who stashed it through the control socket (`None`: root over ssh).
    peer: Option<String>,
    line: String,
}

/// `jib-agent stash`: keeps `req` (an exec of this root) for `exec --stashed`, root-only.
pub(super) fn stash(
    server: &ServerConfig,
    req: Request,
    by: &str,
    peer: Option<&str>,
) -> Result<Reply, RemoteError> {
    let err = |m: String| RemoteError::new("exec", m);
    if !matches!(&req, Request::Exec { server: s, .. } if s == server) {
        return Err(err(
            "only an exec request of this environment can be stashed".into(),
        ));
    }
    let layout = check_server(server)?;
    let dir = layout.stashed_requests();
    crate::fsafe::ensure_dir(&dir, 0o700, None).map_err(|e| err(e.to_string()))?;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| err(format!("/dev/urandom: {e}")))?;
    let token = hex::encode(bytes);
    let envelope = Envelope {
        client: version_line(),
        by: by.to_string(),
        request: req,
    };
    let content = serde_json::to_vec(&Stashed {
        peer: peer.map(str::to_string),
        line: serde_json::to_string(&envelope).map_err(|e| err(e.to_string()))?,
    })
    .map_err(|e| err(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(layout.stashed_request(&token))
        .map_err(|e| err(e.to_string()))?;
    f.write_all(&content).map_err(|e| err(e.to_string()))?;
    Ok(Reply::Stashed { token })
}

/// Takes a stashed request (once): only the user who stashed it may.
pub(super) fn unstash(token: &str) -> Result<String, RemoteError> {
    let err = |m: &str| RemoteError::new("handshake", m.to_string());
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("bad stash token"));
    }
    let layout = super::ctl::own_root().ok_or_else(|| err("this agent is not a root's"))?;
    let path = layout.stashed_request(token);
    let bytes = crate::fsafe::read(&path, 1 << 20).map_err(|_| err("no such stashed request"))?;
    let _ = std::fs::remove_file(&path);
    let stashed: Stashed = serde_json::from_slice(&bytes).map_err(|_| err("bad stash"))?;
    let me = super::ctl::Peer::current().map(|p| p.user);
    if stashed.peer != me {
        return Err(err("that request was stashed by someone else"));
    }
    Ok(stashed.line)
}
