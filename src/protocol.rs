//! The messages between `jib` and `jib-agent`. Both binaries use this module and nothing else
//! to talk: one JSON request on the agent's stdin (optionally followed by raw bytes whose length
//! the request names), JSON lines of [`Event`] on its stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The agent and the CLI must match exactly; the CLI replaces an agent of another version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Hash of the sources both binaries were built from.
pub const BUILD_ID: &str = env!("JIB_BUILD_ID");

/// What `jib-agent --version` prints; the CLI compares the whole line, build id included.
pub fn version_line() -> String {
    format!("jib-agent {VERSION} ({BUILD_ID})")
}

/// How requests reach the app servers of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouterKind {
    /// nginx in front of a uWSGI FastRouter (servers).
    Nginx,
    /// uWSGI's own HTTP router listening directly (local mode without nginx).
    Http,
}

/// Everything the agent needs to run one environment's root. Written by `setup` to
/// `<root>/.jib/server.json`; `serve` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    pub root: PathBuf,
    pub domain: String,
    pub router: RouterKind,
    /// Address nginx (or the HTTP router) listens on, e.g. `80` or `127.0.0.1:8080`.
    pub listen: String,
    /// Where to place the generated nginx site (a symlink to `<root>/.jib/nginx.conf`).
    pub nginx_site: Option<PathBuf>,
    /// Command that makes nginx re-read its configuration.
    pub nginx_reload: Vec<String>,
    /// Group that nginx workers run as; sockets are shared with it.
    pub nginx_group: Option<String>,
    /// uWSGI worker processes per app.
    pub processes: u32,
}

/// What to build and run for one app; comes from deploy.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSpec {
    /// `module:callable`
    pub entry: String,
    /// Dependency file, relative to the repository root.
    pub requirements: Option<String>,
    /// `3.11` or an absolute path.
    pub python: String,
    pub env: BTreeMap<String, String>,
    pub health_path: String,
    pub health_timeout_secs: u64,
    pub keep_releases: usize,
}

/// What the CLI writes as the first line of the agent's stdin. The agent answers
/// [`Event::Hello`] first and refuses to act on a request from another version: the handshake
/// rides on every call instead of costing a round trip of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The CLI's [`version_line`].
    pub client: String,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Request {
    /// Check prerequisites, write the server config, (re)start `jib-agent serve`.
    Setup {
        server: ServerConfig,
        install_deps: bool,
    },
    /// Deploy `commit` as `app`. When the server lacks the commit, the agent answers
    /// [`Event::NeedObjects`] and the CLI sends a [`PackHeader`] line and the pack bytes.
    Deploy(Box<DeployRequest>),
}

impl Request {
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Setup { .. } => "setup",
            Request::Deploy(_) => "deploy",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployRequest {
    pub server: ServerConfig,
    pub app: String,
    pub branch: String,
    pub commit: String,
    pub spec: BuildSpec,
    /// Who pushes (git user.email or local user@host), shown to a second pusher.
    pub by: String,
    /// Seconds to wait for another deploy of the same app; 0 refuses at once.
    pub lock_wait_secs: u64,
    /// Deploy even when the same commit and spec are already live.
    pub force: bool,
}

/// Sent by the CLI after [`Event::NeedObjects`]: `len` bytes of git pack follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackHeader {
    pub len: u64,
}

/// One line of the agent's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Always first: the agent's [`version_line`].
    Hello {
        version: String,
    },
    /// The server lacks the commit; these are the commits it has (to hide from the pack).
    NeedObjects {
        have: Vec<String>,
    },
    StepStarted {
        step: String,
    },
    StepDone {
        step: String,
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    Warning {
        message: String,
    },
    /// Another deploy holds the lock; this one waits.
    Waiting {
        holder: LockHolder,
    },
    Done {
        result: Reply,
    },
    Failed {
        error: RemoteError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub by: String,
    pub pid: u32,
    pub since: String,
    pub what: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, agent pid {}, since {})",
            self.by, self.what, self.pid, self.since
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Setup {
        messages: Vec<String>,
    },
    Deploy {
        app: String,
        url: String,
        release: String,
        commit: String,
        venv: String,
        venv_reused: bool,
        /// Nothing changed: the same commit and spec were already live.
        unchanged: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    /// Which step failed (`venv`, `import check`, `health check`, `lock` …).
    pub step: String,
    pub message: String,
    /// What the user can do next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Last lines of the relevant log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// True when the previous release is still the one serving.
    #[serde(default)]
    pub previous_serving: bool,
}

impl RemoteError {
    pub fn new(step: impl Into<String>, message: impl Into<String>) -> Self {
        RemoteError {
            step: step.into(),
            message: message.into(),
            hint: None,
            log_tail: Vec::new(),
            previous_serving: false,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn log_tail(mut self, lines: Vec<String>) -> Self {
        self.log_tail = lines;
        self
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.step, self.message)
    }
}

impl std::error::Error for RemoteError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_single_lines() {
        let e = Event::Failed {
            error: RemoteError::new("venv", "pip said\nno").hint("fix requirements.txt"),
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }
}
