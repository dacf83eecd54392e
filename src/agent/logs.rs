//! `jib-agent logs`: the end of an app's log (its deploy log, a `[processes]` entry's, cron's,
//! the release step's), then, when following, what is appended until the CLI goes away.

use std::io::{BufRead, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::emit::Emitter;
use crate::protocol::{Event, LogSource, RemoteError, Reply};

/// Streams the last `lines` lines, then (when following) what is appended, surviving
/// truncation and rotation, until the CLI goes away (stdin closes).
pub(super) fn logs(
    ctx: &Ctx,
    lines: usize,
    follow: bool,
    deploy: bool,
    process: Option<&LogSource>,
) -> Result<Reply, RemoteError> {
    let (app, name, em) = (&ctx.app, ctx.name(), ctx.em);
    let path = match process {
        Some(LogSource::Cron) => app.cron_log(),
        Some(LogSource::Release) => app.release_log(),
        Some(LogSource::Process(p)) if crate::slug::is_app_name(p) => app.process_log(p),
        Some(LogSource::Process(p)) => {
            return Err(
                RemoteError::new("logs", format!("{p:?} is not a process name"))
                    .hint("name a [processes] entry of deploy.toml, or `cron`"),
            );
        }
        None if deploy => app.deploy_log(),
        None => app.log(),
    };
    if process.is_some() && !path.exists() && !follow {
        let known = super::status::procs_of(app);
        return Err(RemoteError::new(
            "logs",
            format!(
                "{name} has no log for {:?} yet",
                process.map(LogSource::to_string).unwrap_or_default()
            ),
        )
        .hint(if known.is_empty() {
            "it runs no [processes]; add them to deploy.toml, then `jib setup` and push".to_string()
        } else {
            format!(
                "its processes: {}",
                known.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }));
    }
    for l in crate::fsafe::tail(&path, lines) {
        em.send(&Event::Log { line: l });
    }
    if follow {
        follow_file(&path, em);
    }
    Ok(Reply::Logs {
        path: path.display().to_string(),
    })
}

fn follow_file(path: &Path, em: &Emitter) {
    // The CLI keeps our stdin open while it follows; EOF means it is gone (Ctrl-C, lost
    // connection), and we must not linger on the server.
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = gone.clone();
    std::thread::spawn(move || {
        // The raw fd: the request reader still holds std's stdin lock.
        use std::os::fd::AsFd;
        let mut buf = [0u8; 64];
        let stdin = std::io::stdin();
        while !matches!(nix::unistd::read(stdin.as_fd(), &mut buf), Ok(0) | Err(_)) {}
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    // The log sits in a directory the app's user owns: no links, no FIFOs.
    let open = |p: &Path| crate::fsafe::open_read(p).ok();
    let mut file = open(path);
    let mut pos = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.len())
        .unwrap_or(0);
    let mut ino = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.ino());
    let mut partial = String::new();
    let mut quiet = Instant::now();
    while !gone.load(std::sync::atomic::Ordering::SeqCst) {
        // Rotated (a new file at the path) or truncated: start from its beginning.
        let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file());
        if meta.as_ref().map(|m| m.ino()) != ino {
            file = open(path);
            ino = meta.as_ref().map(|m| m.ino());
            pos = 0;
        } else if meta.as_ref().is_some_and(|m| m.len() < pos) {
            pos = 0;
        }
        let mut got = false;
        if let Some(f) = file.as_mut()
            && f.seek(SeekFrom::Start(pos)).is_ok()
        {
            let mut reader = std::io::BufReader::new(&mut *f);
            // Bytes, not UTF-8: a log line in another encoding must not stop the follow.
            let mut line = Vec::new();
            // At most 64 KiB a line: an app can write a 50 GB line without a newline.
            while let Ok(n) =
                std::io::Read::take(&mut reader, 64 << 10).read_until(b'\n', &mut line)
            {
                if n == 0 {
                    break;
                }
                pos += n as u64;
                let text = String::from_utf8_lossy(&line);
                if line.ends_with(b"\n") || partial.len() + line.len() >= 64 << 10 {
                    partial.push_str(text.trim_end_matches('\n'));
                    em.send(&Event::Log {
                        line: std::mem::take(&mut partial),
                    });
                    got = true;
                } else {
                    partial.push_str(&text);
                }
                line.clear();
            }
        }
        if got {
            quiet = Instant::now();
        } else if quiet.elapsed() > Duration::from_secs(15) {
            // A heartbeat: a write to a closed connection is how a vanished peer shows up
            // when stdin cannot tell (some ssh setups keep it open).
            em.send(&Event::Warning {
                message: String::new(),
            });
            quiet = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
