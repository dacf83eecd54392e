//! What a verb says: JSON lines of [`Event`] on stdout for the CLI (plain lines for an
//! administrator running setup's root script), and a human-readable copy in the app's deploy
//! log while one runs.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crate::protocol::{Event, RemoteError};

/// Writes events to stdout (and, for deploys, to the app's deploy log).
pub struct Emitter {
    log: Mutex<Option<std::fs::File>>,
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
        if std::env::var_os("JIB_HUMAN").is_some() {
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
