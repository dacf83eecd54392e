//! `jib config [-e ENV] [--json]`: the configuration jib acts on, defaults filled in, paths
//! resolved, secrets redacted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::project::open_repo;
use crate::cli::{Exit, Failure, Global, Project, exit, fail};
use crate::config::{Config, app_url};

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Effective {
    app: AppView,
    env: BTreeMap<String, EnvView>,
}

#[derive(Serialize)]
struct AppView {
    name: String,
    wsgi: String,
    requirements: Option<String>,
    python: String,
    health_path: String,
    health_timeout: u64,
    keep_releases: usize,
    processes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<String>,
    #[serde(rename = "static", skip_serializing_if = "BTreeMap::is_empty")]
    static_files: BTreeMap<String, String>,
    /// `[processes]`: name → command.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    workers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    cron: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct EnvView {
    host: String,
    root: String,
    /// `branches` (at `<branch>.<domain>`) or `promote` (one app at exact names).
    kind: &'static str,
    /// Where an app is served: `http://<branch>.dev.example.com`, or prod's URL.
    url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    domains: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promote_from: Option<String>,
    router: String,
    listen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nginx_site: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nginx_reload: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nginx_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as: Option<String>,
    keep_releases: usize,
    /// Scale to zero after this many idle seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_secs: Option<u64>,
    /// HTTPS: `cert`, `key`, `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<BTreeMap<String, String>>,
    /// The branch index: `url`, and `users_file` when nginx asks for a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<BTreeMap<String, String>>,
    /// The MongoDB shell `jib mongo` opens, on this URL (password redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    mongo: Option<BTreeMap<String, String>>,
    /// What every app of the environment gets: `[app.env]` overridden by `[env.<name>.env]`.
    vars: BTreeMap<String, String>,
}

/// Names that usually hold secrets.
const SECRET_WORDS: &[&str] = &[
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "KEY",
    "PRIVATE",
    "CREDENTIAL",
    "AUTH",
    "DSN",
    "SALT",
];

/// The value as shown: redacted when the name says secret, and any `user:password@` in a URL.
pub fn redact(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|w| upper.contains(w)) {
        return "<redacted>".into();
    }
    if let Some((scheme, rest)) = value.split_once("://")
        && let Some((cred, host)) = rest.split_once('@')
        && let Some((user, _)) = cred.split_once(':')
        && !cred.contains('/')
    {
        return format!("{scheme}://{user}:<redacted>@{host}");
    }
    value.to_string()
}

pub fn run(g: &Global, args: &ConfigArgs) -> Result<(), Failure> {
    let (_, dir) = open_repo(g)?;
    let cfg = Config::load(&dir.join(crate::config::FILE_NAME)).exit(exit::CONFIG)?;
    // Every environment unless -e names one (so a deploy.toml without `dev` works too).
    let names: Vec<String> = match &g.env {
        Some(e) => {
            cfg.environment(e).exit(exit::CONFIG)?;
            vec![e.clone()]
        }
        None => cfg.env.keys().cloned().collect(),
    };
    let mut env = BTreeMap::new();
    for name in names {
        let p = Project::open_env(g, &name)?;
        env.insert(name.clone(), env_view(&cfg, &p, &name));
    }
    let view = Effective {
        app: app_view(&cfg, &dir),
        env,
    };
    let out = if args.json {
        serde_json::to_string_pretty(&view).map_err(|e| fail(exit::CONFIG)(e.into()))?
    } else {
        format!(
            "# effective configuration of {} (defaults filled in, secrets redacted)\n{}",
            dir.join(crate::config::FILE_NAME).display(),
            toml::to_string(&view).map_err(|e| fail(exit::CONFIG)(e.into()))?
        )
    };
    println!("{}", out.trim_end());
    Ok(())
}

fn app_view(cfg: &Config, dir: &std::path::Path) -> AppView {
    AppView {
        name: cfg.project_name(dir),
        wsgi: cfg.app.wsgi.clone(),
        requirements: cfg.app.requirements.clone(),
        python: cfg.app.python.clone(),
        health_path: cfg.app.health_path.clone(),
        health_timeout: cfg.app.health_timeout,
        keep_releases: cfg.app.keep_releases,
        processes: cfg.app.processes,
        release: cfg.app.release.clone(),
        static_files: cfg.app.static_files.clone(),
        workers: cfg.processes.clone(),
        cron: cfg.cron.clone(),
    }
}

/// Environment `name` as `p` opened it: a branches environment shows `<branch>` where an
/// app's name goes.
fn env_view(cfg: &Config, p: &Project, name: &str) -> EnvView {
    let s = &p.server;
    let spec = cfg.build_spec(name, &p.env, "<branch>");
    let promoted = p.env.is_promote_target();
    let app = if promoted {
        p.env.promoted_app(name)
    } else {
        "<branch>".to_string()
    };
    EnvView {
        host: p.hosts_text(),
        root: s.root.display().to_string(),
        kind: if promoted { "promote" } else { "branches" },
        url: app_url(&app, s),
        domains: p.env.domains.clone(),
        app: promoted.then(|| app.clone()),
        promote_from: promoted.then(|| p.env.promote_from.clone().unwrap_or_else(|| "dev".into())),
        router: format!("{:?}", s.router).to_lowercase(),
        listen: s.listen.clone(),
        nginx_site: s.nginx_site.as_ref().map(|p| p.display().to_string()),
        nginx_reload: s.nginx_reload.clone(),
        nginx_group: s.nginx_group.clone(),
        run_as: s.run_as.clone(),
        keep_releases: spec.keep_releases,
        idle_secs: s.idle_secs,
        tls: s.tls.as_ref().map(|t| {
            let mut m = BTreeMap::from([
                ("cert".to_string(), t.cert.display().to_string()),
                ("key".to_string(), t.key.display().to_string()),
                ("listen".to_string(), t.listen.clone()),
            ]);
            if let Some(a) = &t.acme {
                m.insert("acme".to_string(), a.directory.clone());
                if let Some(d) = &a.dns {
                    // The secret stays in its file on the server; only where it is shows.
                    m.insert(
                        "dns".to_string(),
                        format!(
                            "{} zone {} key {} ({})",
                            d.server, d.zone, d.tsig_key, d.tsig_algorithm
                        ),
                    );
                }
            }
            m
        }),
        index: s.index.as_ref().map(|i| {
            let mut m = BTreeMap::from([("url".to_string(), crate::config::index_url(s))]);
            if let Some(f) = &i.users_file {
                m.insert("users_file".into(), f.display().to_string());
            }
            m
        }),
        mongo: p.env.mongo.as_ref().map(|m| {
            BTreeMap::from([
                ("shell".to_string(), m.shell.clone()),
                ("url".to_string(), redact("url", &m.url_for(&app))),
            ])
        }),
        vars: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), redact(k, v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_redacted_by_name_and_in_urls() {
        assert_eq!(redact("SECRET_KEY", "abc"), "<redacted>");
        assert_eq!(redact("stripe_token", "abc"), "<redacted>");
        assert_eq!(
            redact("DATABASE_URL", "postgres://app:hunter2@db:5432/x"),
            "postgres://app:<redacted>@db:5432/x"
        );
        assert_eq!(redact("DEBUG", "1"), "1");
        assert_eq!(
            redact("HOME_URL", "https://example.com/a@b"),
            "https://example.com/a@b"
        );
    }
}
