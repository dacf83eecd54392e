//! deploy.toml: strict (unknown keys are errors with line and column), one `[app]` section and
//! one `[env.<name>]` section per environment (`dev` for branches, `prod` for promotions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::protocol::{BuildSpec, RouterKind, ServerConfig};

pub const FILE_NAME: &str = "deploy.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub app: App,
    #[serde(default)]
    pub env: BTreeMap<String, Environment>,
    /// Processes that run beside the web app (Celery workers…): name → command.
    #[serde(default)]
    pub processes: BTreeMap<String, String>,
    /// Scheduled commands: cron schedule (5 fields, or 6 with seconds first) → command.
    #[serde(default)]
    pub cron: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Project name; names the local-mode root. Defaults to the repository's directory name.
    pub name: Option<String>,
    /// WSGI entry point, `module:callable` (`myshop.wsgi:application`).
    pub wsgi: String,
    /// Dependency file relative to the repository root (requirements.txt, dependencies.txt).
    pub requirements: Option<String>,
    /// Python the virtualenv is built from: `3.11` (found as `python3.11`) or an absolute path.
    #[serde(default = "default_python")]
    pub python: String,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Seconds the new release has to answer its health check.
    #[serde(default = "default_health_timeout")]
    pub health_timeout: u64,
    /// Successful releases kept per app (failed ones never evict them).
    #[serde(default = "default_keep")]
    pub keep_releases: usize,
    /// uWSGI worker processes per app (≥ 2 so a chain reload never stops serving).
    #[serde(default = "default_processes")]
    pub processes: u32,
    /// Environment variables every app of every environment gets.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Command run in each new release's environment before traffic switches to it
    /// (`python manage.py migrate --noinput`); a failure aborts the deploy.
    pub release: Option<String>,
    /// Static files nginx serves from the current release without entering Python:
    /// URL prefix → directory in the repository (`"/static/" = "staticfiles"`).
    #[serde(default, rename = "static")]
    pub static_files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Anything `ssh` accepts (`dev`, `deploy@host`, `deploy@host:2222`) or `local`.
    pub host: String,
    /// Where apps live on the server. Default `/opt/apps`; local mode: the user's data dir.
    pub root: Option<PathBuf>,
    /// Branch `feature` is served at `feature.<domain>`.
    pub domain: Option<String>,
    /// A promotion target (prod): the exact host names its one app answers to, e.g.
    /// `["www.example.com", "example.com"]`. Apps here come from `jib promote`, not pushes.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Name of the promotion target's app (default: the environment's name).
    pub app: Option<String>,
    /// Environment `jib promote` takes builds from (default: `-e` when given, else `dev`).
    pub promote_from: Option<String>,
    /// Local branch `jib promote --merge` fast-forwards (default: `main`, else `master`).
    pub merge_into: Option<String>,
    /// Successful releases kept per app here (default: `[app] keep_releases`).
    pub keep_releases: Option<usize>,
    /// Variables for every app of this environment (override `[app.env]`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// nginx in front of the router; omit in local mode to use uWSGI's HTTP router.
    pub nginx: Option<Nginx>,
    /// Local mode without nginx: address of uWSGI's HTTP router.
    pub listen: Option<String>,
    /// When the agent runs as root: the user apps (and `jib exec`/`shell`) run as.
    pub run_as: Option<String>,
    /// The MongoDB server apps of this environment use; each app gets its own database.
    pub mongo: Option<Mongo>,
    /// A (wildcard) certificate: nginx serves HTTPS and redirects HTTP to it.
    pub tls: Option<Tls>,
    /// Scale to zero: a branch with no request for this long (`15m`, `90s`, `2h`) stops all
    /// its processes; the next request starts it again. Branch environments behind nginx only.
    pub idle: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nginx {
    #[serde(default = "default_nginx_listen")]
    pub listen: String,
    /// Where the generated site is linked; default `/etc/nginx/sites-enabled/jib-<env>-<hash of root>.conf`.
    pub site: Option<PathBuf>,
    /// Command that reloads nginx.
    #[serde(default = "default_nginx_reload")]
    pub reload: Vec<String>,
    /// Group nginx workers run as; sockets are made accessible to it.
    #[serde(default = "default_nginx_group")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mongo {
    /// `mongodb://host:port` (options allowed; no database path).
    pub url: String,
    /// Branch apps get the database `<prefix>_<app>`.
    pub prefix: Option<String>,
    /// A promotion target's one database (default `<prefix>_<app>`).
    pub database: Option<String>,
    /// Variable the app reads the URL from.
    #[serde(default = "default_mongo_url_var")]
    pub url_var: String,
    /// Variable the app reads the database name from.
    #[serde(default = "default_mongo_db_var")]
    pub db_var: String,
    /// Shell `jib mongo` opens on the server (`mongosh`, or the legacy `mongo`).
    #[serde(default = "default_mongo_shell")]
    pub shell: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate (chain) file on the server, e.g. a wildcard `*.dev.example.com`.
    pub cert: PathBuf,
    /// Its private key on the server.
    pub key: PathBuf,
    /// What nginx listens on for HTTPS.
    #[serde(default = "default_tls_listen")]
    pub listen: String,
}

fn default_mongo_url_var() -> String {
    "MONGO_URL".into()
}
fn default_mongo_db_var() -> String {
    "MONGO_DB".into()
}
fn default_mongo_shell() -> String {
    "mongosh".into()
}
fn default_tls_listen() -> String {
    "443".into()
}

fn default_python() -> String {
    "3".into()
}
fn default_health_path() -> String {
    "/".into()
}
fn default_health_timeout() -> u64 {
    30
}
fn default_keep() -> usize {
    5
}
fn default_processes() -> u32 {
    2
}
fn default_nginx_listen() -> String {
    "80".into()
}
fn default_nginx_reload() -> Vec<String> {
    vec!["nginx".into(), "-s".into(), "reload".into()]
}
fn default_nginx_group() -> Option<String> {
    Some("www-data".into())
}

pub const DEFAULT_ROOT: &str = "/opt/apps";

/// `/etc/nginx/sites-enabled/jib-<env>-<root hash>.conf`: two projects with a `dev`
/// environment on one server keep their own sites.
fn default_site(env: &str, root: &Path) -> PathBuf {
    use sha2::Digest;
    let h = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    PathBuf::from(format!(
        "/etc/nginx/sites-enabled/jib-{env}-{}.conf",
        &hex::encode(h)[..8]
    ))
}
pub const LOCAL_HOST: &str = "local";
/// Long roots are fine (sockets move to a short directory, see `layout`), absurd ones are not.
const MAX_ROOT_LEN: usize = 200;

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "no {} in {}: create one (see deploy.toml.example) to tell jib what to run and where",
                    FILE_NAME,
                    path.parent().unwrap_or(Path::new(".")).display()
                )
            } else {
                anyhow::anyhow!("cannot read {}: {e}", path.display())
            }
        })?;
        Self::parse_named(&text, &path.display().to_string())
    }

    pub fn parse(text: &str) -> Result<Config> {
        Self::parse_named(text, FILE_NAME)
    }

    /// Parses `text` (from the file `name`): errors point at `name:line:column`, show the line,
    /// and suggest the key that was probably meant.
    pub fn parse_named(text: &str, name: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| explain(&e, text, name))?;
        cfg.validate().map_err(|e| {
            // Point at the section the message names, when it can be found.
            let msg = format!("{e:#}");
            let section = msg
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'))
                .find(|w| w.starts_with("env.") || w.starts_with("app."))
                .map(|w| {
                    let parts: Vec<&str> = w.split('.').collect();
                    if parts[0] == "app" {
                        "[app]".to_string()
                    } else {
                        format!("[env.{}]", parts.get(1).unwrap_or(&""))
                    }
                });
            let line = section.and_then(|h| {
                text.lines()
                    .position(|l| l.trim() == h)
                    .map(|i| format!(":{}", i + 1))
            });
            anyhow::anyhow!("{name}{}: {msg}", line.unwrap_or_default())
        })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let (module, callable) = self
            .app
            .wsgi
            .split_once(':')
            .unwrap_or((&self.app.wsgi, ""));
        if module.is_empty() || callable.is_empty() {
            bail!(
                "app.wsgi = {:?}: expected `module:callable`, e.g. `myshop.wsgi:application`",
                self.app.wsgi
            );
        }
        if self.app.processes < 2 {
            bail!(
                "app.processes = {}: use at least 2, so a chain reload always has a worker serving",
                self.app.processes
            );
        }
        if self.app.keep_releases < 1 {
            bail!("app.keep_releases must be at least 1");
        }
        if !self.app.health_path.starts_with('/') {
            bail!("app.health_path must start with '/'");
        }
        for (key, _) in self
            .app
            .env
            .iter()
            .chain(self.env.values().flat_map(|e| e.env.iter()))
        {
            if !valid_env_name(key) {
                bail!(
                    "environment variable name {key:?} is not valid: use letters, digits and _, not starting with a digit"
                );
            }
        }
        for (name, cmd) in self.processes.iter().chain(&self.cron) {
            if cmd.trim().is_empty() {
                bail!("[processes]/[cron] {name:?} has an empty command");
            }
        }
        for sched in self.cron.keys() {
            let n = sched.split_whitespace().count();
            if n != 5 && n != 6 {
                bail!(
                    "cron schedule {sched:?} has {n} fields: use 5 (min hour day month weekday) or 6 (seconds first)"
                );
            }
        }
        for name in self.processes.keys() {
            if !crate::slug::is_app_name(name) {
                bail!("process name {name:?}: use lowercase letters, digits and '-'");
            }
            // These name logs of their own (`jib logs --process cron|release|supervisor`).
            if ["cron", "release", "supervisor"].contains(&name.as_str()) {
                bail!("process name {name:?} is reserved; pick another");
            }
        }
        for (prefix, dir) in &self.app.static_files {
            if !prefix.starts_with('/')
                || !prefix.ends_with('/')
                || prefix.contains(['"', ' ', '\'', ';', '{', '}', '$'])
            {
                bail!("app.static: {prefix:?} must be a URL prefix like \"/static/\"");
            }
            if dir.starts_with('/')
                || dir.split('/').any(|p| p == "..")
                || dir.contains(['"', ' ', '\'', ';', '{', '}', '$'])
            {
                bail!(
                    "app.static: {dir:?} must be a directory inside the repository, like \"staticfiles\""
                );
            }
        }
        for (name, env) in &self.env {
            if let Some(m) = &env.mongo {
                if !m.url.starts_with("mongodb://") && !m.url.starts_with("mongodb+srv://") {
                    bail!(
                        "env.{name}.mongo.url = {:?} must start with mongodb://",
                        m.url
                    );
                }
                if m.database.is_some() && !env.is_promote_target() {
                    bail!(
                        "env.{name}.mongo.database would give every branch the same database: use prefix (databases <prefix>_<branch>); database is for prod"
                    );
                }
                if m.prefix.is_none() && m.database.is_none() {
                    bail!(
                        "env.{name}.mongo needs prefix = \"myshop\" (databases <prefix>_<app>) or database = \"myshop_prod\""
                    );
                }
                for v in [&m.url_var, &m.db_var] {
                    if !valid_env_name(v) {
                        bail!("env.{name}.mongo: {v:?} is not a valid variable name");
                    }
                }
            }
            match (&env.domain, env.domains.is_empty()) {
                (Some(_), false) => bail!(
                    "env.{name} sets both domain (branches at <branch>.<domain>) and domains (one promoted app): keep one"
                ),
                (None, true) => bail!(
                    "env.{name} needs domain = \"dev.example.com\" (branches at <branch>.<domain>) or domains = [\"www.example.com\"] (a prod environment fed by jib promote)"
                ),
                _ => {}
            }
            for d in env.domain.iter().chain(&env.domains) {
                if !is_domain(d) {
                    bail!("env.{name}: {d:?} is not a domain name");
                }
            }
            if let Some(a) = &env.app
                && !crate::slug::is_app_name(a)
            {
                bail!(
                    "env.{name}.app = {a:?}: use lowercase letters, digits and '-' (it names a directory and a process)"
                );
            }
            if env.tls.is_some() && env.is_local() && env.nginx.is_none() {
                bail!(
                    "env.{name}.tls needs nginx in front (local mode's HTTP router serves plain HTTP); add [env.{name}.nginx] or remove tls"
                );
            }
            if let Some(idle) = &env.idle {
                let secs = parse_duration(idle).with_context(|| format!("env.{name}.idle"))?;
                if secs < 1 {
                    bail!("env.{name}.idle must be at least 1s");
                }
                if env.is_promote_target() {
                    bail!("env.{name}.idle: a promotion target (prod) never sleeps; remove idle");
                }
                if env.is_local() && env.nginx.is_none() {
                    bail!(
                        "env.{name}.idle needs nginx in front (local mode's HTTP router cannot wake apps); add [env.{name}.nginx] or remove idle"
                    );
                }
            }
            if env.keep_releases == Some(0) {
                bail!("env.{name}.keep_releases must be at least 1");
            }
            if let Some(root) = &env.root {
                check_root(name, root)?;
            }
            if env.host.is_empty() || env.host.starts_with('-') {
                bail!(
                    "env.{name}.host = {:?} is not a valid ssh destination",
                    env.host
                );
            }
        }
        Ok(())
    }

    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.env.get(name).with_context(|| {
            let known: Vec<_> = self.env.keys().cloned().collect();
            format!(
                "deploy.toml has no [env.{name}] section (it defines: {}); add one with host, root and domain",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )
        })
    }

    /// What the agent needs to build and run `app` in environment `env_name`.
    pub fn build_spec(&self, env_name: &str, env: &Environment, app: &str) -> BuildSpec {
        let mut vars = self.app.env.clone();
        vars.insert("JIB_ENV".into(), env_name.to_string());
        if let Some(m) = &env.mongo {
            vars.insert(m.url_var.clone(), m.url.clone());
            vars.insert(m.db_var.clone(), m.database_for(app));
        }
        vars.extend(env.env.clone());
        BuildSpec {
            release: self.app.release.clone(),
            processes: self.processes.clone(),
            cron: self.cron.clone(),
            entry: self.app.wsgi.clone(),
            requirements: self.app.requirements.clone(),
            python: self.app.python.clone(),
            env: vars,
            health_path: self.app.health_path.clone(),
            health_timeout_secs: self.app.health_timeout,
            keep_releases: env.keep_releases.unwrap_or(self.app.keep_releases).max(1),
        }
    }

    /// The promotion target: `--to` when given, else the one environment with `domains`.
    pub fn promote_target(&self, to: Option<&str>) -> Result<(String, &Environment)> {
        if let Some(to) = to {
            let env = self.environment(to)?;
            if !env.is_promote_target() {
                bail!(
                    "env.{to} serves branches (it has domain, not domains): jib promote ships to an environment with domains = [...]"
                );
            }
            return Ok((to.to_string(), env));
        }
        let targets: Vec<_> = self
            .env
            .iter()
            .filter(|(_, e)| e.is_promote_target())
            .collect();
        match targets.as_slice() {
            [(name, env)] => Ok(((*name).clone(), env)),
            [] => bail!(
                "deploy.toml has no environment to promote to: add [env.prod] with host, root and domains = [\"www.example.com\"]"
            ),
            many => bail!(
                "several environments can be promoted to ({}): pick one with --to",
                many.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn project_name(&self, repo_dir: &Path) -> String {
        self.app.name.clone().unwrap_or_else(|| {
            repo_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "app".into())
        })
    }
}

/// A deploy.toml error as a compiler would print it: `file:line:col: message`, the line, a
/// caret, and for an unknown key the closest known one.
fn explain(e: &toml::de::Error, text: &str, name: &str) -> anyhow::Error {
    let raw = e.message().trim().to_string();
    let mut msg = raw.clone();
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some((bad, known)) = rest.split_once("`, expected one of ")
    {
        let known: Vec<&str> = known.split(", ").map(|k| k.trim_matches('`')).collect();
        msg = format!("unknown key `{bad}`");
        match did_you_mean(bad, &known) {
            Some(k) => msg.push_str(&format!("; did you mean `{k}`?")),
            None => msg.push_str(&format!(" (known keys here: {})", known.join(", "))),
        }
    } else if let Some(rest) = raw.strip_prefix("invalid type: ") {
        // serde says "invalid type: string \"3\", expected u64": name the TOML type wanted.
        msg = format!(
            "wrong type: {}",
            rest.replace("expected u64", "expected a whole number (no quotes)")
                .replace("expected usize", "expected a whole number (no quotes)")
                .replace("expected u32", "expected a whole number (no quotes)")
                .replace("expected a string", "expected a string (in quotes)")
                .replace(
                    "expected a sequence",
                    "expected an array, e.g. [\"a\", \"b\"]"
                )
        );
    }
    let Some(span) = e.span() else {
        return anyhow::anyhow!("{name}: {msg}");
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_no = text[..start].matches('\n').count() + 1;
    let col = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    let width = text[start..span.end.min(text.len())]
        .lines()
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(1)
        .max(1);
    anyhow::anyhow!(
        "{name}:{line_no}:{col}: {msg}\n  {line_no:>4} | {line}\n       | {}{}",
        " ".repeat(col - 1),
        "^".repeat(width)
    )
}

/// The known key closest to `bad`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(bad: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(bad, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

impl Mongo {
    /// The database of `app`: the configured name, else `<prefix>_<app>` (`-` → `_`).
    pub fn database_for(&self, app: &str) -> String {
        if let Some(d) = &self.database {
            return d.clone();
        }
        let app = app.replace('-', "_");
        match &self.prefix {
            Some(p) => format!("{p}_{app}"),
            None => app,
        }
    }

    /// The URL with the database as its path: what a shell connects to.
    pub fn url_for(&self, app: &str) -> String {
        let db = self.database_for(app);
        let (base, query) = match self.url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (self.url.as_str(), String::new()),
        };
        // mongodb://host:port[/] — replace whatever path there is.
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let host_end = base[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(base.len());
        format!("{}/{db}{query}", &base[..host_end])
    }
}

/// `90s`, `15m`, `2h`, `14d` (or plain seconds) as seconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a duration like 90s, 15m, 2h or 14d"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => bail!("{text:?} is not a duration like 90s, 15m, 2h or 14d"),
    };
    Ok(n * mult)
}

/// Letters, digits and `_`, not starting with a digit.
pub fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_root(env: &str, root: &Path) -> Result<()> {
    if !root.is_absolute() {
        bail!(
            "env.{env}.root = {:?} must be an absolute path",
            root.display()
        );
    }
    let s = root.to_string_lossy();
    if s.len() > MAX_ROOT_LEN {
        bail!(
            "env.{env}.root = {s:?} is {} characters; keep it at most {MAX_ROOT_LEN}",
            s.len()
        );
    }
    if s.contains(['\n', '\'', '"', ' ', '*', '?', '[']) {
        bail!("env.{env}.root = {s:?} may not contain spaces, quotes or glob characters");
    }
    Ok(())
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with(['.', '-'])
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

impl Environment {
    pub fn is_local(&self) -> bool {
        self.host == LOCAL_HOST
    }

    /// A prod-like environment: one app, fed by `jib promote`.
    pub fn is_promote_target(&self) -> bool {
        !self.domains.is_empty()
    }

    /// The app a promotion target runs.
    pub fn promoted_app(&self, env_name: &str) -> String {
        self.app.clone().unwrap_or_else(|| env_name.to_string())
    }

    /// The server-side configuration of this environment. `local_root` is where local mode
    /// keeps its apps when `root` is not set.
    pub fn server_config(
        &self,
        name: &str,
        app: &App,
        local_root: impl FnOnce() -> PathBuf,
    ) -> Result<ServerConfig> {
        let root = match (&self.root, self.is_local()) {
            (Some(r), _) => r.clone(),
            (None, true) => {
                let r = local_root();
                check_root(name, &r)?;
                r
            }
            (None, false) => PathBuf::from(DEFAULT_ROOT),
        };
        let (router, listen, site, reload, group) = match (&self.nginx, self.is_local()) {
            (Some(n), _) => (
                RouterKind::Nginx,
                n.listen.clone(),
                Some(n.site.clone().unwrap_or_else(|| default_site(name, &root))),
                n.reload.clone(),
                n.group.clone(),
            ),
            (None, true) => (
                RouterKind::Http,
                self.listen
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:8080".into()),
                None,
                Vec::new(),
                None,
            ),
            (None, false) => (
                RouterKind::Nginx,
                default_nginx_listen(),
                Some(default_site(name, &root)),
                default_nginx_reload(),
                default_nginx_group(),
            ),
        };
        Ok(ServerConfig {
            root,
            domain: self
                .domain
                .clone()
                .or_else(|| self.domains.first().cloned())
                .unwrap_or_default(),
            names: self.domains.clone(),
            router,
            listen,
            nginx_site: site,
            nginx_reload: reload,
            nginx_group: group,
            processes: app.processes.max(1),
            run_as: self.run_as.clone(),
            static_files: app.static_files.clone(),
            tls: self.tls.as_ref().map(|t| crate::protocol::TlsConfig {
                cert: t.cert.clone(),
                key: t.key.clone(),
                listen: t.listen.clone(),
            }),
            app: self.is_promote_target().then(|| self.promoted_app(name)),
            idle_secs: self.idle.as_deref().and_then(|d| parse_duration(d).ok()),
            supervise: false,
        })
    }
}

/// The URL an app is served at.
pub fn app_url(app: &str, server: &ServerConfig) -> String {
    let host = server.app_host(app);
    if let Some(tls) = &server.tls {
        let port = tls.listen.split_whitespace().next().unwrap_or("443");
        let port = port.rsplit(':').next().unwrap_or("443");
        return if port == "443" {
            format!("https://{host}")
        } else {
            format!("https://{host}:{port}")
        };
    }
    let port = server.listen.rsplit(':').next().unwrap_or("80");
    if port == "80" {
        format!("http://{host}")
    } else {
        format!("http://{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[app]
wsgi = "hello:app"

[env.dev]
host = "dev.example.com"
domain = "dev.example.com"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        let env = c.environment("dev").unwrap();
        let s = env
            .server_config("dev", &c.app, || PathBuf::from("/x"))
            .unwrap();
        assert_eq!(s.root, PathBuf::from("/opt/apps"));
        assert_eq!(s.router, RouterKind::Nginx);
        assert_eq!(app_url("feature", &s), "http://feature.dev.example.com");
    }

    #[test]
    fn unknown_key_names_the_line() {
        let err = Config::parse(&format!("{MINIMAL}\nbogus = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("deploy.toml:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn typos_point_at_the_line_and_suggest_the_key() {
        let text = MINIMAL.replace("wsgi", "wsgi = \"a:b\"\nhelth_path = \"/\"\n#");
        let err = Config::parse_named(&text, "deploy.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("deploy.toml:4:1: unknown key `helth_path`"),
            "{err}"
        );
        assert!(err.contains("did you mean `health_path`?"), "{err}");
        assert!(err.contains("   4 | helth_path"), "{err}");
        let text = format!("{MINIMAL}[env.dev.nginx]\nlisen = \"80\"\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(err.contains("did you mean `listen`?"), "{err}");
        let text = MINIMAL.replace("[app]", "[app]\nhealth_timeout = \"30\"");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(err.contains("deploy.toml:3:18: wrong type"), "{err}");
        assert!(err.contains("whole number"), "{err}");
        let err = Config::parse(&format!("{MINIMAL}zzzzzz = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("known keys here"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::parse(&MINIMAL.replace("hello:app", "hello")).unwrap_err();
        assert!(e.to_string().contains("module:callable"));
        let e = Config::parse(&format!("{MINIMAL}root = \"relative\"\n")).unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        let c = Config::parse(MINIMAL).unwrap();
        assert!(
            c.environment("prod")
                .unwrap_err()
                .to_string()
                .contains("dev")
        );
    }

    #[test]
    fn local_mode_uses_the_http_router() {
        let c = Config::parse(&MINIMAL.replace("\"dev.example.com\"\ndomain", "\"local\"\ndomain"))
            .unwrap();
        let env = c.environment("dev").unwrap();
        let s = env
            .server_config("dev", &c.app, || PathBuf::from("/tmp/jib-x"))
            .unwrap();
        assert_eq!(s.router, RouterKind::Http);
        assert_eq!(s.root, PathBuf::from("/tmp/jib-x"));
        assert_eq!(app_url("f", &s), "http://f.dev.example.com:8080");
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../deploy.toml.example");
        let c = Config::parse(text).unwrap();
        assert!(c.env.contains_key("dev"));
        let (name, prod) = c.promote_target(None).unwrap();
        assert_eq!(name, "prod");
        let s = prod.server_config("prod", &c.app, || "/x".into()).unwrap();
        assert_eq!(app_url("prod", &s), "http://www.example.com");
        assert_eq!(c.build_spec("prod", prod, "prod").keep_releases, 10);
    }

    #[test]
    fn each_app_gets_its_own_database() {
        let m = Mongo {
            url: "mongodb://db.internal:27017/?replicaSet=rs0".into(),
            prefix: Some("shop".into()),
            database: None,
            url_var: default_mongo_url_var(),
            db_var: default_mongo_db_var(),
            shell: default_mongo_shell(),
        };
        assert_eq!(m.database_for("feature-login"), "shop_feature_login");
        assert_eq!(
            m.url_for("feature-login"),
            "mongodb://db.internal:27017/shop_feature_login?replicaSet=rs0"
        );
        let prod = Mongo {
            database: Some("shop_prod".into()),
            url: "mongodb://db:27017".into(),
            ..m
        };
        assert_eq!(prod.url_for("prod"), "mongodb://db:27017/shop_prod");
        let text =
            format!("{MINIMAL}[env.dev.mongo]\nurl = \"mongodb://h:1\"\nprefix = \"shop\"\n");
        let c = Config::parse(&text).unwrap();
        let spec = c.build_spec("dev", c.environment("dev").unwrap(), "f");
        assert_eq!(spec.env["MONGO_DB"], "shop_f");
        assert_eq!(spec.env["MONGO_URL"], "mongodb://h:1");
        assert_eq!(spec.env["JIB_ENV"], "dev");
        let bad = text.replace("prefix = \"shop\"\n", "");
        assert!(
            Config::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("prefix")
        );
    }

    #[test]
    fn a_prod_environment_has_exact_names() {
        let prod = "\n[env.prod]\nhost = \"p\"\ndomains = [\"www.example.com\"]\n";
        let c = Config::parse(&format!("{MINIMAL}{prod}")).unwrap();
        assert!(c.environment("prod").unwrap().is_promote_target());
        assert!(!c.environment("dev").unwrap().is_promote_target());
        assert_eq!(c.promote_target(None).unwrap().0, "prod");
        assert!(c.promote_target(Some("dev")).is_err());
        assert!(
            Config::parse(MINIMAL)
                .unwrap()
                .promote_target(None)
                .unwrap_err()
                .to_string()
                .contains("domains")
        );
        let both = prod.replace("domains", "domain = \"x.com\"\ndomains");
        let e = Config::parse(&format!("{MINIMAL}{both}")).unwrap_err();
        assert!(e.to_string().contains("keep one"), "{e}");
        let bad = prod.replace("www.example.com", "-bad name");
        assert!(Config::parse(&format!("{MINIMAL}{bad}")).is_err());
        let neither = "\n[env.prod]\nhost = \"p\"\n";
        let e = Config::parse(&format!("{MINIMAL}{neither}")).unwrap_err();
        assert!(e.to_string().contains("domains = ["), "{e}");
    }
}
