//! Terminal output: a spinner per step on a TTY, plain lines elsewhere (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::protocol::{Event, RemoteError};

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress { bar: None, quiet }
    }

    fn tty() -> bool {
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    }

    pub fn start(&mut self, step: &str) {
        if self.quiet {
            return;
        }
        if Self::tty() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            self.bar = Some(bar);
        }
    }

    pub fn done(&mut self, step: &str, ms: u64, detail: Option<&str>) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let detail = detail.map(|d| format!("  {d}")).unwrap_or_default();
        eprintln!("  ✔ {step:<13} {:>7}{detail}", format_ms(ms));
    }

    pub fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None if !self.quiet => eprintln!("{msg}"),
            None => {}
        }
    }

    pub fn event(&mut self, ev: &Event) {
        match ev {
            Event::StepStarted { step } => self.start(step),
            Event::StepDone { step, ms, detail } => self.done(step, *ms, detail.as_deref()),
            // An empty warning is the agent's heartbeat while following a log.
            Event::Warning { message } if message.is_empty() => {}
            Event::Warning { message } => self.note(&format!("  ! {message}")),
            Event::Log { line } => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Event::Waiting { holder } => self.note(&format!(
                "  … waiting: this app is being deployed by {holder}"
            )),
            Event::Hello { .. }
            | Event::NeedObjects { .. }
            | Event::Done { .. }
            | Event::Failed { .. } => {}
        }
    }

    pub fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

pub fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A failure reported by the agent, with the host it happened on.
#[derive(Debug)]
pub struct RemoteFailure {
    pub host: String,
    pub error: RemoteError,
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.error;
        write!(f, "{} failed on {}: {}", e.step, self.host, e.message)?;
        if !e.log_tail.is_empty() {
            write!(f, "\n  last lines of the log:")?;
            for l in &e.log_tail {
                write!(f, "\n    {l}")?;
            }
        }
        if e.previous_serving {
            write!(f, "\n  the previous release is still serving")?;
        }
        if let Some(h) = &e.hint {
            write!(f, "\n  next: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RemoteFailure {}

pub fn error(e: &anyhow::Error) {
    eprintln!("✘ error: {e:#}");
}
