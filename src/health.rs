//! Health checks through the real front door (nginx or the HTTP router) with the app's Host
//! header, so routing is tested along with the app; and straight to a new instance's socket,
//! before the router sends it anyone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub release: Option<String>,
    /// On a fleet: the address of the instance that answered (one per host).
    pub node: Option<String>,
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
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nX-Jib-Health: 1\r\nUser-Agent: jib-agent\r\nConnection: close\r\n\r\n"
    )?;
    read_response(s, timeout)
}

/// The same GET straight to one app instance's uwsgi socket, as the router would pass it:
/// how a new instance is checked before any user request reaches it. The socket sits in a
/// directory the apps' user owns, so it is opened without following a link and must be a
/// socket; the answer is untrusted bytes like any app's.
pub fn get_socket(sock: &Path, host: &str, path: &str, timeout: Duration) -> Result<Response> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{Mode, SFlag, fstat};
    let fd = open(
        sock,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", sock.display()))?;
    let st = fstat(&fd)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        bail!("{} is not a socket", sock.display());
    }
    // Connecting through the descriptor reaches exactly the inode checked above.
    let mut s = UnixStream::connect(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    drop(fd);
    s.set_write_timeout(Some(timeout))?;
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if p.parse::<u16>().is_ok() => (n, p),
        _ => (host, "80"),
    };
    let (path_info, query) = path.split_once('?').unwrap_or((path, ""));
    let vars = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", path),
        ("PATH_INFO", path_info),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.0"),
        ("SERVER_NAME", name),
        ("SERVER_PORT", port),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_HOST", host),
        ("HTTP_X_JIB_HEALTH", "1"),
        ("HTTP_USER_AGENT", "jib-agent"),
    ];
    s.write_all(&crate::router::uwsgi_packet(0, 0, &vars))?;
    read_response(s, timeout)
}

/// Reads an HTTP answer: enough for status and headers; a streaming (or trickling)
/// endpoint must not hold the deploy: 256 KiB at most, and `timeout` for the whole answer,
/// not per read.
fn read_response(mut s: impl Read + Timed, timeout: Duration) -> Result<Response> {
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < 256 * 1024 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            bail!("no complete answer within {}s", timeout.as_secs());
        }
        s.read_timeout(left)?;
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
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let (release, node) = (header("x-jib-release"), header("x-jib-node"));
    Ok(Response {
        status: resp.code.unwrap_or(0),
        release,
        node,
        body: buf[body_at..].to_vec(),
    })
}

/// A stream whose reads can be given a deadline.
trait Timed {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()>;
}

impl Timed for TcpStream {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(left))
    }
}

impl Timed for UnixStream {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(left))
    }
}

/// One look while waiting for a release to answer (see [`poll`]).
pub enum Poll<T> {
    Ready(T),
    /// It answers, badly: why.
    Unhealthy(String),
    /// Not (yet) the release: why.
    Waiting(String),
}

/// How long a release may answer badly before a wait for it gives up: cold caches get a
/// moment, a broken release does not get the whole timeout.
pub const UNHEALTHY_GRACE: Duration = Duration::from_secs(2);

/// Asks `ask` every `every` until it is ready or `timeout` has passed; with `grace`, an
/// answer that has been unhealthy that long ends the wait early. Err: the last reason.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    grace: Option<Duration>,
    mut ask: impl FnMut() -> Poll<T>,
) -> Result<T, String> {
    let start = std::time::Instant::now();
    let mut unhealthy_since = None;
    let mut last = String::from("no answer yet");
    while start.elapsed() < timeout {
        match ask() {
            Poll::Ready(v) => return Ok(v),
            Poll::Unhealthy(why) => {
                let since = *unhealthy_since.get_or_insert_with(std::time::Instant::now);
                last = why;
                if grace.is_some_and(|g| since.elapsed() > g) {
                    break;
                }
            }
            Poll::Waiting(why) => last = why,
        }
        std::thread::sleep(every);
    }
    Err(last)
}

/// An answer as one look of [`poll`]: ready with its status when it is healthy.
pub fn look(res: &Result<Response>, path: &str, release: &str) -> Poll<u16> {
    match judge(res, path, release) {
        Verdict::Healthy => Poll::Ready(res.as_ref().map(|r| r.status).unwrap_or(0)),
        Verdict::Unhealthy(why) => Poll::Unhealthy(why),
        Verdict::Waiting(why) => Poll::Waiting(why),
    }
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
