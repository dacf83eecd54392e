//! What a verb says: JSON lines of [`Event`] on stdout for the CLI (plain lines for an
//! administrator running setup's root script), and a human-readable copy in the app's deploy
//! log while one runs.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crate::protocol::{Event, RemoteError};

type Later = Box<dyn FnOnce() + Send>;

/// Set by [`verb_started`]: this process answers one request and then ends.
static IN_VERB: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// This process is a verb: [`after_reply`] work waits for [`finish_after_reply`].
pub(super) fn verb_started() {
    IN_VERB.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Work for after the final answer (see [`after_reply`]).
static AFTER_REPLY: Mutex<Vec<Later>> = Mutex::new(Vec::new());

/// Work that must be done but that nobody needs to wait for (stopping the instances a switch
/// withdrew, once their last requests have landed): it runs after the final answer, with
/// stdio closed so the CLI is free, under every lock the verb held (they stay held until it
/// is done).
pub fn after_reply(f: impl FnOnce() + Send + 'static) {
    // Outside a verb (serve) there is no reply to wait for: now, then.
    if !IN_VERB.load(std::sync::atomic::Ordering::SeqCst) {
        return f();
    }
    crate::lock::defer_releases();
    AFTER_REPLY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(f));
}

/// After the final answer: closes stdio (the CLI, or ssh, or serve sees the end of the
/// output), runs what [`after_reply`] left, then releases the locks.
pub(super) fn finish_after_reply() {
    let later = std::mem::take(&mut *AFTER_REPLY.lock().unwrap_or_else(|e| e.into_inner()));
    if later.is_empty() {
        return;
    }
    let _ = std::io::stdout().flush();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    for f in later {
        f();
    }
    crate::lock::release_deferred();
}

/// Writes events to stdout (and, for deploys, to the app's deploy log).
pub struct Emitter {
    log: Mutex<Option<std::fs::File>>,
    /// False for work serve does by itself: nobody reads its stdout but its own log.
    to_stdout: bool,
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Emitter {
    pub fn new() -> Self {
        Emitter {
            log: Mutex::new(None),
            to_stdout: true,
        }
    }

    /// Events written only where [`Emitter::tee`] says (serve's own repairs).
    pub fn log_only() -> Self {
        Emitter {
            log: Mutex::new(None),
            to_stdout: false,
        }
    }

    /// Also append a human-readable copy of each event to `path`.
    pub fn tee(&self, path: &Path) {
        // In the app's log directory, which its user can write: no links, no FIFOs.
        let f = crate::fsafe::open_append(path, 0o640).ok();
        if let Ok(mut l) = self.log.lock() {
            *l = f;
        }
    }

    pub fn send(&self, ev: &Event) {
        if !self.to_stdout {
        } else if std::env::var_os("JIB_HUMAN").is_some() {
            // An administrator running `jib setup --root-script`'s script reads this.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", describe(ev));
        } else if let Ok(line) = serde_json::to_string(ev) {
            let mut out = std::io::stdout().lock();
            // The CLI may be gone (connection lost); the deploy still finishes consistently.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Ok(mut guard) = self.log.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{} {}", crate::release::utc_now(), describe(ev));
        }
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.send(&Event::Warning {
            message: message.into(),
        });
    }

    /// Runs one named step, reporting its start and duration.
    pub fn step<T>(
        &self,
        name: &str,
        f: impl FnOnce() -> Result<(T, Option<String>), RemoteError>,
    ) -> Result<T, RemoteError> {
        self.send(&Event::StepStarted { step: name.into() });
        crate::failpoint::hit(name);
        let t = Instant::now();
        let (v, detail) = f()?;
        self.send(&Event::StepDone {
            step: name.into(),
            ms: t.elapsed().as_millis() as u64,
            detail,
        });
        Ok(v)
    }
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::StepStarted { step } => format!("{step} …"),
        Event::StepDone { step, ms, detail } => {
            format!(
                "{step} done in {ms} ms{}",
                detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        }
        Event::Warning { message } => format!("warning: {message}"),
        Event::Waiting { holder } => format!("waiting for {holder}"),
        Event::Hello { version } => format!("hello from {version}"),
        Event::Ready { phase, release } => {
            format!("{phase} with release {release}; waiting for the other hosts")
        }
        Event::Log { line } => line.clone(),
        Event::NeedObjects { have } => {
            format!("asking for objects (server has {} commits)", have.len())
        }
        Event::Exited { code, .. } => format!("exited with status {code}"),
        Event::Done { result } => format!(
            "done: {}",
            serde_json::to_string(result).unwrap_or_default()
        ),
        Event::Failed { error } => format!(
            "FAILED: {error}{}",
            error
                .log_tail
                .iter()
                .map(|l| format!("\n    {l}"))
                .collect::<String>()
        ),
    }
}
