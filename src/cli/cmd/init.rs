//! `jib init`: look at the repository (Django, Flask or plain WSGI; which dependency file),
//! ask only what cannot be found (the server, the domain), write a commented deploy.toml.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::anyhow;

use crate::cli::project::open_repo;
use crate::cli::ui::note;
use crate::cli::{Failure, Global, exit, fail};

/// Answers given as flags; what is missing is detected or asked for.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InitArgs {
    /// Server for branches: an ssh destination (user@host, an ssh_config alias) or `local`
    #[arg(long)]
    pub host: Option<String>,
    /// Branches are served at <branch>.<domain>
    #[arg(long)]
    pub domain: Option<String>,
    /// Where apps live on the server [default: /opt/apps]
    #[arg(long)]
    pub root: Option<String>,
    /// WSGI entry point, module:callable [default: detected]
    #[arg(long)]
    pub wsgi: Option<String>,
    /// Dependency file [default: detected]
    #[arg(long)]
    pub requirements: Option<String>,
    /// Python the venv is built from (3.11, or a path) [default: .python-version, else 3]
    #[arg(long)]
    pub python: Option<String>,
    /// Project name [default: the directory's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Ask nothing: use the flags and what was detected (host and domain then default to local mode)
    #[arg(long, short)]
    pub yes: bool,
    /// Overwrite an existing deploy.toml
    #[arg(long)]
    pub force: bool,
}

/// What the repository tells us.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    pub framework: Option<&'static str>,
    pub wsgi: Option<String>,
    pub settings: Option<String>,
    pub requirements: Option<String>,
    pub python: Option<String>,
    pub note: Option<String>,
}

pub fn detect(dir: &Path) -> Detected {
    let mut d = Detected::default();
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).ok();
    // Django: manage.py names the settings module; its package has wsgi.py.
    if let Some(manage) = read("manage.py") {
        d.framework = Some("Django");
        if let Some(settings) = quoted_after(&manage, "DJANGO_SETTINGS_MODULE") {
            let pkg = settings.split('.').next().unwrap_or("").to_string();
            if dir.join(&pkg).join("wsgi.py").exists() {
                d.wsgi = Some(format!("{pkg}.wsgi:application"));
            }
            d.settings = Some(settings);
        }
    }
    // Flask (or any module-level WSGI callable) in the usual files.
    if d.wsgi.is_none() {
        for file in ["wsgi.py", "app.py", "main.py", "application.py", "hello.py"] {
            let Some(src) = read(file) else { continue };
            let module = file.trim_end_matches(".py");
            if let Some(var) = assigned_call(&src, "Flask(") {
                d.framework = Some("Flask");
                d.wsgi = Some(format!("{module}:{var}"));
                break;
            }
            for callable in ["application", "app"] {
                if src.contains(&format!("def {callable}("))
                    || src.contains(&format!("{callable} = "))
                {
                    d.wsgi = Some(format!("{module}:{callable}"));
                    break;
                }
            }
            if d.wsgi.is_some() {
                break;
            }
        }
    }
    for f in [
        "requirements.txt",
        "dependencies.txt",
        "requirements/production.txt",
        "requirements/base.txt",
    ] {
        if dir.join(f).is_file() {
            d.requirements = Some(f.to_string());
            break;
        }
    }
    if d.requirements.is_none() && dir.join("pyproject.toml").is_file() {
        // uv installs a pyproject's dependencies with `uv pip install -r pyproject.toml`.
        d.requirements = Some("pyproject.toml".into());
        d.note = Some(if dir.join("uv.lock").is_file() {
            "pyproject.toml is installed with uv (uv.lock is not read: export it with `uv export --no-hashes > requirements.txt` for exact pins)".into()
        } else {
            "pyproject.toml's dependencies are installed with uv; keep uv on the server".into()
        });
    }
    d.python = read(".python-version")
        .and_then(|v| v.lines().next().map(str::trim).map(str::to_string))
        .filter(|v| !v.is_empty())
        .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."));
    d
}

/// The string literal after `key` on the same line: `setdefault("KEY", "value")` → `value`.
fn quoted_after(src: &str, key: &str) -> Option<String> {
    let line = src.lines().find(|l| l.contains(key))?;
    let rest = &line[line.find(key)? + key.len()..];
    // Split on quotes: inside-quote parts alternate with outside ones. When the key was quoted
    // itself, its closing quote comes first.
    let first_inside = if rest.starts_with(['"', '\'']) { 2 } else { 1 };
    rest.split(['"', '\''])
        .skip(first_inside)
        .step_by(2)
        .find(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// `app = Flask(__name__)` → `app`.
fn assigned_call(src: &str, call: &str) -> Option<String> {
    src.lines().find_map(|l| {
        let (lhs, rhs) = l.split_once('=')?;
        let var = lhs.trim();
        (rhs.trim_start().starts_with(call)
            && !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| var.to_string())
    })
}

pub fn run(g: &Global, args: &InitArgs) -> Result<(), Failure> {
    let (_, dir) = open_repo(g)?;
    let path = dir.join(crate::config::FILE_NAME);
    if path.exists() && !args.force {
        return Err(fail(exit::CONFIG)(anyhow!(
            "{} already exists: edit it, or pass --force to write a new one",
            path.display()
        )));
    }
    let found = detect(&dir);
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive && (args.host.is_none() || args.domain.is_none()) {
        return Err(fail(exit::USAGE)(anyhow!(
            "no terminal to ask on: pass --host and --domain (and any other answer), or --yes for local mode"
        )));
    }
    if let Some(f) = found.framework {
        note!(
            "Found a {f} project{}",
            found
                .wsgi
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        );
    }
    let answers = answers(args, &found, &dir, interactive)?;
    let text = render(&answers);
    // Never write something jib itself would refuse.
    crate::config::Config::parse(&text).map_err(fail(exit::CONFIG))?;
    std::fs::write(&path, &text)
        .map_err(|e| fail(exit::CONFIG)(anyhow!("cannot write {}: {e}", path.display())))?;
    if let Some(n) = &found.note {
        note!("! {n}");
    }
    note!("✔ wrote {}; next: jib setup, then jib push", path.display());
    println!("{}", path.display());
    Ok(())
}

/// What deploy.toml is written from.
struct Answers {
    name: String,
    wsgi: String,
    requirements: Option<String>,
    python: String,
    /// Django's settings module, set in `[app.env]`.
    settings: Option<String>,
    host: String,
    domain: String,
    root: Option<String>,
}

/// The flags, else what was detected, else (on a terminal) the user's answer.
fn answers(
    args: &InitArgs,
    found: &Detected,
    dir: &Path,
    interactive: bool,
) -> Result<Answers, Failure> {
    let theme = dialoguer::theme::SimpleTheme;
    let ask = |prompt: &str,
               given: &Option<String>,
               default: Option<String>|
     -> Result<String, Failure> {
        if let Some(v) = given {
            return Ok(v.clone());
        }
        if !interactive {
            return default
                .ok_or_else(|| fail(exit::USAGE)(anyhow!("{prompt}: pass it as a flag")));
        }
        let mut input = dialoguer::Input::<String>::with_theme(&theme).with_prompt(prompt);
        if let Some(d) = default {
            input = input.default(d);
        }
        input
            .interact_text()
            .map_err(|e| fail(exit::USAGE)(e.into()))
    };
    let host = ask(
        "Server for branches (ssh destination, or `local`)",
        &args.host,
        Some("local".into()),
    )?;
    let local = host == crate::config::LOCAL_HOST;
    let domain = ask(
        "Domain (branches are served at <branch>.<domain>)",
        &args.domain,
        Some(if local {
            "localhost".into()
        } else {
            // The server's own name: branches then live at <branch>.<server name>.
            let h = host.rsplit('@').next().unwrap_or(&host);
            let h = h.trim_start_matches("ssh://");
            h.split(':').next().unwrap_or(h).to_string()
        }),
    )?;
    let wsgi = ask(
        "WSGI entry point (module:callable)",
        &args.wsgi,
        found.wsgi.clone(),
    )?;
    Ok(Answers {
        name: args.name.clone().unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "app".into())
        }),
        wsgi,
        requirements: args.requirements.clone().or(found.requirements.clone()),
        python: args
            .python
            .clone()
            .or(found.python.clone())
            .unwrap_or_else(|| "3".into()),
        settings: found.settings.clone(),
        host,
        domain,
        root: args.root.clone(),
    })
}

fn render(a: &Answers) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut t = String::new();
    t.push_str("# deploy.toml — written by `jib init`; every key is documented in deploy.toml.example.\n\n");
    t.push_str("[app]\n");
    t.push_str(&format!("name = {}\n", q(&a.name)));
    t.push_str("# WSGI entry point, importable from the repository root.\n");
    t.push_str(&format!("wsgi = {}\n", q(&a.wsgi)));
    match &a.requirements {
        Some(r) => {
            t.push_str("# Its bytes and the Python key the shared venv: unchanged file, reused venv.\n");
            t.push_str(&format!("requirements = {}\n", q(r)));
        }
        None => t.push_str("# No dependency file found; name one when you have it.\n# requirements = \"requirements.txt\"\n"),
    }
    t.push_str(
        "# Interpreter the venv is built from: \"3.11\" (python3.11 on the server) or a path.\n",
    );
    t.push_str(&format!("python = {}\n", q(&a.python)));
    t.push_str("# The new release must answer this path (2xx/3xx) or the deploy is undone.\nhealth_path = \"/\"\n");
    if let Some(s) = &a.settings {
        t.push_str("\n[app.env]\n");
        t.push_str(&format!("DJANGO_SETTINGS_MODULE = {}\n", q(s)));
    }
    t.push_str("\n# `jib push <branch>` deploys here, at http://<branch>.<domain>.\n[env.dev]\n");
    t.push_str(&format!("host = {}\n", q(&a.host)));
    if let Some(r) = &a.root {
        t.push_str(&format!("root = {}\n", q(r)));
    } else if a.host != crate::config::LOCAL_HOST {
        t.push_str("root = \"/opt/apps\"\n");
    }
    t.push_str(&format!("domain = {}\n", q(&a.domain)));
    if a.host != crate::config::LOCAL_HOST {
        t.push_str("# When the agent runs as root, run apps as an unprivileged user:\n# run_as = \"jibapps\"\n");
    }
    t.push_str("\n# Production, fed by `jib promote <branch>`:\n# [env.prod]\n# host = \"deploy@www.example.com\"\n# root = \"/opt/prod\"\n# domains = [\"www.example.com\"]\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_django_flask_and_dependency_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("manage.py"),
            "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"shop.settings\")\n",
        )
        .unwrap();
        std::fs::create_dir(d.join("shop")).unwrap();
        std::fs::write(d.join("shop/wsgi.py"), "").unwrap();
        std::fs::write(d.join("requirements.txt"), "Django\n").unwrap();
        std::fs::write(d.join(".python-version"), "3.11.9\n").unwrap();
        let got = detect(d);
        assert_eq!(got.framework, Some("Django"));
        assert_eq!(got.wsgi.as_deref(), Some("shop.wsgi:application"));
        assert_eq!(got.settings.as_deref(), Some("shop.settings"));
        assert_eq!(got.requirements.as_deref(), Some("requirements.txt"));
        assert_eq!(got.python.as_deref(), Some("3.11"));

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("app.py"),
            "from flask import Flask\nserver = Flask(__name__)\n",
        )
        .unwrap();
        std::fs::write(d.join("pyproject.toml"), "[project]\n").unwrap();
        let got = detect(d);
        assert_eq!(got.framework, Some("Flask"));
        assert_eq!(got.wsgi.as_deref(), Some("app:server"));
        assert_eq!(got.requirements.as_deref(), Some("pyproject.toml"));
    }

    #[test]
    fn what_it_writes_parses() {
        let t = render(&Answers {
            name: "x".into(),
            wsgi: "a:b".into(),
            requirements: None,
            python: "3".into(),
            settings: Some("a.settings".into()),
            host: "deploy@h".into(),
            domain: "dev.h".into(),
            root: None,
        });
        let c = crate::config::Config::parse(&t).unwrap();
        assert_eq!(c.app.wsgi, "a:b");
        assert_eq!(c.env["dev"].host, "deploy@h");
    }
}
