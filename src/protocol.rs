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
    /// User the apps run as when the agent runs as root (uWSGI drops to it).
    #[serde(default)]
    pub run_as: Option<String>,
    /// A promotion target's exact host names; its one app answers to these instead of
    /// `<app>.<domain>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// URL prefix → directory in the release that nginx serves itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub static_files: BTreeMap<String, String>,
    /// HTTPS in nginx (HTTP then redirects to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// A promotion target's one app (static files are served from its directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Scale to zero: apps stop after this many idle seconds and start on the next request
    /// (emperor on-demand sockets, nginx passing straight to them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_secs: Option<u64>,
    /// Apps run `[processes]`/`[cron]`: the template attaches jib's process supervisor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub supervise: bool,
    /// One machine of an environment on several (`hosts`, `routers`): what it is in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetRole>,
    /// The branch index: a page of the environment's apps that serve answers through nginx,
    /// at the bare domain (a promotion target: at `/.jib/` of its names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexConfig>,
}

/// `index` in deploy.toml, as the server applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// An htpasswd file nginx checks the index's visitors against (HTTP basic auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_file: Option<PathBuf>,
}

/// What one machine is in an environment of several (DESIGN.md §7). Nodes run the apps and
/// announce them, signed, to every router over the private network; routers are the front
/// door (nginx, FastRouter and its subscription server on the private address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetRole {
    /// The private network nodes and routers talk on (`10.0.0.0/8`): every socket and
    /// subscription of the fleet stays on an address inside it.
    pub private: String,
    /// Runs the apps (the Emperor and its instances).
    pub node: bool,
    /// Is a front door (nginx, the FastRouter, its subscription server).
    pub router: bool,
}

/// `jib setup`'s part for a machine of a fleet: its peers' private addresses (each machine
/// said its own in [`Request::Join`]) and the key nodes sign their subscriptions with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSetup {
    pub routers: Vec<std::net::Ipv4Addr>,
    pub nodes: Vec<std::net::Ipv4Addr>,
    /// The host that runs the apps' `[cron]` entries (the first in `hosts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<std::net::Ipv4Addr>,
    /// Nodes: the environment's subscription key (PEM), the same on every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Routers: its public half, what the subscription server checks signatures with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// Where a fleet-wide switch stands on one host (see [`Event::Ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The new release is built, loaded and healthy on its own socket; nothing switched.
    Prepared,
    /// The router is sent to the new release; the old instances are withdrawn, still alive.
    Switched,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Prepared => "prepared",
            Phase::Switched => "switched",
        })
    }
}

/// The CLI's word to a host waiting at a [`Phase`]: go on, or put everything back. A line
/// on the agent's stdin; the end of stdin means no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Go {
    pub go: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// Certificate chain nginx serves. With `acme`, the agent's own file (chain and key in
    /// one, under `<root>/.jib/acme/`), so `key` names the same file.
    pub cert: PathBuf,
    pub key: PathBuf,
    pub listen: String,
    /// Certificates obtained and renewed by the agent from an ACME server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<AcmeConfig>,
}

/// `[env.<name>.tls] acme = …`: which ACME server, and how names are proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeConfig {
    /// The ACME directory URL (`https://…/directory`).
    pub directory: String,
    /// Contact address registered with the account (expiry warnings from the CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A private ACME server's root (PEM on the server): trusted for the directory's TLS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// DNS-01 by RFC 2136 update: a wildcard `*.<domain>`. Without it, HTTP-01 for the exact
    /// `domains` (a promotion target's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsUpdate>,
    /// Renew this many seconds after issue (default: at two thirds of the lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_after_secs: Option<u64>,
}

/// The authoritative DNS server that takes TSIG-signed RFC 2136 updates for the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsUpdate {
    /// `host:port` (port 53 when omitted).
    pub server: String,
    pub zone: String,
    /// The TSIG key's name, as the DNS server knows it.
    pub tsig_key: String,
    /// A file on the server with the key's secret: base64, or a `tsig-keygen` key block.
    pub tsig_secret_file: PathBuf,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    pub tsig_algorithm: String,
}

/// The agent's certificate for an environment, as `jib status` and `jib doctor` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertStatus {
    /// The names the certificate covers (empty: none obtained yet).
    pub names: Vec<String>,
    /// RFC 3339 UTC; absent before the first certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// When serve renews it (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_at: Option<String>,
    /// The last attempt's failure, if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the last attempt (good or bad) ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted: Option<String>,
    /// When a failed attempt is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
    /// How long the last successful attempt took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
}

impl AcmeConfig {
    /// What the agent takes from the CLI: URLs and names it passes on, files it reads as root.
    pub fn check(&self) -> Result<(), String> {
        use crate::config::{check_abs_path, check_acme_url, check_dns_name};
        check_acme_url(&self.directory)
            .map_err(|why| format!("tls.acme = {:?} {why}", self.directory))?;
        if let Some(ca) = &self.ca {
            check_abs_path(ca).map_err(|why| format!("tls.acme_ca = {:?} {why}", ca.display()))?;
        }
        if let Some(d) = &self.dns {
            check_dns_name(&d.zone).map_err(|why| format!("tls.dns.zone = {:?} {why}", d.zone))?;
            check_dns_name(d.tsig_key.trim_end_matches('.'))
                .map_err(|why| format!("tls.dns.tsig_key = {:?} {why}", d.tsig_key))?;
            check_abs_path(&d.tsig_secret_file).map_err(|why| {
                format!(
                    "tls.dns.tsig_secret_file = {:?} {why}",
                    d.tsig_secret_file.display()
                )
            })?;
            crate::dns::check_server(&d.server)
                .map_err(|why| format!("tls.dns.server = {:?} {why}", d.server))?;
            crate::dns::algorithm(&d.tsig_algorithm)
                .map_err(|why| format!("tls.dns.tsig_algorithm = {:?} {why}", d.tsig_algorithm))?;
        }
        Ok(())
    }
}

impl ServerConfig {
    /// A plain branch environment at `/srv/apps` behind nginx, for unit tests to vary.
    #[cfg(test)]
    pub fn example() -> ServerConfig {
        ServerConfig {
            root: "/srv/apps".into(),
            domain: "dev.example.com".into(),
            router: RouterKind::Nginx,
            listen: "80".into(),
            nginx_site: None,
            nginx_reload: vec![],
            nginx_group: None,
            processes: 2,
            run_as: None,
            names: vec![],
            static_files: Default::default(),
            tls: None,
            app: None,
            idle_secs: None,
            supervise: false,
            fleet: None,
            index: None,
        }
    }

    /// The agent's own check of a configuration it received: every value that reaches a
    /// uWSGI ini, the nginx site, the systemd unit or a shell line passes the same allow-lists
    /// as deploy.toml (`config::check_*`). The CLI checks them too, but the agent acts for
    /// whoever can reach it and must not take the CLI's word for it.
    pub fn check(&self) -> Result<(), String> {
        use crate::config::{
            check_abs_path, check_dns_name, check_listen, check_nginx_reload, check_root_path,
            check_static_dir, check_url_prefix, check_user_name,
        };
        let path = |key: &str, p: &std::path::Path, r: Result<(), String>| {
            r.map_err(|why| format!("{key} = {:?} {why}", p.display()))
        };
        let text = |key: &str, v: &str, r: Result<(), String>| {
            r.map_err(|why| format!("{key} = {v:?} {why}"))
        };
        path("root", &self.root, check_root_path(&self.root))?;
        text("domain", &self.domain, check_dns_name(&self.domain))?;
        for n in &self.names {
            text("domains", n, check_dns_name(n))?;
        }
        text("listen", &self.listen, check_listen(&self.listen))?;
        if let Some(site) = &self.nginx_site {
            path("nginx.site", site, check_abs_path(site))?;
        }
        if let Some(g) = &self.nginx_group {
            text("nginx.group", g, check_user_name(g))?;
        }
        if let Some(u) = &self.run_as {
            text("run_as", u, check_user_name(u))?;
        }
        for (prefix, dir) in &self.static_files {
            text("static prefix", prefix, check_url_prefix(prefix))?;
            text("static directory", dir, check_static_dir(dir))?;
        }
        if let Some(t) = &self.tls {
            path("tls.cert", &t.cert, check_abs_path(&t.cert))?;
            path("tls.key", &t.key, check_abs_path(&t.key))?;
            text("tls.listen", &t.listen, check_listen(&t.listen))?;
            if let Some(a) = &t.acme {
                a.check()?;
            }
        }
        if let Some(f) = self.index.as_ref().and_then(|i| i.users_file.as_ref()) {
            path("index.users_file", f, check_abs_path(f))?;
        }
        check_nginx_reload(&self.nginx_reload).map_err(|why| format!("nginx.reload {why}"))?;
        if let Some(a) = &self.app
            && !crate::slug::is_app_name(a)
        {
            return Err(format!(
                "app = {a:?} is not an app name: use lowercase letters, digits and '-'"
            ));
        }
        Ok(())
    }

    /// The Host an app is reached by (what the router keys on, what health checks send).
    pub fn app_host(&self, app: &str) -> String {
        match self.names.first() {
            Some(n) => n.clone(),
            None => format!("{app}.{}", self.domain),
        }
    }
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
    /// Run in the new release before traffic switches; non-zero aborts the deploy.
    #[serde(default)]
    pub release: Option<String>,
    /// Name → command, run beside the web app by the supervisor.
    #[serde(default)]
    pub processes: BTreeMap<String, String>,
    /// Schedule → command.
    #[serde(default)]
    pub cron: BTreeMap<String, String>,
}

/// What the CLI writes as the first line of the agent's stdin. The agent answers
/// [`Event::Hello`] first and refuses to act on a request from another version: the handshake
/// rides on every call instead of costing a round trip of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The CLI's [`version_line`].
    pub client: String,
    /// Who asks: git user.email and local user@host. Recorded in the audit log.
    #[serde(default)]
    pub by: String,
    pub request: Request,
}

impl Envelope {
    /// The agent's side of the handshake: the request line, read by this agent's version.
    pub fn accept(line: &str) -> Result<Envelope, RemoteError> {
        let me = version_line();
        let env: Envelope = serde_json::from_str(line).map_err(|e| {
            RemoteError::new("handshake", format!("{me} cannot read this request ({e})"))
                .hint("the CLI reinstalls a matching agent; if this persists, run `jib setup`")
        })?;
        if env.client != me {
            return Err(RemoteError::new(
                "handshake",
                format!("this agent is {me}, the CLI is {}", env.client),
            )
            .hint("the CLI reinstalls a matching agent"));
        }
        Ok(env)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Request {
    /// Check prerequisites, write the server config, (re)start `jib-agent serve`.
    Setup {
        server: ServerConfig,
        install_deps: bool,
        /// An unprivileged ssh user to let deploy through the root agent (added to the `jib`
        /// group); sent when `jib setup` runs the one-time root steps through sudo or a script.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant: Option<String>,
        /// A machine of a fleet: its peers and keys.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fleet: Option<FleetSetup>,
    },
    /// A fleet's setup, first round: this machine's address on the private network, and the
    /// subscription key it holds (its fingerprint; the key itself when `export_key`).
    Join {
        server: ServerConfig,
        #[serde(default)]
        export_key: bool,
    },
    /// Through this router's front door (its own nginx, the app's real host name), `path`
    /// answers from one of `releases` (one per host) — each of them seen, from as many nodes
    /// as there are hosts — and from nothing else.
    Route {
        server: ServerConfig,
        app: String,
        path: String,
        releases: Vec<String>,
        timeout_secs: u64,
    },
    /// Deploy `commit` as `app`. When the server lacks the commit, the agent answers
    /// [`Event::NeedObjects`] and the CLI sends a [`PackHeader`] line and the pack bytes.
    Deploy(Box<DeployRequest>),
    /// Every app of the root.
    List { server: ServerConfig },
    /// One app, with its releases.
    Status { server: ServerConfig, app: String },
    /// Chain-reload one app and wait until every worker runs its current release.
    Restart { server: ServerConfig, app: String },
    /// The app's log (`deploy`: the deploy log), as [`Event::Log`] lines; `follow` keeps going
    /// until the CLI closes stdin.
    Logs {
        server: ServerConfig,
        app: String,
        lines: usize,
        follow: bool,
        deploy: bool,
        /// A `[processes]` entry's log (`cron` for the cron log) instead of the app's.
        #[serde(default)]
        process: Option<LogSource>,
    },
    /// Read or change the app's own environment (`env.json`: the agent's, readable by the
    /// apps' group).
    Env {
        server: ServerConfig,
        app: String,
        op: EnvOp,
        restart: bool,
    },
    /// Stop the app and remove its releases, routing and environment (and its database, when
    /// `drop_db` names it).
    Destroy {
        server: ServerConfig,
        app: String,
        #[serde(default)]
        drop_db: Option<DropDb>,
    },
    /// Keeps an exec request on the server for a terminal exec to pick up
    /// (`jib-agent exec --stashed <token>`): with a terminal, stdin is the user's, and a
    /// request in argv would show its environment (a database URL) to every local user.
    Stash {
        server: ServerConfig,
        exec: Box<Request>,
    },
    /// Run a command in the app's environment. Unlike other verbs, the agent then *becomes* the
    /// command: its stdin, stdout, stderr and exit status are the command's. Piped, the request
    /// is the first line of stdin and the hello goes to stderr; with a terminal (stdin is the
    /// user's) it was stashed first (see [`Request::Stash`]).
    Exec {
        server: ServerConfig,
        app: String,
        command: ExecCommand,
        /// Added to the command's environment: secrets (another database's URL) stay out of
        /// its argv, which every local user can read.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
    },
    /// The build an app runs (tree, venv, exact package set), for `jib promote`.
    Artifact { server: ServerConfig, app: String },
    /// Ship another environment's build as this environment's app, without rebuilding it.
    /// Like [`Request::Deploy`], may answer [`Event::NeedObjects`].
    Promote(Box<PromoteRequest>),
    /// Switch an app back to an earlier good release (default: the one before `current`).
    Rollback {
        server: ServerConfig,
        app: String,
        /// Release id, or a prefix of its id or commit.
        to: Option<String>,
        lock_wait_secs: u64,
        health_timeout_secs: u64,
        /// One host of a fleet: wait for the CLI's word at each [`Phase`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        gated: bool,
    },
    /// The newest `lines` entries of the root's audit log.
    Audit { server: ServerConfig, lines: usize },
    /// A checklist of the server's side: setup, serve, emperor, router, nginx, sockets, disk,
    /// Python (`python` as deploy.toml names it), uv.
    Doctor {
        server: ServerConfig,
        python: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExecCommand {
    /// Exactly these arguments; no shell sees them.
    Argv { argv: Vec<String> },
    /// `manage.py shell` for Django, else IPython when installed, else `python`.
    PythonShell,
    /// A login shell.
    LoginShell,
    /// The database shell on the app's database; `eval` runs one script and exits.
    Mongo {
        shell: String,
        url: String,
        eval: Option<String>,
    },
}

/// The database `jib destroy --drop-db` drops, and the shell that drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropDb {
    pub shell: String,
    pub url: String,
}

/// Which of an app's own logs `jib logs --process <name>` reads. On the wire the name as
/// given: `cron`, `release`, or a `[processes]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LogSource {
    /// What `[cron]` entries print.
    Cron,
    /// What the `[app] release` steps printed.
    Release,
    /// A `[processes]` entry's output (the agent checks the name).
    Process(String),
}

impl From<String> for LogSource {
    fn from(name: String) -> Self {
        match name.as_str() {
            "cron" => LogSource::Cron,
            "release" => LogSource::Release,
            _ => LogSource::Process(name),
        }
    }
}

impl From<LogSource> for String {
    fn from(source: LogSource) -> Self {
        source.to_string()
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogSource::Cron => "cron",
            LogSource::Release => "release",
            LogSource::Process(name) => name,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum EnvOp {
    List,
    Set { vars: BTreeMap<String, String> },
    Unset { keys: Vec<String> },
}

impl Request {
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Setup { .. } => "setup",
            Request::Join { .. } => "join",
            Request::Route { .. } => "route",
            Request::List { .. } => "list",
            Request::Status { .. } => "status",
            Request::Restart { .. } => "restart",
            Request::Logs { .. } => "logs",
            Request::Env { .. } => "env",
            Request::Destroy { .. } => "destroy",
            Request::Exec { .. } => "exec",
            Request::Stash { .. } => "stash",
            Request::Deploy(_) => "deploy",
            Request::Artifact { .. } => "artifact",
            Request::Promote(_) => "promote",
            Request::Rollback { .. } => "rollback",
            Request::Audit { .. } => "audit",
            Request::Doctor { .. } => "doctor",
        }
    }

    /// The environment a request is for.
    pub fn server(&self) -> &ServerConfig {
        match self {
            Request::Deploy(d) => &d.server,
            Request::Promote(p) => &p.server,
            Request::Setup { server, .. }
            | Request::Join { server, .. }
            | Request::Route { server, .. }
            | Request::List { server }
            | Request::Status { server, .. }
            | Request::Restart { server, .. }
            | Request::Logs { server, .. }
            | Request::Env { server, .. }
            | Request::Destroy { server, .. }
            | Request::Exec { server, .. }
            | Request::Stash { server, .. }
            | Request::Artifact { server, .. }
            | Request::Rollback { server, .. }
            | Request::Audit { server, .. }
            | Request::Doctor { server, .. } => server,
        }
    }

    /// The root and app a request acts on, for the audit log; `None` for verbs that only read.
    pub fn audited(&self) -> Option<(&ServerConfig, &str)> {
        match self {
            Request::Deploy(d) => Some((&d.server, &d.app)),
            Request::Promote(p) => Some((&p.server, &p.app)),
            Request::Rollback { server, app, .. }
            | Request::Restart { server, app }
            | Request::Destroy { server, app, .. } => Some((server, app)),
            Request::Env {
                server,
                app,
                op: EnvOp::Set { .. } | EnvOp::Unset { .. },
                ..
            } => Some((server, app)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromoteRequest {
    pub server: ServerConfig,
    /// The app of the target environment (`prod`).
    pub app: String,
    /// The target environment's build spec (its env vars, health check, retention).
    pub spec: BuildSpec,
    /// Environment the build comes from (`dev`).
    pub from_env: String,
    /// What runs there, as its agent described it.
    pub artifact: Artifact,
    /// Source and target share a server: copy the release's files instead of re-exporting.
    pub same_host: bool,
    pub by: String,
    pub lock_wait_secs: u64,
    /// One host of a fleet: wait for the CLI's word at each [`Phase`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gated: bool,
}

/// Where a release is in its life. Lowercase on the wire and on disk (`release.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseState {
    /// Exported and switching; not yet healthy.
    Pending,
    /// Passed its health check.
    Ok,
    /// Never became healthy (or was interrupted).
    Failed,
}

impl std::fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: `jib releases` gives it a column width, as it did the string it replaced.
        f.pad(match self {
            ReleaseState::Pending => "pending",
            ReleaseState::Ok => "ok",
            ReleaseState::Failed => "failed",
        })
    }
}

/// What kind of failure a [`RemoteError`] is, for the callers that act on it (exit codes,
/// fallbacks). Most failures are just [`ErrorKind::Failed`]: the message says the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    #[default]
    Failed,
    /// Another push, promote, rollback or destroy of the app holds its lock.
    Locked,
    /// No such app here, or it has no release.
    NotDeployed,
    /// Only root may do this (a deploy user's setup that would change something).
    NeedsRoot,
    /// The root agent could not be reached, or refused the caller.
    Unreachable,
    /// One host of a fleet deploy, put back because the fleet did not go on (another host
    /// failed, or the check through the routers did).
    HeldBack,
}

impl ErrorKind {
    fn is_failed(&self) -> bool {
        *self == ErrorKind::Failed
    }
}

/// A release as it runs: enough to recreate it exactly elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub app: String,
    pub branch: String,
    pub release: String,
    pub commit: String,
    pub state: ReleaseState,
    /// It answered its health check just now.
    pub healthy: bool,
    pub venv: String,
    /// `X.Y.Z` of the venv's interpreter.
    pub python_version: String,
    /// The exact distributions of its venv, `name==version` per line, sorted.
    pub lock: String,
    /// Short digest of `lock`.
    pub deps: String,
    /// The release's files on that server.
    pub src: PathBuf,
}

/// One line of `<root>/.jib/audit.log` (JSON lines). Field names are part of `--json`'s contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339, UTC.
    pub time: String,
    /// git user.email and local user@host of whoever ran the command.
    pub by: String,
    /// `push`, `promote`, `rollback`, `restart`, `env set`, `env unset`, `destroy`.
    pub action: String,
    pub app: String,
    #[serde(default)]
    pub branch: String,
    /// Promotions: `<env>/<app>@<release>` the build came from; rollbacks: the release left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub release: String,
    /// `ok`, `failed`, or `unchanged` (a push of what was already live).
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ms: u64,
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
    /// One host of a fleet: wait for the CLI's word at each [`Phase`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gated: bool,
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
    /// A gated host reached `phase` with `release`, and waits for a [`Go`] line.
    Ready {
        phase: Phase,
        release: String,
    },
    /// A line of a log (`jib logs`).
    Log {
        line: String,
    },
    Done {
        /// Boxed: a reply is many times the size of every other event.
        result: Box<Reply>,
    },
    Failed {
        error: RemoteError,
    },
    /// Last, from serve, on a call it ran over a stream (see [`CtlCall::stream`]): how the
    /// verb exited and what it wrote to stderr (a stream has no separate one).
    Exited {
        code: i32,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        stderr: String,
    },
}

/// A call on serve's control socket (`<root>/.jib/agent.sock`): a little-endian u32 length,
/// then this as JSON. Without `stream`, the caller's stdin, stdout and stderr come with the
/// length (SCM_RIGHTS) and serve answers [`CtlAnswer`] lines. With `stream` (a connection
/// forwarded through ssh, where descriptors cannot travel), the connection itself is the
/// verb's stdin and stdout, and serve ends it with [`Event::Exited`].
#[derive(Debug, Serialize, Deserialize)]
pub struct CtlCall {
    pub argv: Vec<String>,
    #[serde(default)]
    pub stream: bool,
}

/// serve's answers on a descriptor-passing call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtlAnswer {
    /// Accepted: the verb runs.
    Accepted,
    /// Refused before anything ran.
    Refused { error: RemoteError },
    /// The verb's exit status.
    Exit { code: i32 },
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
    /// A stashed exec request: `jib-agent exec --stashed <token>` runs it, once.
    Stashed {
        token: String,
    },
    List {
        apps: Vec<AppStatus>,
    },
    Status {
        status: AppStatus,
        releases: Vec<ReleaseInfo>,
        /// The environment's certificate from an ACME server, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<Box<CertStatus>>,
    },
    Restart {
        app: String,
        release: String,
    },
    Logs {
        path: String,
    },
    Env {
        /// Names only, sorted; values are masked by the CLI unless asked to reveal them.
        vars: BTreeMap<String, String>,
        restarted: bool,
    },
    Destroy {
        app: String,
        freed_bytes: u64,
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
    Artifact(Artifact),
    Promote {
        app: String,
        url: String,
        release: String,
        commit: String,
        /// The release prod served before (empty on a first promote).
        previous: String,
        venv: String,
        venv_reused: bool,
        /// How the files arrived: `copied` (same server) or `objects`.
        files: String,
    },
    Rollback {
        app: String,
        url: String,
        from: String,
        to: String,
        commit: String,
    },
    Audit {
        entries: Vec<AuditEntry>,
    },
    Doctor {
        checks: Vec<Check>,
    },
    Join {
        /// This machine's address on the fleet's private network.
        address: std::net::Ipv4Addr,
        /// The fingerprint of the subscription key it holds (a node set up before).
        key: Option<String>,
        /// The key itself, when asked to export it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        private_key: Option<String>,
    },
    Route {
        /// How many answers came from each release.
        seen: BTreeMap<String, usize>,
    },
}

/// How a `jib doctor` check came out. Lowercase in `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, but not as well as it could (no uv, little disk).
    Warn,
    Fail,
}

/// One item of `jib doctor`. Field names are part of `--json`'s contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// How to fix it, when it is not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What `jib list` / `jib status` show of an app. Field names are part of `--json`'s contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub app: String,
    pub branch: String,
    pub url: String,
    pub commit: String,
    pub release: String,
    /// RFC 3339, UTC.
    pub deployed_at: String,
    pub deployed_by: String,
    pub state: AppState,
    /// True when the newest deploy attempt failed (the previous release kept serving).
    pub last_deploy_failed: bool,
    pub workers: usize,
    /// Resident memory of the app's processes.
    pub rss_bytes: u64,
    /// `[processes]` beside the web app: name → `running` (pid) or `down`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub processes: BTreeMap<String, String>,
    /// RFC 3339, UTC: when the app last answered a request (its log's last write).
    #[serde(default)]
    pub last_request: String,
    /// The first line of the current release's commit message (empty for releases made
    /// before jib recorded it).
    #[serde(default)]
    pub subject: String,
    /// A promoted release: `<env>/<app>@<release>` it was copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
}

/// What an app is doing. Lowercase in `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    /// Its workers serve.
    Running,
    /// Scaled to zero: the next request wakes it.
    Sleeping,
    /// Enlisted moments ago; no worker up yet.
    Starting,
    /// Enlisted, but its workers keep dying.
    Failed,
    /// Not enlisted with the emperor (a first deploy failed, or it was stopped).
    Stopped,
}

impl std::fmt::Display for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: a width given to it applies, as to the string it replaced.
        f.pad(match self {
            AppState::Running => "running",
            AppState::Sleeping => "sleeping",
            AppState::Starting => "starting",
            AppState::Failed => "failed",
            AppState::Stopped => "stopped",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub id: String,
    pub commit: String,
    pub created: String,
    pub by: String,
    pub state: ReleaseState,
    pub current: bool,
    pub venv: String,
    /// Branch the code came from.
    #[serde(default)]
    pub branch: String,
    /// For promoted releases: `<env>/<app>@<release>` they were copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
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
    #[serde(default, skip_serializing_if = "ErrorKind::is_failed")]
    pub kind: ErrorKind,
}

impl RemoteError {
    pub fn new(step: impl Into<String>, message: impl Into<String>) -> Self {
        RemoteError {
            step: step.into(),
            message: message.into(),
            hint: None,
            log_tail: Vec::new(),
            previous_serving: false,
            kind: ErrorKind::Failed,
        }
    }
    pub fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
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

    #[test]
    fn enums_keep_the_strings_of_the_wire() {
        fn j(v: &impl Serialize) -> String {
            serde_json::to_string(v).unwrap()
        }
        assert_eq!(j(&CheckStatus::Warn), r#""warn""#);
        assert_eq!(j(&AppState::Sleeping), r#""sleeping""#);
        assert_eq!(j(&ReleaseState::Failed), r#""failed""#);
        for name in ["cron", "release", "web"] {
            let s: LogSource = serde_json::from_str(&format!("{name:?}")).unwrap();
            assert_eq!(j(&s), format!("{name:?}"));
        }
        assert_eq!(
            serde_json::from_str::<LogSource>(r#""web""#).unwrap(),
            LogSource::Process("web".into())
        );
        assert_eq!(format!("{:<8}|", ReleaseState::Ok), "ok      |");
    }
}
