//! What jib says on stderr: a spinner per remote step on a TTY (plain lines elsewhere, for CI
//! logs), notes, questions and the final error, all sanitized since they quote the server.
//! Results go to stdout (`output`).

use std::borrow::Cow;
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

/// `text` made safe for a terminal: every control character but newline and tab (C0, DEL,
/// C1, so ESC and CSI sequences too) and the bidirectional overrides are shown as `\x1b` or
/// `\u{202e}` instead of acting; a CR ending a line is dropped. Text from the server (log
/// lines, an app's output and health answers, messages quoting them) is app-controlled: raw,
/// it could rewrite the screen, hide lines, retitle the window or set the clipboard.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    // Right-to-left marks and overrides reorder what is shown ("Trojan source").
    fn bidi(c: char) -> bool {
        matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t') || bidi(c)
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && matches!(chars.peek(), None | Some('\n')) {
            continue;
        }
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// A line on stderr unless `-q`: progress and success messages (results go to stdout, errors
/// always show). Sanitized: these often quote what the server said.
macro_rules! note {
    ($($t:tt)*) => {
        if !$crate::cli::ui::quiet() {
            eprintln!("{}", $crate::cli::ui::sanitize(&format!($($t)*)))
        }
    };
}
pub(crate) use note;

/// A line for `-v` only.
pub fn debug(msg: &str) {
    if verbose() {
        eprintln!("  · {}", sanitize(msg));
    }
}

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// `data`: this command prints no steps (its output is data, e.g. `--json`); `-v` shows
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
            bar.set_message(sanitize(step).into_owned());
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
        let line = format!("  ✔ {step:<13} {:>7}{detail}", format_ms(ms));
        eprintln!("{}", sanitize(&line));
    }

    /// A line above the spinner (warnings, waits): sanitized, it may quote the server.
    pub fn note(&mut self, msg: &str) {
        let msg = &*sanitize(msg);
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
            // An app's log (`jib logs -f`): for a terminal or a pager, never raw.
            Event::Log { line } => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", sanitize(line));
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
            Event::Ready { phase, release } => debug(&format!("{phase} with release {release}")),
            Event::Done { .. } | Event::Failed { .. } | Event::Exited { .. } => {}
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
        // All of it comes from the server, the log tail from the app itself.
        let e = &self.error;
        write!(
            f,
            "{} failed on {}: {}",
            sanitize(&e.step),
            self.host,
            sanitize(&e.message)
        )?;
        if !e.log_tail.is_empty() {
            write!(f, "\n  last lines of the log:")?;
            for l in &e.log_tail {
                write!(f, "\n    {}", sanitize(l))?;
            }
        }
        if e.previous_serving {
            write!(f, "\n  the previous release is still serving")?;
        }
        if let Some(h) = &e.hint {
            write!(f, "\n  next: {}", sanitize(h))?;
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

/// The error that ends a command. Sanitized as a whole: besides [`RemoteFailure`], messages
/// quote the agent's error output, a release's state, a server's answer.
pub fn error(e: &anyhow::Error) {
    eprintln!("✘ error: {}", sanitize(&format!("{e:#}")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_left_alone() {
        for t in [
            "",
            "GET / 200 in 3 ms",
            "tab\tand\nnewline",
            "naïve ✔ 日本",
            "back\\slash",
        ] {
            assert!(matches!(sanitize(t), Cow::Borrowed(_)), "{t:?}");
        }
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        // Colours, clearing the screen, a window title, the clipboard (OSC 52), a cursor move.
        assert_eq!(sanitize("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(sanitize("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
        assert_eq!(sanitize("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(
            sanitize("\x1b]52;c;ZWNobyBoaQ==\x1b\\"),
            "\\x1b]52;c;ZWNobyBoaQ==\\x1b\\"
        );
        // C1 controls (CSI as one character), DEL, NUL, backspace, a bare CR that overwrites.
        assert_eq!(sanitize("a\u{9b}2Jb"), "a\\x9b2Jb");
        assert_eq!(sanitize("x\x7f\0\x08y"), "x\\x7f\\x00\\x08y");
        assert_eq!(sanitize("ok\rFAILED"), "ok\\x0dFAILED");
        // Reordering marks.
        assert_eq!(sanitize("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
        // Lines stay lines; a CRLF ending is just an ending.
        assert_eq!(sanitize("one\r\ntwo\x1b\r\n"), "one\ntwo\\x1b\n");
        assert_eq!(sanitize("end\r"), "end");
    }

    #[test]
    fn sanitizing_twice_changes_nothing_more() {
        let once = sanitize("\x1b[1mx\u{85}\r").into_owned();
        assert_eq!(sanitize(&once), once);
    }

    #[test]
    fn remote_failures_are_sanitized() {
        let f = RemoteFailure {
            host: "dev".into(),
            error: RemoteError::new("health", "answered \x1b[2J")
                .log_tail(vec!["Traceback\x1b]0;x\x07".into(), "  ok".into()])
                .hint("see \x1b[8mhidden"),
        };
        assert_eq!(
            f.to_string(),
            "health failed on dev: answered \\x1b[2J\n  last lines of the log:\n    \
             Traceback\\x1b]0;x\\x07\n      ok\n  next: see \\x1b[8mhidden"
        );
    }
}
