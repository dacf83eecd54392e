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
    #[serde(default)]
    pub host: String,
    /// Several app servers instead of one `host` (DESIGN.md §7): each runs every app, the
    /// routers balance requests over them.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The front doors (nginx + FastRouter) of an environment on several servers; default:
    /// every host is its own.
    #[serde(default)]
    pub routers: Vec<String>,
    /// The private network (`10.0.0.0/8`) hosts and routers talk on: required with several
    /// servers; nothing of the fleet listens outside it.
    pub private: Option<String>,
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
    /// The branch index at `<domain>/` (a promotion target: `/.jib/` of its names): `true`,
    /// or `{ users_file = "/etc/jib/index.htpasswd" }` for HTTP basic auth. Off by default.
    #[serde(default)]
    pub index: Index,
}

/// `index = true | false | { users_file = "…" }` (a table means on).
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub on: bool,
    /// An htpasswd file on the server, readable by nginx.
    pub users_file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for Index {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Index, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Index;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "true, false or a table such as { users_file = \"/etc/jib/index.htpasswd\" }",
                )
            }
            fn visit_bool<E>(self, on: bool) -> Result<Index, E> {
                Ok(Index {
                    on,
                    users_file: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Index, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    users_file: Option<PathBuf>,
                }
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Index {
                    on: true,
                    users_file: t.users_file,
                })
            }
        }
        d.deserialize_any(Visit)
    }
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
    pub cert: Option<PathBuf>,
    /// Its private key on the server.
    pub key: Option<PathBuf>,
    /// What nginx listens on for HTTPS.
    #[serde(default = "default_tls_listen")]
    pub listen: String,
    /// Instead of `cert`/`key`: the ACME directory URL the agent obtains and renews them from.
    pub acme: Option<String>,
    /// Contact address for the ACME account.
    pub email: Option<String>,
    /// A private ACME server's root certificate (PEM, on the server), trusted for talking to
    /// that server only.
    pub acme_ca: Option<PathBuf>,
    /// DNS-01 by RFC 2136 update: a wildcard for every branch.
    pub dns: Option<TlsDns>,
    /// Renew this long after issue (default: at two thirds of the lifetime).
    pub renew_after: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDns {
    /// The zone's primary server taking updates, `host:port`.
    pub server: String,
    pub zone: String,
    pub tsig_key: String,
    /// A file on the server holding the key's secret (base64, or a `tsig-keygen` block).
    pub tsig_secret_file: PathBuf,
    #[serde(default = "default_tsig_algorithm")]
    pub tsig_algorithm: String,
}

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
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
        cfg.validate().map_err(|e| e.pointed(text, name))?;
        Ok(cfg)
    }

    /// Checks what the types do not: each section in turn, the first refusal with where it is.
    fn validate(&self) -> Result<(), Invalid> {
        self.validate_app()?;
        self.validate_variables()?;
        self.validate_processes()?;
        self.validate_static()?;
        for (name, env) in &self.env {
            env.validate(name)?;
        }
        Ok(())
    }

    /// `[app]`'s own values.
    fn validate_app(&self) -> Result<(), Invalid> {
        let bad = |key: &str, message: String| Invalid::at("app", Some(key), message);
        let app = &self.app;
        let (module, callable) = app.wsgi.split_once(':').unwrap_or((&app.wsgi, ""));
        if module.is_empty() || callable.is_empty() {
            return Err(bad(
                "wsgi",
                format!(
                    "app.wsgi = {:?}: expected `module:callable`, e.g. `myshop.wsgi:application`",
                    app.wsgi
                ),
            ));
        }
        if app.processes < 2 {
            return Err(bad(
                "processes",
                format!(
                    "app.processes = {}: use at least 2, so a chain reload always has a worker serving",
                    app.processes
                ),
            ));
        }
        if app.keep_releases < 1 {
            return Err(bad(
                "keep_releases",
                "app.keep_releases must be at least 1".into(),
            ));
        }
        if !app.health_path.starts_with('/') {
            return Err(bad(
                "health_path",
                "app.health_path must start with '/'".into(),
            ));
        }
        // It goes into the health check's request line as written.
        if app
            .health_path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "health_path",
                format!(
                    "app.health_path = {:?} may not contain spaces or control characters (percent-encode them)",
                    app.health_path
                ),
            ));
        }
        Ok(())
    }

    /// The names of `[app.env]`'s and every environment's variables.
    fn validate_variables(&self) -> Result<(), Invalid> {
        for (key, _) in self
            .app
            .env
            .iter()
            .chain(self.env.values().flat_map(|e| e.env.iter()))
        {
            if !valid_env_name(key) {
                return Err(Invalid::unplaced(format!(
                    "environment variable name {key:?} is not valid: use letters, digits and _, not starting with a digit"
                )));
            }
        }
        Ok(())
    }

    /// `[processes]` and `[cron]`.
    fn validate_processes(&self) -> Result<(), Invalid> {
        for (name, cmd) in self.processes.iter().chain(&self.cron) {
            if cmd.trim().is_empty() {
                return Err(Invalid::unplaced(format!(
                    "[processes]/[cron] {name:?} has an empty command"
                )));
            }
        }
        for sched in self.cron.keys() {
            check_cron_schedule(sched).map_err(|why| {
                Invalid::at("cron", Some(sched), format!("cron schedule {sched:?}{why}"))
            })?;
        }
        for name in self.processes.keys() {
            if !crate::slug::is_app_name(name) {
                return Err(Invalid::unplaced(format!(
                    "process name {name:?}: use lowercase letters, digits and '-'"
                )));
            }
            // These name logs of their own (`jib logs --process cron|release|supervisor`).
            if ["cron", "release", "supervisor"].contains(&name.as_str()) {
                return Err(Invalid::unplaced(format!(
                    "process name {name:?} is reserved; pick another"
                )));
            }
        }
        Ok(())
    }

    /// `[app] static`: URL prefixes and the directories nginx serves for them.
    fn validate_static(&self) -> Result<(), Invalid> {
        let bad = |message: String| Invalid::at("app", Some("static"), message);
        for (prefix, dir) in &self.app.static_files {
            if let Err(why) = check_url_prefix(prefix) {
                return Err(bad(format!(
                    "app.static: {prefix:?} must be a URL prefix like \"/static/\": it {why}"
                )));
            }
            if let Err(why) = check_static_dir(dir) {
                return Err(bad(format!(
                    "app.static: {dir:?} must be a directory inside the repository, like \"staticfiles\": it {why}"
                )));
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

/// The fields of a cron schedule, seconds first: name, lowest and highest value. A weekday of
/// 7 is Sunday, like 0.
const CRON_FIELDS: [(&str, u64, u64); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
];

/// Checks a `[cron]` schedule as the supervisor reads it (`parse_field` in
/// `assets/jib_procs.py`, which ignores an entry it cannot read, at run time): 5 fields (minute
/// hour day month weekday), or 6 with seconds first, each a comma-separated list of `*`, `a`,
/// `a-b`, `*/n`, `a-b/n` or `a/n` (from a to the field's end); numbers within the field's
/// range, ranges not reversed, steps of 1 or more. No names (`jan`, `mon`) and no `@daily`:
/// the supervisor has none. Numbers are plain ASCII digits, where Python's `int` would also
/// take `+5` or `1_0`. The error is what follows the schedule in a message.
pub fn check_cron_schedule(sched: &str) -> Result<(), String> {
    // Python's str.split(): Unicode whitespace, and the separators U+001C..U+001F as well.
    let fields: Vec<&str> = sched
        .split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|f| !f.is_empty())
        .collect();
    if let [alias] = fields[..]
        && alias.starts_with('@')
    {
        let fix = match alias.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => ": write \"0 0 1 1 *\"",
            "@monthly" => ": write \"0 0 1 * *\"",
            "@weekly" => ": write \"0 0 * * 0\"",
            "@daily" | "@midnight" => ": write \"0 0 * * *\"",
            "@hourly" => ": write \"0 * * * *\"",
            _ => ": write the 5 fields (min hour day month weekday)",
        };
        return Err(format!(": aliases like {alias} are not supported{fix}"));
    }
    let n = fields.len();
    let named = match n {
        5 => &CRON_FIELDS[1..],
        6 => &CRON_FIELDS[..],
        _ => {
            return Err(format!(
                " has {n} fields: use 5 (min hour day month weekday) or 6 (seconds first)"
            ));
        }
    };
    for (field, &(name, lo, hi)) in fields.iter().zip(named) {
        for part in field.split(',') {
            check_cron_part(part, lo, hi).map_err(|why| format!(": {name} {field:?}: {why}"))?;
        }
    }
    Ok(())
}

/// One item of a cron field's list, with the field's range.
fn check_cron_part(part: &str, lo: u64, hi: u64) -> Result<(), String> {
    if part.is_empty() {
        return Err("an empty item in the list".into());
    }
    let (span, step) = match part.split_once('/') {
        Some((span, step)) => (span, Some(step)),
        None => (part, None),
    };
    let number = |text: &str| -> Result<u64, String> {
        if text.is_empty() {
            return Err(format!("{part:?} is missing a number"));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            let hint = match (lo, hi) {
                (1, 12) if text.bytes().any(|b| b.is_ascii_alphabetic()) => {
                    ": month names are not supported, use 1-12"
                }
                (0, 7) if text.bytes().any(|b| b.is_ascii_alphabetic()) => {
                    ": weekday names are not supported, use 0-7 (0 and 7 are Sunday)"
                }
                _ => "",
            };
            return Err(format!("{text:?} is not a number{hint}"));
        }
        // Past u64 is out of range all the same.
        Ok(text.parse().unwrap_or(u64::MAX))
    };
    if let Some(step) = step
        && number(step)? == 0
    {
        return Err(format!("{part:?} has a step of 0: use 1 or more"));
    }
    let (first, last) = if span == "*" {
        (lo, hi)
    } else if let Some((a, b)) = span.split_once('-') {
        let (a, b) = (number(a)?, number(b)?);
        if a > b {
            return Err(format!("{span:?} is a reversed range: write {b}-{a}"));
        }
        (a, b)
    } else {
        let a = number(span)?;
        // `a/n`: from a to the field's end, every n.
        (a, if step.is_some() { hi.max(a) } else { a })
    };
    for v in [first, last] {
        if !(lo..=hi).contains(&v) {
            return Err(format!("{v} is out of range {lo}-{hi}"));
        }
    }
    Ok(())
}

/// A deploy.toml error as a compiler would print it: `file:line:col: message`, the line, a
/// caret, and for an unknown key the closest known one.
/// A value of deploy.toml that is refused, and where: the section (`app`, `env.dev`) and, when
/// the message is about one key, that key (`wsgi`, `nginx.listen`). Neither for messages
/// that say where themselves (a variable, a process).
struct Invalid {
    section: Option<String>,
    key: Option<String>,
    message: String,
}

impl Invalid {
    fn at(section: &str, key: Option<&str>, message: String) -> Invalid {
        Invalid {
            section: Some(section.to_string()),
            key: key.map(str::to_string),
            message,
        }
    }

    fn unplaced(message: String) -> Invalid {
        Invalid {
            section: None,
            key: None,
            message,
        }
    }

    /// The message as `jib` shows it: pointing at the key's value in `text` (the file `name`),
    /// else at its section's header, else at the file.
    fn pointed(self, text: &str, name: &str) -> anyhow::Error {
        let msg = self.message;
        let Some(section) = self.section else {
            return anyhow::anyhow!("{name}: {msg}");
        };
        // A key (`env.dev.root`, `app.static`, `nginx.listen` in `env.dev`): point at its
        // value, as for a wrong type. One that TOML must quote (a cron schedule): at the
        // line that has it.
        let found = self.key.and_then(|k| {
            if k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            {
                locate_key(text, &format!("{section}.{k}"))
            } else {
                locate_quoted_key(text, &section, &k)
            }
        });
        if let Some((i, mut col, mut width)) = found {
            let line = text.lines().nth(i).unwrap_or("");
            // The value the message quotes, when the line has it as written (in a table).
            if let Some(q) = first_quoted(&msg)
                && let Some(at) = line.find(q)
            {
                col = line[..at].chars().count() + 1;
                width = q.chars().count();
            }
            return anyhow::anyhow!("{}", pointed(name, &msg, i + 1, col, line, width));
        }
        let header = format!("[{section}]");
        let line = text
            .lines()
            .position(|l| l.trim() == header)
            .map(|i| format!(":{}", i + 1));
        anyhow::anyhow!("{name}{}: {msg}", line.unwrap_or_default())
    }
}

fn explain(e: &toml::de::Error, text: &str, name: &str) -> anyhow::Error {
    let raw = e.message().trim().to_string();
    let mut msg = raw.clone();
    // serde says "expected one of `a`, `b`", or "expected `a`" for a table of one key.
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some((bad, known)) = rest
            .split_once("`, expected one of ")
            .or_else(|| rest.split_once("`, expected "))
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
    // At the end of a CRLF line, the end of the line shown (`lines` drops its CR).
    let before = &text[line_start..start];
    let before = match text[start..].starts_with('\n') {
        true => before.strip_suffix('\r').unwrap_or(before),
        false => before,
    };
    let col = before.chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    let width = text[start..span.end.min(text.len())]
        .lines()
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(1)
        .max(1);
    anyhow::anyhow!("{}", pointed(name, &msg, line_no, col, line, width))
}

/// `name:line:col: msg`, the line, and a caret of `width` under column `col` (1-based).
fn pointed(name: &str, msg: &str, line_no: usize, col: usize, line: &str, width: usize) -> String {
    format!(
        "{name}:{line_no}:{col}: {msg}\n  {line_no:>4} | {line}\n       | {}{}",
        " ".repeat(col.saturating_sub(1)),
        "^".repeat(width.max(1))
    )
}

/// The first `"…"` in `msg`, quotes included.
fn first_quoted(msg: &str) -> Option<&str> {
    let start = msg.find('"')?;
    let mut escaped = false;
    for (i, c) in msg[start + 1..].char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(&msg[start..start + 1 + i + 1]),
            _ => escaped = false,
        }
    }
    None
}

/// Where the key a validation message names (`env.dev.nginx.listen`, `app.static`) is set in
/// `text`: its line (0-based), the column of its value (1-based) and the value's width. Tries
/// `listen` under `[env.dev.nginx]`, then `nginx` under `[env.dev]` (an inline table), then a
/// header `[env.dev.nginx.listen]` of its own. `None` for a bare section (`env.dev`) or a key
/// written in some other way (dotted, quoted).
fn locate_key(text: &str, path: &str) -> Option<(usize, usize, usize)> {
    let parts: Vec<&str> = path.split('.').collect();
    let first_key = if parts.first() == Some(&"env") { 2 } else { 1 };
    if parts.len() <= first_key || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    for k in (first_key..parts.len()).rev() {
        let header = format!("[{}]", parts[..k].join("."));
        let Some(h) = lines.iter().position(|l| l.trim() == header) else {
            continue;
        };
        for (i, l) in lines.iter().enumerate().skip(h + 1) {
            let t = l.trim_start();
            if t.starts_with('[') {
                break;
            }
            let Some(value) = t
                .strip_prefix(parts[k])
                .and_then(|r| r.trim_start().strip_prefix('='))
                .map(str::trim_start)
            else {
                continue;
            };
            let col = l[..l.len() - value.len()].chars().count() + 1;
            // A quoted string up to its closing quote; anything else up to a comment.
            let width = match value.strip_prefix('"').and_then(|v| v.find('"')) {
                Some(end) => value[..end + 2].chars().count(),
                None => value
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim_end()
                    .chars()
                    .count(),
            };
            return Some((i, col, width));
        }
    }
    let header = format!("[{path}]");
    let i = lines.iter().position(|l| l.trim() == header)?;
    let col = lines[i].len() - lines[i].trim_start().len() + 1;
    Some((i, col, header.chars().count()))
}

/// Where the key `key` of `[section]` is, when TOML has it quoted (`"*/5 * * * *" = …`):
/// (line index, column, width), as [`locate_key`] but of the key.
fn locate_quoted_key(text: &str, section: &str, key: &str) -> Option<(usize, usize, usize)> {
    let header = format!("[{section}]");
    let lines: Vec<&str> = text.lines().collect();
    let h = lines.iter().position(|l| l.trim() == header)?;
    for (i, l) in lines.iter().enumerate().skip(h + 1) {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        let Ok(table) = t.parse::<toml::Table>() else {
            continue;
        };
        if table.len() == 1 && table.contains_key(key) {
            let col = l.len() - t.len();
            // The key as written: up to its closing quote.
            let width = t
                .chars()
                .next()
                .filter(|q| *q == '"' || *q == '\'')
                .and_then(|q| {
                    let mut escaped = false;
                    t.char_indices().skip(1).find_map(|(at, c)| match c {
                        '\\' if q == '"' && !escaped => {
                            escaped = true;
                            None
                        }
                        c if c == q && !escaped => Some(t[..=at].chars().count()),
                        _ => {
                            escaped = false;
                            None
                        }
                    })
                })
                .unwrap_or(1);
            return Some((i, l[..col].chars().count() + 1, width));
        }
    }
    None
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
    // Past u64 it would wrap (a release build) to any length at all, `0` included.
    n.checked_mul(mult)
        .ok_or_else(|| anyhow::anyhow!("{text:?} is too long a duration"))
}

/// Letters, digits and `_`, not starting with a digit.
pub fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_root(env: &str, root: &Path) -> Result<()> {
    check_root_path(root)
        .map_err(|why| anyhow::anyhow!("env.{env}.root = {:?} {why}", root.display()))
}

// Allow-lists for every value that ends up in a uWSGI ini (`%` is a magic variable, `;` and
// `#` start comments), an nginx config (`;`, `{`, `}`, `$`, quotes, spaces), a systemd unit
// (`%` specifiers, spaces split ExecStart) or an `sh -c` line. Saying what is allowed, rather
// than what is not, leaves nothing to forget. The CLI checks them when it reads deploy.toml;
// the agent checks them again on what it receives (`ServerConfig::check`), since a server
// must not trust whoever talks to it. Each returns why a value is refused, to follow the
// value in a message.

/// What a path component may be made of.
const COMPONENT_CHARS: &str = "letters, digits, '.', '_' and '-'";

fn component_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The first character of `s` that `ok` refuses, for messages.
fn first_refused(s: &str, ok: impl Fn(u8) -> bool) -> Option<char> {
    s.chars().find(|c| !c.is_ascii() || !ok(*c as u8))
}

/// `parts` (split on '/') are all plain names: allowed bytes, not empty, not `.` or `..`.
fn check_components(s: &str, what: &str) -> Result<(), String> {
    if let Some(c) = first_refused(s, |b| component_byte(b) || b == b'/') {
        return Err(format!(
            "contains {c:?}: {what} may only contain {COMPONENT_CHARS}, separated by '/'"
        ));
    }
    for part in s.split('/') {
        match part {
            "" => {
                return Err(format!(
                    "has an empty part (`//` or a '/' at the end): {what} may not"
                ));
            }
            "." | ".." => return Err(format!("has a `{part}` part: {what} may not")),
            _ => {}
        }
    }
    Ok(())
}

/// An ACME directory URL: `https://`, with no spaces, quotes or control characters.
pub fn check_acme_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("must be an https:// URL (the ACME server's directory)")?;
    if rest.is_empty()
        || url.bytes().any(|b| {
            b.is_ascii_whitespace() || b.is_ascii_control() || b"\"'<>\\{}|^`".contains(&b)
        })
    {
        return Err("is not a URL like \"https://acme-v02.api.letsencrypt.org/directory\"".into());
    }
    Ok(())
}

/// An absolute path: `/` then components of letters, digits, `.`, `_`, `-` (no `.` or `..`).
pub fn check_abs_path(p: &Path) -> Result<(), String> {
    let Some(s) = p.to_str() else {
        return Err(format!("is not UTF-8: use {COMPONENT_CHARS} between '/'"));
    };
    let Some(rest) = s.strip_prefix('/') else {
        return Err("must be an absolute path (starting with '/')".into());
    };
    check_components(rest, "a path")
}

/// `check_abs_path`, at most `MAX_ROOT_LEN` long.
pub fn check_root_path(root: &Path) -> Result<(), String> {
    check_abs_path(root)?;
    let n = root.as_os_str().len();
    if n > MAX_ROOT_LEN {
        return Err(format!("is {n} characters; keep it at most {MAX_ROOT_LEN}"));
    }
    Ok(())
}

/// A directory inside the repository: relative, plain components, no `..`; a trailing '/' is
/// tolerated (nginx's alias trims it).
pub fn check_static_dir(dir: &str) -> Result<(), String> {
    if dir.starts_with('/') {
        return Err("must be relative to the repository, like \"staticfiles\"".into());
    }
    check_components(dir.strip_suffix('/').unwrap_or(dir), "a directory")
}

/// A URL prefix: `/`, then letters, digits, `.`, `_`, `-`, `/`, ending in `/`.
pub fn check_url_prefix(prefix: &str) -> Result<(), String> {
    if let Some(c) = first_refused(prefix, |b| component_byte(b) || b == b'/') {
        return Err(format!(
            "contains {c:?}: use {COMPONENT_CHARS} and '/', like \"/static/\""
        ));
    }
    if !prefix.starts_with('/') || !prefix.ends_with('/') {
        return Err("must start and end with '/', like \"/static/\"".into());
    }
    // nginx matches normalised URIs: a `..` or `//` in a prefix would never match.
    if prefix != "/" {
        check_components(&prefix[1..prefix.len() - 1], "a URL prefix")?;
    }
    Ok(())
}

/// A host name: dot-separated labels of letters, digits and `-` (not first or last), each at
/// most 63 characters, 253 in all.
pub fn check_dns_name(name: &str) -> Result<(), String> {
    const RULE: &str = "use labels of letters, digits and '-' (not at either end of a label), separated by single dots";
    if let Some(c) = first_refused(name, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    }) {
        return Err(format!("contains {c:?}: {RULE}"));
    }
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "is not a domain name (1 to 253 characters): {RULE}"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(format!("is not a domain name: {RULE}"));
        }
    }
    // The router's key for names nobody serves: an app under it would take that traffic.
    if name.eq_ignore_ascii_case(crate::router::NOT_FOUND_KEY) {
        return Err(format!("is reserved by jib (the 404 page's name): {RULE}"));
    }
    Ok(())
}

/// What nginx or uWSGI listens on: `port`, or `host:port` where host is an IPv4 address, an
/// IPv6 address in brackets (`[::]`), `*` or a host name; the port is 1 to 65535.
pub fn check_listen(listen: &str) -> Result<(), String> {
    const RULE: &str = "use a port (`80`) or host:port (`127.0.0.1:8080`, `[::]:443`, `*:80`, `localhost:8080`), port 1 to 65535";
    let (host, port) = match listen.rsplit_once(':') {
        None => (None, listen),
        Some((h, p)) => (Some(h), p),
    };
    // Digits only, no sign or leading zero: the port also appears in URLs as written.
    let port_ok = !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = match host {
        None => true,
        Some("*") => true,
        Some(h) => match h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => h.parse::<std::net::Ipv4Addr>().is_ok() || check_dns_name(h).is_ok(),
        },
    };
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(format!("is not an address to listen on: {RULE}"))
    }
}

/// The command that reloads nginx, which root runs after each site change: nginx itself (or
/// its service) only, with plain arguments — never a program the configuration names.
pub fn check_nginx_reload(argv: &[String]) -> Result<(), String> {
    let Some(program) = argv.first() else {
        return Ok(());
    };
    let allowed = [
        "nginx",
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "systemctl",
        "/bin/systemctl",
        "/usr/bin/systemctl",
        "service",
        "/usr/sbin/service",
    ];
    if !allowed.contains(&program.as_str()) {
        return Err(format!(
            "runs {program:?}: it must run nginx (or systemctl/service reload nginx)"
        ));
    }
    for a in &argv[1..] {
        if a.is_empty()
            || !a
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/=:@-".contains(c))
        {
            return Err(format!(
                "argument {a:?} has characters jib does not pass to root's commands"
            ));
        }
    }
    Ok(())
}

/// A user or group name as Debian's adduser takes it: `[a-z_][a-z0-9_-]*`, at most 32.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("is not a user name: use lowercase letters, digits, '_' and '-', starting with a letter or '_' (at most 32)".into())
    }
}

/// An `[env.<name>]` name: it names a file (the default nginx site) and a directory (the local
/// root).
fn check_env_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("is not an environment name: use letters, digits, '_' and '-', starting with a letter or digit".into())
    }
}

impl Environment {
    /// `[env.<name>]`: its name, its values' allow-lists, and what goes together.
    fn validate(&self, name: &str) -> Result<(), Invalid> {
        let section = format!("env.{name}");
        let bad = |key: Option<&str>, message: String| Invalid::at(&section, key, message);
        if let Err(why) = check_env_name(name) {
            return Err(bad(None, format!("[env.{name}]: {name:?} {why}")));
        }
        self.check_values(name)?;
        self.validate_mongo(name)?;
        match (&self.domain, self.domains.is_empty()) {
            (Some(_), false) => {
                return Err(bad(
                    None,
                    format!(
                        "env.{name} sets both domain (branches at <branch>.<domain>) and domains (one promoted app): keep one"
                    ),
                ));
            }
            (None, true) => {
                return Err(bad(
                    None,
                    format!(
                        "env.{name} needs domain = \"dev.example.com\" (branches at <branch>.<domain>) or domains = [\"www.example.com\"] (a prod environment fed by jib promote)"
                    ),
                ));
            }
            _ => {}
        }
        for (key, d) in self
            .domain
            .iter()
            .map(|d| ("domain", d))
            .chain(self.domains.iter().map(|d| ("domains", d)))
        {
            if let Err(why) = check_dns_name(d) {
                return Err(bad(Some(key), format!("env.{name}.{key}: {d:?} {why}")));
            }
        }
        // A promotion target's app is named after it unless `app` says otherwise.
        if self.is_promote_target() && self.app.is_none() && !crate::slug::is_app_name(name) {
            return Err(bad(
                None,
                format!(
                    "env.{name} is a promotion target, and its app is named after it: {name:?} is not an app name; add app = \"{}\" (lowercase letters, digits and '-')",
                    crate::slug::app_name(name).unwrap_or_else(|_| "prod".into())
                ),
            ));
        }
        if let Some(a) = &self.app
            && !crate::slug::is_app_name(a)
        {
            return Err(bad(
                Some("app"),
                format!(
                    "env.{name}.app = {a:?}: use lowercase letters, digits and '-' (it names a directory and a process)"
                ),
            ));
        }
        if self.tls.is_some() && self.is_local() && self.nginx.is_none() {
            return Err(bad(
                Some("tls"),
                format!(
                    "env.{name}.tls needs nginx in front (local mode's HTTP router serves plain HTTP); add [env.{name}.nginx] or remove tls"
                ),
            ));
        }
        self.validate_idle(name)?;
        self.validate_index(name)?;
        if self.keep_releases == Some(0) {
            return Err(bad(
                Some("keep_releases"),
                format!("env.{name}.keep_releases must be at least 1"),
            ));
        }
        self.validate_machines(name)
    }

    /// `host`, or `hosts` (and `routers`, `private`) for an environment on several servers.
    fn validate_machines(&self, name: &str) -> Result<(), Invalid> {
        let section = format!("env.{name}");
        let bad = |key: &str, message: String| Invalid::at(&section, Some(key), message);
        match (self.host.is_empty(), self.hosts.is_empty()) {
            (false, false) => {
                return Err(bad(
                    "hosts",
                    format!(
                        "env.{name} sets both host and hosts: keep hosts (host is the one-server form)"
                    ),
                ));
            }
            (true, true) => {
                return Err(bad(
                    "host",
                    format!(
                        "env.{name} needs host = \"server\" (or hosts = [\"app1\", \"app2\"] for several servers)"
                    ),
                ));
            }
            _ => {}
        }
        let mut seen = std::collections::BTreeSet::new();
        for (key, h) in self
            .node_hosts()
            .into_iter()
            .map(|h| {
                (
                    if self.hosts.is_empty() {
                        "host"
                    } else {
                        "hosts"
                    },
                    h,
                )
            })
            .chain(self.routers.iter().map(|h| ("routers", h.as_str())))
        {
            if h.is_empty()
                || h.starts_with('-')
                || h.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad(
                    key,
                    format!("env.{name}.{key}: {h:?} is not a valid ssh destination"),
                ));
            }
            if self.is_fleet() && h == LOCAL_HOST {
                return Err(bad(
                    key,
                    format!("env.{name}.{key}: local mode runs on one machine; list servers"),
                ));
            }
            if !seen.insert(h) && key == "hosts" {
                return Err(bad(key, format!("env.{name}.hosts lists {h:?} twice")));
            }
        }
        if !self.is_fleet() {
            if self.private.is_some() {
                return Err(bad(
                    "private",
                    format!(
                        "env.{name}.private is for several servers (hosts, routers); remove it"
                    ),
                ));
            }
            return Ok(());
        }
        let Some(private) = &self.private else {
            return Err(bad(
                "private",
                format!(
                    "env.{name} runs on several servers: say which network they talk on, e.g. private = \"10.0.0.0/8\""
                ),
            ));
        };
        crate::fleet::Cidr::parse(private)
            .map_err(|why| bad("private", format!("env.{name}.private = {private:?} {why}")))?;
        if self.idle.is_some() {
            return Err(bad(
                "idle",
                format!("env.{name}.idle: apps on several servers stay awake; remove idle"),
            ));
        }
        Ok(())
    }

    /// `[env.<name>.mongo]`: a MongoDB URL, and a database per branch (one named, for prod).
    fn validate_mongo(&self, name: &str) -> Result<(), Invalid> {
        let Some(m) = &self.mongo else {
            return Ok(());
        };
        let section = format!("env.{name}");
        let bad = |key: Option<&str>, message: String| Invalid::at(&section, key, message);
        if !m.url.starts_with("mongodb://") && !m.url.starts_with("mongodb+srv://") {
            return Err(bad(
                Some("mongo.url"),
                format!(
                    "env.{name}.mongo.url = {:?} must start with mongodb://",
                    m.url
                ),
            ));
        }
        if m.database.is_some() && !self.is_promote_target() {
            return Err(bad(
                Some("mongo.database"),
                format!(
                    "env.{name}.mongo.database would give every branch the same database: use prefix (databases <prefix>_<branch>); database is for prod"
                ),
            ));
        }
        if m.prefix.is_none() && m.database.is_none() {
            return Err(bad(
                Some("mongo"),
                format!(
                    "env.{name}.mongo needs prefix = \"myshop\" (databases <prefix>_<app>) or database = \"myshop_prod\""
                ),
            ));
        }
        for v in [&m.url_var, &m.db_var] {
            if !valid_env_name(v) {
                return Err(bad(
                    Some("mongo"),
                    format!("env.{name}.mongo: {v:?} is not a valid variable name"),
                ));
            }
        }
        Ok(())
    }

    /// `idle` (scale to zero): a duration, and only where something can wake the app.
    fn validate_idle(&self, name: &str) -> Result<(), Invalid> {
        let Some(idle) = &self.idle else {
            return Ok(());
        };
        let section = format!("env.{name}");
        let bad = |message: String| Invalid::at(&section, Some("idle"), message);
        let secs = parse_duration(idle).map_err(|e| bad(format!("env.{name}.idle: {e:#}")))?;
        if secs < 1 {
            return Err(bad(format!("env.{name}.idle must be at least 1s")));
        }
        if self.is_promote_target() {
            return Err(bad(format!(
                "env.{name}.idle: a promotion target (prod) never sleeps; remove idle"
            )));
        }
        if self.is_local() && self.nginx.is_none() {
            return Err(bad(format!(
                "env.{name}.idle needs nginx in front (local mode's HTTP router cannot wake apps); add [env.{name}.nginx] or remove idle"
            )));
        }
        Ok(())
    }

    /// `index`: served by nginx from one machine that sees every app.
    fn validate_index(&self, name: &str) -> Result<(), Invalid> {
        if !self.index.on {
            return Ok(());
        }
        let bad = |message: String| Invalid::at(&format!("env.{name}"), Some("index"), message);
        if self.is_local() && self.nginx.is_none() {
            return Err(bad(format!(
                "env.{name}.index needs nginx in front (it serves the page and asks for the password); add [env.{name}.nginx] or remove index"
            )));
        }
        // A router of several servers holds no app to list.
        if self.is_fleet() {
            return Err(bad(format!(
                "env.{name}.index: the branch index is not available on several servers yet; remove index"
            )));
        }
        Ok(())
    }

    /// The allow-lists on every value of this environment that reaches a generated file.
    fn check_values(&self, name: &str) -> Result<(), Invalid> {
        let section = format!("env.{name}");
        let refuse = |key: &str, value: &dyn std::fmt::Debug, why: String| {
            Invalid::at(
                &section,
                Some(key),
                format!("env.{name}.{key} = {value:?} {why}"),
            )
        };
        if let Some(root) = &self.root {
            check_root_path(root).map_err(|why| refuse("root", &root.display(), why))?;
        }
        if let Some(l) = &self.listen {
            check_listen(l).map_err(|why| refuse("listen", l, why))?;
        }
        if let Some(u) = &self.run_as {
            check_user_name(u).map_err(|why| refuse("run_as", u, why))?;
        }
        if let Some(n) = &self.nginx {
            check_listen(&n.listen).map_err(|why| refuse("nginx.listen", &n.listen, why))?;
            if let Some(site) = &n.site {
                check_abs_path(site).map_err(|why| refuse("nginx.site", &site.display(), why))?;
            }
            if let Some(g) = &n.group {
                check_user_name(g)
                    .map_err(|why| refuse("nginx.group", g, why.replace("user", "group")))?;
            }
            check_nginx_reload(&n.reload).map_err(|why| {
                Invalid::at(
                    &section,
                    Some("nginx.reload"),
                    format!("env.{name}.nginx.reload {why}"),
                )
            })?;
        }
        if let Some(t) = &self.tls {
            if let Some(c) = &t.cert {
                check_abs_path(c).map_err(|why| refuse("tls.cert", &c.display(), why))?;
            }
            if let Some(k) = &t.key {
                check_abs_path(k).map_err(|why| refuse("tls.key", &k.display(), why))?;
            }
            check_listen(&t.listen).map_err(|why| refuse("tls.listen", &t.listen, why))?;
            self.validate_acme(name, t)?;
        }
        if let Some(f) = &self.index.users_file {
            check_abs_path(f).map_err(|why| refuse("index.users_file", &f.display(), why))?;
        }
        Ok(())
    }

    /// `tls`: a certificate the user provides (`cert` + `key`), or one from `acme`.
    fn validate_acme(&self, name: &str, t: &Tls) -> Result<(), Invalid> {
        let section = format!("env.{name}.tls");
        let bad = |key: &str, message: String| Invalid::at(&section, Some(key), message);
        let Some(url) = &t.acme else {
            return match (&t.cert, &t.key) {
                (Some(_), Some(_)) => {
                    for (key, set) in [
                        ("email", t.email.is_some()),
                        ("acme_ca", t.acme_ca.is_some()),
                        ("dns", t.dns.is_some()),
                        ("renew_after", t.renew_after.is_some()),
                    ] {
                        if set {
                            return Err(bad(
                                key,
                                format!(
                                    "env.{name}.tls.{key} is for certificates from an ACME server: add acme = \"<directory URL>\" or remove {key}"
                                ),
                            ));
                        }
                    }
                    Ok(())
                }
                (None, _) => Err(Invalid::at(
                    &format!("env.{name}"),
                    Some("tls"),
                    format!(
                        "env.{name}.tls needs cert and key (a certificate you provide) or acme = \"https://acme-v02.api.letsencrypt.org/directory\" (obtained and renewed by the agent)"
                    ),
                )),
                (Some(_), None) => Err(bad(
                    "cert",
                    format!("env.{name}.tls.cert needs key (its private key on the server)"),
                )),
            };
        };
        check_acme_url(url)
            .map_err(|why| bad("acme", format!("env.{name}.tls.acme = {url:?} {why}")))?;
        if t.cert.is_some() || t.key.is_some() {
            let key = if t.cert.is_some() { "cert" } else { "key" };
            return Err(bad(
                key,
                format!(
                    "env.{name}.tls: use either acme (the agent obtains the certificate) or cert and key (you provide it), not both"
                ),
            ));
        }
        if let Some(e) = &t.email
            && (e.is_empty()
                || !e.contains('@')
                || e.bytes().any(|b| {
                    b.is_ascii_whitespace() || b.is_ascii_control() || b"<>\"'".contains(&b)
                }))
        {
            return Err(bad(
                "email",
                format!("env.{name}.tls.email = {e:?} is not an email address"),
            ));
        }
        if let Some(ca) = &t.acme_ca {
            check_abs_path(ca).map_err(|why| {
                bad(
                    "acme_ca",
                    format!("env.{name}.tls.acme_ca = {:?} {why}", ca.display()),
                )
            })?;
        }
        if let Some(r) = &t.renew_after {
            parse_duration(r)
                .map_err(|e| bad("renew_after", format!("env.{name}.tls.renew_after: {e}")))?;
        }
        match &t.dns {
            Some(d) => {
                let dns = |key: &str, why: String| {
                    bad(
                        &format!("dns.{key}"),
                        format!("env.{name}.tls.dns.{key} {why}"),
                    )
                };
                crate::dns::check_server(&d.server)
                    .map_err(|w| dns("server", format!("= {:?} {w}", d.server)))?;
                check_dns_name(&d.zone).map_err(|w| dns("zone", format!("= {:?} {w}", d.zone)))?;
                check_dns_name(d.tsig_key.trim_end_matches('.'))
                    .map_err(|w| dns("tsig_key", format!("= {:?} {w}", d.tsig_key)))?;
                check_abs_path(&d.tsig_secret_file).map_err(|w| {
                    dns(
                        "tsig_secret_file",
                        format!("= {:?} {w}", d.tsig_secret_file.display()),
                    )
                })?;
                crate::dns::algorithm(&d.tsig_algorithm)
                    .map_err(|w| dns("tsig_algorithm", format!("= {:?} {w}", d.tsig_algorithm)))?;
                let domain = self
                    .domain
                    .clone()
                    .or_else(|| self.domains.first().cloned())
                    .unwrap_or_default();
                let zone = d.zone.trim_end_matches('.');
                if self.domains.is_empty()
                    && domain != zone
                    && !domain.ends_with(&format!(".{zone}"))
                {
                    return Err(dns(
                        "zone",
                        format!(
                            "= {zone:?} does not contain the domain {domain:?}: the wildcard's TXT record goes under _acme-challenge.{domain}"
                        ),
                    ));
                }
                if !self.domains.is_empty() {
                    return Err(bad(
                        "dns",
                        format!(
                            "env.{name}.tls.dns makes a wildcard for branch environments; env.{name} has exact domains, proven by HTTP-01: remove dns"
                        ),
                    ));
                }
            }
            // Prod's exact names, or a branch environment's one certificate per branch (each
            // obtained at the branch's first push).
            None if !self.is_promote_target() && self.is_fleet() => {
                // serve obtains a branch's certificate where the branch and nginx both run.
                return Err(bad(
                    "acme",
                    format!(
                        "env.{name}.tls.acme without dns gets one certificate per branch, on a single server; a fleet needs dns = {{ server, zone, tsig_key, tsig_secret_file }} (a wildcard by DNS-01) or a certificate you provide (cert, key)"
                    ),
                ));
            }
            None => {
                if self.router_hosts().len() > 1 {
                    return Err(bad(
                        "acme",
                        format!(
                            "env.{name}.tls.acme by HTTP-01 needs one front door: with several routers the CA may ask one that did not get the challenge; use a certificate you provide (cert, key){}",
                            if self.is_promote_target() {
                                ""
                            } else {
                                ", or dns = { … } for a wildcard by DNS-01"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn is_local(&self) -> bool {
        self.host == LOCAL_HOST
    }

    /// The servers that run the apps: `hosts`, or the one `host`.
    pub fn node_hosts(&self) -> Vec<&str> {
        if self.hosts.is_empty() {
            vec![self.host.as_str()]
        } else {
            self.hosts.iter().map(String::as_str).collect()
        }
    }

    /// Several servers: more than one host, or routers of their own.
    pub fn is_fleet(&self) -> bool {
        self.hosts.len() > 1 || !self.routers.is_empty()
    }

    /// Every machine of the environment, hosts first, each once.
    pub fn machines(&self) -> Vec<&str> {
        let mut all = self.node_hosts();
        for r in &self.routers {
            if !all.contains(&r.as_str()) {
                all.push(r);
            }
        }
        all
    }

    /// The routers: `routers`, else every host (each its own front door).
    pub fn router_hosts(&self) -> Vec<&str> {
        if self.routers.is_empty() {
            self.node_hosts()
        } else {
            self.routers.iter().map(String::as_str).collect()
        }
    }

    /// `machine`'s configuration in a fleet: the environment's, with its role.
    pub fn member_config(&self, base: &ServerConfig, machine: &str) -> ServerConfig {
        let mut server = base.clone();
        if self.is_fleet() {
            server.fleet = Some(crate::protocol::FleetRole {
                private: self.private.clone().unwrap_or_default(),
                node: self.node_hosts().contains(&machine),
                router: self.router_hosts().contains(&machine),
            });
        }
        server
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
        let acme_cert = crate::layout::Layout::new(&root).acme_cert();
        let server = ServerConfig {
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
            tls: self.tls.as_ref().map(|t| {
                // From an ACME server: the agent's own file, chain and key in one.
                let own = acme_cert.clone();
                crate::protocol::TlsConfig {
                    cert: t.cert.clone().unwrap_or_else(|| own.clone()),
                    key: t.key.clone().unwrap_or(own),
                    listen: t.listen.clone(),
                    acme: t.acme.as_ref().map(|url| crate::protocol::AcmeConfig {
                        directory: url.clone(),
                        email: t.email.clone(),
                        ca: t.acme_ca.clone(),
                        dns: t.dns.as_ref().map(|d| crate::protocol::DnsUpdate {
                            server: d.server.clone(),
                            zone: d.zone.clone(),
                            tsig_key: d.tsig_key.clone(),
                            tsig_secret_file: d.tsig_secret_file.clone(),
                            tsig_algorithm: d.tsig_algorithm.clone(),
                        }),
                        renew_after_secs: t
                            .renew_after
                            .as_deref()
                            .and_then(|r| parse_duration(r).ok()),
                    }),
                }
            }),
            app: self.is_promote_target().then(|| self.promoted_app(name)),
            idle_secs: self.idle.as_deref().and_then(|d| parse_duration(d).ok()),
            supervise: false,
            fleet: None,
            index: self.index.on.then(|| crate::protocol::IndexConfig {
                users_file: self.index.users_file.clone(),
            }),
        };
        // What the agent will check: refused here, it is refused before anything is sent.
        server
            .check()
            .map_err(|e| anyhow::anyhow!("env.{name}: {e}"))?;
        Ok(server)
    }
}

/// The URL an app is served at.
pub fn app_url(app: &str, server: &ServerConfig) -> String {
    site_url(&server.app_host(app), server)
}

/// The branch index's URL: the bare domain, or `/.jib/` of a promotion target's first name.
pub fn index_url(server: &ServerConfig) -> String {
    match server.names.first() {
        Some(name) => format!("{}{}", site_url(name, server), crate::index::PAGE_PATH),
        None => format!("{}/", site_url(&server.domain, server)),
    }
}

/// `http://…` for a host nginx serves without TLS (a branch whose own certificate is not
/// obtained yet; with one per branch, the bare domain's index).
pub fn plain_url(host: &str, server: &ServerConfig) -> String {
    let plain = ServerConfig {
        tls: None,
        ..server.clone()
    };
    site_url(host, &plain)
}

/// `http(s)://<host>[:port]` as the environment's nginx (or HTTP router) serves it.
fn site_url(host: &str, server: &ServerConfig) -> String {
    if crate::acme::per_branch(server) && server.names.is_empty() && host == server.domain {
        return plain_url(host, server);
    }
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
    fn crlf_files_are_pointed_at_within_the_line() {
        // Found by tests/properties.rs: the caret went one past the end of a CRLF line.
        let err = Config::parse("'\r\n[app]").unwrap_err().to_string();
        assert!(err.starts_with("deploy.toml:1:2: "), "{err}");
        assert!(err.ends_with("\n     1 | '\n       |  ^"), "{err}");
        let text = MINIMAL.replace('\n', "\r\n").replace("[app]", "[app]\r\nx");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("deploy.toml:3:2: "), "{err}");
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

    #[test]
    fn the_branch_index_is_opt_in_and_may_ask_for_a_password() {
        let server = |text: &str| {
            let c = Config::parse(text).unwrap();
            c.environment("dev")
                .unwrap()
                .server_config("dev", &c.app, || "/x".into())
                .unwrap()
        };
        assert_eq!(server(MINIMAL).index, None);
        let on = MINIMAL.replace("domain =", "index = true\ndomain =");
        assert_eq!(server(&on).index, Some(Default::default()));
        assert_eq!(server(&on.replace("true", "false")).index, None);
        let auth = on.replace("true", "{ users_file = \"/etc/jib/index.htpasswd\" }");
        let index = server(&auth).index.unwrap();
        assert_eq!(
            index.users_file.as_deref(),
            Some(Path::new("/etc/jib/index.htpasswd"))
        );
        let s = server(&auth);
        assert_eq!(index_url(&s), "http://dev.example.com/");
        let prod = format!(
            "{MINIMAL}\n[env.prod]\nhost = \"p\"\ndomains = [\"www.example.com\"]\nindex = true\n"
        );
        let c = Config::parse(&prod).unwrap();
        let p = c
            .environment("prod")
            .unwrap()
            .server_config("prod", &c.app, || "/x".into())
            .unwrap();
        assert_eq!(index_url(&p), "http://www.example.com/.jib/");

        let err = |text: &str| format!("{:#}", Config::parse(text).unwrap_err());
        let e = err(&on.replace("true", "\"yes\""));
        assert!(
            e.starts_with(
                "deploy.toml:7:9: wrong type: string \"yes\", expected true, false or a table"
            ),
            "{e}"
        );
        let e = err(&on.replace("true", "{ users = \"/x\" }"));
        assert!(
            e.contains("unknown key `users`; did you mean `users_file`?"),
            "{e}"
        );
        let e = err(&auth.replace("/etc/jib", "etc/jib"));
        assert!(
            e.starts_with("deploy.toml:7:") && e.contains("env.dev.index.users_file"),
            "{e}"
        );
        let local = on.replace("host = \"dev.example.com\"", "host = \"local\"");
        assert!(err(&local).contains("env.dev.index needs nginx"));
        let e = err(&FLEET.replace("private =", "index = true\nprivate ="));
        assert!(e.contains("not available on several servers"), "{e}");
    }

    #[test]
    fn acme_for_branches_by_dns_or_per_branch_and_excludes_cert() {
        let dev = "\n[env.dev.tls]\nacme = \"https://acme.example/dir\"\n";
        // No dns: one certificate per branch, by HTTP-01.
        assert!(Config::parse(&format!("{MINIMAL}{dev}")).is_ok());
        let dns = "dns = { server = \"ns1.example.com:53\", zone = \"example.com\", tsig_key = \"jib\", tsig_secret_file = \"/etc/jib/tsig.key\" }\n";
        assert!(Config::parse(&format!("{MINIMAL}{dev}{dns}")).is_ok());
        let other = dns.replace("zone = \"example.com\"", "zone = \"other.org\"");
        let e = Config::parse(&format!("{MINIMAL}{dev}{other}")).unwrap_err();
        assert!(e.to_string().contains("does not contain the domain"), "{e}");
        let both = format!("{MINIMAL}{dev}{dns}cert = \"/c.pem\"\nkey = \"/k.pem\"\n");
        assert!(
            Config::parse(&both)
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let http = format!(
            "{MINIMAL}{}",
            dev.replace("acme = \"https:", "acme = \"http:")
        );
        assert!(
            Config::parse(&http)
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
        let prod = "\n[env.prod]\nhost = \"p\"\ndomains = [\"www.example.com\"]\n[env.prod.tls]\nacme = \"https://acme.example/dir\"\nemail = \"ops@example.com\"\n";
        assert!(Config::parse(&format!("{MINIMAL}{prod}")).is_ok());
        // One certificate per branch is obtained where the branch and nginx both run.
        let fleet = FLEET.replace("[env.prod]", "[env.dev]").replace(
            "domains = [\"www.example.com\"]",
            "domain = \"dev.example.com\"",
        );
        assert!(Config::parse(&fleet).is_ok());
        let e = Config::parse(&format!("{fleet}{dev}")).unwrap_err();
        assert!(e.to_string().contains("a fleet needs dns"), "{e}");
    }

    /// What a uWSGI ini (`%`, `;`, `#`), an nginx config (`;`, `{`, `}`, `$`, quotes, spaces),
    /// a systemd unit (`%`, spaces) or a shell line would read as syntax.
    const HOSTILE: [&str; 12] = [
        "\n", ";", "%", "$", "{", "}", "#", " ", "\"", "'", ",", "\\",
    ];

    /// Every field that reaches a generated file, with a good value.
    const FIELDS: [(&str, &str, &str); 11] = [
        ("env.dev", "domain", "dev.example.com"),
        ("env.dev", "root", "/srv/apps"),
        ("env.dev", "listen", "127.0.0.1:8080"),
        ("env.dev", "run_as", "jibapps"),
        ("env.dev.nginx", "listen", "80"),
        ("env.dev.nginx", "site", "/etc/nginx/sites-enabled/jib.conf"),
        ("env.dev.nginx", "group", "www-data"),
        ("env.dev.tls", "cert", "/etc/ssl/jib/dev.fullchain.pem"),
        ("env.dev.tls", "key", "/etc/ssl/jib/dev.key"),
        ("env.dev.tls", "listen", "443"),
        ("env.dev.index", "users_file", "/etc/jib/index.htpasswd"),
    ];

    /// A deploy.toml setting every field in `FIELDS`, with `over` = (section, key, value)
    /// replacing one of them.
    fn full_config(over: Option<(&str, &str, &str)>) -> String {
        let mut out = "[app]\nwsgi = \"hello:app\"\nstatic = { \"/static/\" = \"staticfiles\" }\n\n[env.dev]\nhost = \"dev\"\n".to_string();
        let mut section = "env.dev";
        for (sec, key, good) in FIELDS {
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            let value = match over {
                Some((s, k, v)) if s == sec && k == key => v,
                _ => good,
            };
            // A JSON string is a TOML basic string for all of these.
            out.push_str(&format!(
                "{key} = {}\n",
                serde_json::to_string(value).unwrap()
            ));
        }
        out
    }

    #[test]
    fn every_field_that_reaches_a_generated_file_is_allow_listed() {
        let good = Config::parse(&full_config(None)).unwrap();
        good.environment("dev")
            .unwrap()
            .server_config("dev", &good.app, || "/x".into())
            .unwrap();
        for (sec, key, value) in FIELDS {
            for h in HOSTILE {
                for bad in [format!("{value}{h}x"), format!("{h}{value}")] {
                    let text = full_config(Some((sec, key, &bad)));
                    let err = match Config::parse(&text) {
                        Ok(_) => panic!("{sec}.{key} = {bad:?} was accepted"),
                        Err(e) => e.to_string(),
                    };
                    // Named, and pointed at: the key's own line under its own section.
                    assert!(err.contains(&format!("{sec}.{key}")), "{err}");
                    let header = text.lines().position(|l| l == format!("[{sec}]")).unwrap();
                    let line = text
                        .lines()
                        .enumerate()
                        .skip(header + 1)
                        .find(|(_, l)| l.starts_with(&format!("{key} = ")))
                        .unwrap()
                        .0;
                    assert!(
                        err.starts_with(&format!("deploy.toml:{}:", line + 1)),
                        "{sec}.{key} = {bad:?}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_check_that_refuses_says_where_not_the_words_of_its_message() {
        // A variable named like a key is no key of deploy.toml's to point at.
        let text = MINIMAL.replace("[app]", "[app]\nenv = { \"app.x\" = \"a\" }");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("deploy.toml: environment variable name \"app.x\""),
            "{err}"
        );
    }

    #[test]
    fn a_refused_value_is_pointed_at_with_what_is_allowed() {
        let text = MINIMAL.replace("domain =", "root = \"/opt/my apps\"\ndomain =");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert_eq!(
            err,
            "deploy.toml:7:8: env.dev.root = \"/opt/my apps\" contains ' ': a path may only contain \
             letters, digits, '.', '_' and '-', separated by '/'\n     7 | root = \"/opt/my apps\"\n       \
             |        ^^^^^^^^^^^^^^"
        );
        // A bare section keeps pointing at its header.
        let both = MINIMAL.replace("domain =", "domains = [\"a.b\"]\ndomain =");
        let err = Config::parse(&both).unwrap_err().to_string();
        assert!(err.starts_with("deploy.toml:5: env.dev sets both"), "{err}");
        // An inline table: the line of its key.
        let text = format!("{MINIMAL}nginx = {{ listen = \"80;\" }}\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("deploy.toml:8:20: env.dev.nginx.listen"),
            "{err}"
        );
    }

    /// Found by tests/properties.rs: both were accepted here and refused only when a command
    /// built the environment's server configuration (`env.x: ...`, without a line).
    #[test]
    fn what_the_agent_refuses_deploy_toml_refuses_first() {
        let text = format!("{MINIMAL}nginx = {{ reload = [\"rm\", \"-rf\"] }}\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "deploy.toml:8:21: env.dev.nginx.reload runs \"rm\": it must run nginx"
            ),
            "{err}"
        );
        let text = format!("{MINIMAL}[env.dev.nginx]\nreload = [\"nginx\", \"-s reload\"]\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("deploy.toml:9:20: env.dev.nginx.reload argument \"-s reload\""),
            "{err}"
        );
        let prod = "\n[env.Prod_EU]\nhost = \"p\"\ndomains = [\"www.example.com\"]\n";
        let err = Config::parse(&format!("{MINIMAL}{prod}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("deploy.toml:9: env.Prod_EU is a promotion target"),
            "{err}"
        );
        assert!(err.contains("add app = \"prod-eu\""), "{err}");
        let named = prod.replace("domains", "app = \"prod-eu\"\ndomains");
        let c = Config::parse(&format!("{MINIMAL}{named}")).unwrap();
        let (name, env) = c.promote_target(None).unwrap();
        let s = env.server_config(&name, &c.app, || "/x".into()).unwrap();
        assert_eq!(s.app.as_deref(), Some("prod-eu"));
    }

    #[test]
    fn static_prefixes_and_directories_are_allow_listed() {
        let with = |prefix: &str, dir: &str| {
            let entry = format!(
                "static = {{ {} = {} }}\n",
                serde_json::to_string(prefix).unwrap(),
                serde_json::to_string(dir).unwrap()
            );
            Config::parse(&MINIMAL.replace("[app]\n", &format!("[app]\n{entry}")))
        };
        for (prefix, dir) in [
            ("/static/", "staticfiles"),
            ("/a/b-c_d.e/", "build/static/"),
            ("/", "public"),
        ] {
            with(prefix, dir).unwrap();
        }
        for h in HOSTILE {
            let e = with(&format!("/st{h}atic/"), "staticfiles").unwrap_err();
            assert!(e.to_string().contains("must be a URL prefix"), "{e}");
            let e = with("/static/", &format!("static{h}files")).unwrap_err();
            assert!(e.to_string().contains("inside the repository"), "{e}");
        }
        for prefix in ["static/", "/static", "", "/a/../", "/a//b/", "//"] {
            assert!(with(prefix, "s").is_err(), "{prefix:?}");
        }
        // `.` would publish the whole source tree, settings and all.
        for dir in ["/srv/static", "..", "a/../b", ".", "./s", "a//b", ""] {
            assert!(with("/s/", dir).is_err(), "{dir:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration(" 15m ").unwrap(), 900);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1w").unwrap(), 604800);
        assert_eq!(parse_duration("18446744073709551615").unwrap(), u64::MAX);
        for bad in ["", "m", "1x", "-1s", "1.5h", "99999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        // Found writing tests/properties.rs: these overflowed (a panic in a debug build; in a
        // release build `--older-than 30500568904944w` wrapped to 6.7 days, `idle =
        // "213503982334602d"` to 17 hours).
        for long in [
            "18446744073709551615w",
            "213503982334602d",
            "30500568904944w",
        ] {
            let e = parse_duration(long).unwrap_err().to_string();
            assert!(e.contains("too long"), "{long}: {e}");
        }
        let text = MINIMAL.replace("domain =", "idle = \"18446744073709551615w\"\ndomain =");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.starts_with("deploy.toml:7:8: env.dev.idle:"), "{e}");
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            "80",
            "8080",
            "65535",
            "127.0.0.1:8080",
            "0.0.0.0:80",
            "[::]:443",
            "[::1]:80",
            "*:80",
            "localhost:8080",
        ] {
            assert_eq!(check_listen(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "0",
            "65536",
            "080",
            "+80",
            "80 default_server",
            "443 ssl",
            "::1:80",
            "[::1]",
            "[::1",
            "host:",
            ":80",
            "a_b:80",
            "1.2.3.4:80;",
            "unix:/tmp/x",
            "80\n",
        ] {
            assert!(check_listen(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_names_and_users() {
        for ok in ["/opt/apps", "/srv/jib-apps/v1.2", "/tmp/.tmpAbC_1"] {
            assert_eq!(check_abs_path(Path::new(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "relative",
            "/",
            "/opt/../etc",
            "/opt/./x",
            "/opt//x",
            "/opt/x/",
            "/opt/é",
            "/opt/a*b",
            "/opt/a?b",
            "/opt/[ab]",
            "/opt/%n",
            "/opt/x\n",
        ] {
            assert!(check_abs_path(Path::new(bad)).is_err(), "{bad:?}");
        }
        assert!(check_root_path(Path::new(&format!("/{}", "a".repeat(MAX_ROOT_LEN)))).is_err());
        for ok in [
            "dev.example.com",
            "localhost",
            "a-b.c1",
            "xn--bcher-kva.example",
        ] {
            assert_eq!(check_dns_name(ok), Ok(()), "{ok}");
        }
        let long = format!("{}.com", "a".repeat(64));
        for bad in [
            "",
            "-a.com",
            "a-.com",
            "a..b",
            ".a",
            "a.",
            "a_b.com",
            "*.example.com",
            "a b",
            &long,
        ] {
            assert!(check_dns_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["jibapps", "_apt", "www-data", "u1"] {
            assert_eq!(check_user_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Root",
            "1abc",
            "-a",
            "a b",
            "a;b",
            "a$",
            &"a".repeat(33),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        let e = Config::parse(&format!(
            "{MINIMAL}[env.\"a;b\"]\nhost = \"x\"\ndomain = \"x.y\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("not an environment name"), "{e}");
        let e = Config::parse(&MINIMAL.replace("[app]\n", "[app]\nhealth_path = \"/ HTTP/1.0\"\n"))
            .unwrap_err();
        assert!(e.to_string().contains("health_path"), "{e}");
    }

    /// The agent's own check refuses what deploy.toml would have, whatever the CLI sends.
    #[test]
    fn the_agent_checks_what_it_receives() {
        let c = Config::parse(&full_config(None)).unwrap();
        let good = c
            .environment("dev")
            .unwrap()
            .server_config("dev", &c.app, || "/x".into())
            .unwrap();
        assert_eq!(good.check(), Ok(()));
        type Mutate = fn(&mut ServerConfig, String);
        let fields: [(&str, Mutate); 13] = [
            ("root", |s, v| s.root = format!("/srv/{v}").into()),
            ("domain", |s, v| s.domain = format!("dev{v}.example.com")),
            ("domains", |s, v| {
                s.names = vec![format!("www{v}.example.com")]
            }),
            ("listen", |s, v| s.listen = format!("80{v}")),
            ("nginx.site", |s, v| {
                s.nginx_site = Some(format!("/etc/{v}.conf").into())
            }),
            ("nginx.group", |s, v| {
                s.nginx_group = Some(format!("www{v}"))
            }),
            ("run_as", |s, v| s.run_as = Some(format!("app{v}"))),
            ("static prefix", |s, v| {
                s.static_files = [(format!("/s{v}/"), "s".to_string())].into()
            }),
            ("static directory", |s, v| {
                s.static_files = [("/s/".to_string(), format!("s{v}"))].into()
            }),
            ("tls.cert", |s, v| {
                if let Some(t) = s.tls.as_mut() {
                    t.cert = format!("/etc/{v}.pem").into()
                }
            }),
            ("tls.listen", |s, v| {
                if let Some(t) = s.tls.as_mut() {
                    t.listen = format!("443{v}")
                }
            }),
            ("app", |s, v| s.app = Some(format!("prod{v}"))),
            ("index.users_file", |s, v| {
                if let Some(i) = s.index.as_mut() {
                    i.users_file = Some(format!("/etc/{v}.htpasswd").into())
                }
            }),
        ];
        for (name, mutate) in fields {
            for h in HOSTILE.iter().chain(&["/../", "\u{1b}", "\0"]) {
                let mut s = good.clone();
                mutate(&mut s, h.to_string());
                let err = s.check().expect_err(&format!("{name} with {h:?}"));
                assert!(err.starts_with(name), "{name}: {err}");
            }
        }
    }

    const FLEET: &str = "[app]\nwsgi = \"hello:app\"\n\n[env.prod]\nhosts = [\"app1\", \"app2\"]\nrouters = [\"lb1\"]\nprivate = \"10.0.0.0/8\"\ndomains = [\"www.example.com\"]\n";

    #[test]
    fn an_environment_on_several_servers_has_hosts_routers_and_roles() {
        let c = Config::parse(FLEET).unwrap();
        let e = c.environment("prod").unwrap();
        assert!(e.is_fleet());
        assert_eq!(e.machines(), ["app1", "app2", "lb1"]);
        assert_eq!(e.router_hosts(), ["lb1"]);
        let base = e
            .server_config("prod", &c.app, || PathBuf::from("/tmp/x"))
            .unwrap();
        let role = |m: &str| e.member_config(&base, m).fleet.unwrap();
        assert_eq!((role("app1").node, role("app1").router), (true, false));
        // Every host's configuration is the same: what differs is learned at setup.
        assert_eq!(role("app1"), role("app2"));
        assert_eq!((role("lb1").node, role("lb1").router), (false, true));
        // Without routers every host is its own; one host alone is no fleet.
        let own = Config::parse(&FLEET.replace("routers = [\"lb1\"]\n", "")).unwrap();
        assert_eq!(
            own.environment("prod").unwrap().router_hosts(),
            ["app1", "app2"]
        );
        let one = FLEET
            .replace("hosts = [\"app1\", \"app2\"]", "hosts = [\"app1\"]")
            .replace("routers = [\"lb1\"]\nprivate = \"10.0.0.0/8\"\n", "");
        let one = Config::parse(&one).unwrap();
        let e = one.environment("prod").unwrap();
        assert!(!e.is_fleet());
        assert_eq!(e.node_hosts(), ["app1"]);
    }

    #[test]
    fn several_servers_need_a_private_network_and_say_what_is_wrong() {
        let err = |text: &str| format!("{:#}", Config::parse(text).unwrap_err());
        let e = err(&FLEET.replace("private = \"10.0.0.0/8\"\n", ""));
        assert!(e.contains("env.prod") && e.contains("private"), "{e}");
        let e = err(&FLEET.replace("10.0.0.0/8", "8.8.8.0/24"));
        assert!(e.contains("not inside a private network"), "{e}");
        let e = err(&FLEET.replace("10.0.0.0/8", "10.0.0.0"));
        assert!(e.contains("address/bits"), "{e}");
        let e = err(&FLEET.replace("hosts = [", "host = \"x\"\nhosts = ["));
        assert!(e.contains("both host and hosts"), "{e}");
        let e = err(&FLEET.replace("\"app2\"", "\"app1\""));
        assert!(e.contains("twice"), "{e}");
        let e = err(&FLEET.replace("\"app2\"", "\"-oProxyCommand=x\""));
        assert!(e.contains("not a valid ssh destination"), "{e}");
        let e = err(&FLEET.replace("\"app2\"", "\"local\""));
        assert!(e.contains("local mode"), "{e}");
        let e = err(
            "[app]\nwsgi = \"a:b\"\n[env.dev]\nhost = \"d\"\ndomain = \"d.test\"\nprivate = \"10.0.0.0/8\"\n",
        );
        assert!(e.contains("several servers"), "{e}");
    }

    #[test]
    fn cron_schedules_the_supervisor_reads_are_accepted() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "0,30 8-18/2 1,15 */3 0,7",
            "59 59 23 31 12 7",
            "0 0 0 1 1 0",
            // `a/n`: from a to the end; leading zeros; a step past the range.
            "5/15 * * * *",
            "07 007 * * *",
            "*/100 * * * *",
            "*/99999999999999999999999 * * * *",
            // Any whitespace between fields, Python's included (U+001F).
            "\t*/2 *  *\u{a0}* *\u{3000}* ",
            "*\u{1f}*\u{1f}*\u{1f}*\u{1f}*",
        ] {
            assert_eq!(check_cron_schedule(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn cron_schedules_are_refused_naming_the_field_and_the_fault() {
        let why = |s: &str| check_cron_schedule(s).unwrap_err();
        for (bad, expect) in [
            ("60 * * * *", ": minute \"60\": 60 is out of range 0-59"),
            ("* 24 * * *", ": hour \"24\": 24 is out of range 0-23"),
            ("* * 0 * *", ": day \"0\": 0 is out of range 1-31"),
            ("* * 32 * *", ": day \"32\": 32 is out of range 1-31"),
            ("* * * 13 *", ": month \"13\": 13 is out of range 1-12"),
            ("* * * * 8", ": weekday \"8\": 8 is out of range 0-7"),
            ("60 * * * * *", ": second \"60\": 60 is out of range 0-59"),
            ("* * * 1,2,0 *", ": month \"1,2,0\": 0 is out of range 1-12"),
            ("* * * * 1-9", ": weekday \"1-9\": 9 is out of range 0-7"),
            ("* * 40/2 * *", ": day \"40/2\": 40 is out of range 1-31"),
            ("* * 99999999999999999999 * *", "is out of range 1-31"),
            (
                "5-1 * * * *",
                ": minute \"5-1\": \"5-1\" is a reversed range: write 1-5",
            ),
            (
                "*/0 * * * *",
                ": minute \"*/0\": \"*/0\" has a step of 0: use 1 or more",
            ),
            ("1-5/00 * * * *", "has a step of 0"),
            (
                "1,,2 * * * *",
                ": minute \"1,,2\": an empty item in the list",
            ),
            ("1, * * * *", "an empty item in the list"),
            ("-5 * * * *", ": minute \"-5\": \"-5\" is missing a number"),
            ("*/ * * * *", "\"*/\" is missing a number"),
            ("1/2/3 * * * *", "\"2/3\" is not a number"),
            ("*-5 * * * *", "\"*\" is not a number"),
            ("+5 * * * *", "\"+5\" is not a number"),
            ("1_0 * * * *", "\"1_0\" is not a number"),
            ("\u{663} * * * *", "is not a number"),
            (
                "* * * jan *",
                ": month \"jan\": \"jan\" is not a number: month names are not supported, use 1-12",
            ),
            (
                "* * * * mon-fri",
                ": weekday \"mon-fri\": \"mon\" is not a number: weekday names are not supported, use 0-7 (0 and 7 are Sunday)",
            ),
            (
                "@daily",
                ": aliases like @daily are not supported: write \"0 0 * * *\"",
            ),
            (
                "@reboot",
                ": aliases like @reboot are not supported: write the 5 fields",
            ),
            ("@x * * * *", ": minute \"@x\": \"@x\" is not a number"),
            (
                "* * * *",
                " has 4 fields: use 5 (min hour day month weekday) or 6 (seconds first)",
            ),
            ("* * * * * * *", " has 7 fields"),
            ("", " has 0 fields"),
        ] {
            let got = why(bad);
            assert!(got.contains(expect), "{bad:?}: {got:?} lacks {expect:?}");
        }
    }

    #[test]
    fn a_bad_cron_schedule_is_pointed_at_in_deploy_toml() {
        let text = format!(
            "{MINIMAL}\n[cron]\n\"*/5 * * * *\" = \"python a.py\"\n\"0 25 * * *\" = \"python b.py\" # nightly\n"
        );
        let e = Config::parse(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "deploy.toml:11:1: cron schedule \"0 25 * * *\": hour \"25\": 25 is out of range 0-23\n    \
             11 | \"0 25 * * *\" = \"python b.py\" # nightly\n       | ^^^^^^^^^^^^"
        );
        // Inline, there is no line of its own: the message names it.
        let text = format!("cron = {{ \"61 * * * *\" = \"x\" }}\n{MINIMAL}");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "deploy.toml: cron schedule \"61 * * * *\": minute \"61\": 61 is out of range 0-59"
        );
    }
}
