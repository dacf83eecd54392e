//! Health checks through the real front door (nginx or the HTTP router) with the app's Host
//! header, so routing is tested along with the app.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub release: Option<String>,
    pub body: Vec<u8>,
}

/// The loopback address of a listen spec (`80`, `8080`, `127.0.0.1:8080`, `[::1]:80`).
pub fn local_addr(listen: &str) -> Result<SocketAddr> {
    let spec = if listen.parse::<u16>().is_ok() {
        format!("127.0.0.1:{listen}")
    } else if let Some(port) = listen
        .strip_prefix("*:")
        .or_else(|| listen.strip_prefix("0.0.0.0:"))
    {
        format!("127.0.0.1:{port}")
    } else {
        listen.to_string()
    };
    spec.to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve listen address {listen:?}"))
}

/// One GET with `Host: host`, asking the app to tag its answer with its release.
pub fn get(addr: SocketAddr, host: &str, path: &str, timeout: Duration) -> Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nX-Jib-Health: 1\r\nUser-Agent: jib-agent\r\nConnection: close\r\n\r\n"
    )?;
    // Enough for status and headers; a streaming (or trickling) endpoint must not hold the
    // deploy: 256 KiB at most, and `timeout` for the whole answer, not per read.
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < 256 * 1024 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            bail!("no complete answer within {}s", timeout.as_secs());
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk)? {
            0 => break,
            n => buf.extend_from_slice(&chunk[..n.min(256 * 1024 - buf.len())]),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let body_at = match resp.parse(&buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => bail!("incomplete HTTP response ({} bytes)", buf.len()),
    };
    let release = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-jib-release"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    Ok(Response {
        status: resp.code.unwrap_or(0),
        release,
        body: buf[body_at..].to_vec(),
    })
}

/// How an answer relates to the release we are waiting for.
pub enum Verdict {
    Healthy,
    /// The release answers, badly (its status and body).
    Unhealthy(String),
    /// Not (yet) the release: why.
    Waiting(String),
}

pub fn judge(res: &Result<Response>, path: &str, release: &str) -> Verdict {
    match res {
        Ok(r) if r.release.as_deref() == Some(release) && (200..400).contains(&r.status) => {
            Verdict::Healthy
        }
        Ok(r) if r.release.as_deref() == Some(release) => Verdict::Unhealthy(format!(
            "GET {path} answered {} — {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).trim()
        )),
        Ok(r) => Verdict::Waiting(match &r.release {
            Some(old) => format!("still served by release {old}"),
            None => format!(
                "GET {path} answered {} without a release tag (app not loaded)",
                r.status
            ),
        }),
        Err(e) => Verdict::Waiting(format!("GET {path}: {e}")),
    }
}
