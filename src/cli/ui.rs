//! Terminal output: a spinner per step on a TTY, plain lines elsewhere (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::protocol::{Event, RemoteError};

/// How much jib says: 0 quiet (`-q`), 1 normal, 2 verbose (`-v`). Set once by `main`.
static LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

pub fn set_level(quiet: bool, verbose: bool) {
    let l = if quiet {
        0
    } else if verbose {
        2
    } else {
        1
    };
    LEVEL.store(l, std::sync::atomic::Ordering::Relaxed);
}

/// `-q`: results and errors only.
pub fn quiet() -> bool {
    LEVEL.load(std::sync::atomic::Ordering::Relaxed) == 0
}

/// `-v`: every remote step with its timing, the agent's version, the objects sent.
pub fn verbose() -> bool {
    LEVEL.load(std::sync::atomic::Ordering::Relaxed) == 2
}

/// A line on stderr unless `-q`: progress and success messages (results go to stdout, errors
/// always show).
macro_rules! note {
    ($($t:tt)*) => {
        if !$crate::cli::ui::quiet() {
            eprintln!($($t)*)
        }
    };
}
pub(crate) use note;

/// A line for `-v` only.
pub fn debug(msg: &str) {
    if verbose() {
        eprintln!("  · {msg}");
    }
}

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// `quiet`: this command prints no steps (its output is data, e.g. `--json`); `-v` shows
    /// them anyway (on stderr), `-q` hides them always.
    pub fn new(data: bool) -> Self {
        Progress {
            bar: None,
            quiet: quiet() || (data && !verbose()),
        }
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
            Event::Hello { version } => debug(&format!("agent: {version}")),
            Event::NeedObjects { have } => debug(&format!(
                "the server lacks the commit; sending what {} commit(s) it has do not contain",
                have.len()
            )),
            Event::Done { .. } | Event::Failed { .. } => {}
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

/// Asks `prompt` (default no) unless `yes`. Without a terminal to ask on, refuses (exit 2),
/// saying that `what` needs `--yes`.
pub fn confirm(yes: bool, what: &str, prompt: &str) -> Result<bool, super::Failure> {
    use super::{exit, fail};
    if yes {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(fail(exit::USAGE)(anyhow::anyhow!(
            "{what} needs confirmation: run it in a terminal or pass --yes"
        )));
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| fail(exit::USAGE)(e.into()))
}

pub fn error(e: &anyhow::Error) {
    eprintln!("✘ error: {e:#}");
}
