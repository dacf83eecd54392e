//! Virtualenvs on the server, shared by every app of a root and keyed by a hash of the Python
//! interpreter and the dependency file's bytes: an unchanged dependency file reuses the venv as
//! is; a changed one builds a new venv (with `uv` when available, else venv + pip) beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layout::Layout;
use crate::lock::Lock;
use crate::protocol::RemoteError;

/// Written last into a venv: its presence means the build finished.
const READY: &str = ".jib-ready.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Venv {
    pub hash: String,
    pub dir: PathBuf,
    pub site_packages: PathBuf,
    pub python_version: String,
    pub tool: String,
}

/// The interpreter a venv is built from.
#[derive(Debug, Clone)]
pub struct Python {
    pub path: PathBuf,
    /// Identity for the hash: resolved path, size and mtime (changes when the package is upgraded).
    pub identity: String,
}

/// Finds the interpreter `spec` names: an absolute path, or `3.11` → `python3.11` on PATH.
pub fn find_python(spec: &str) -> Result<Python, RemoteError> {
    // The Python uWSGI embeds is the one whose packages the workers can load: environment
    // markers (`python_full_version < "3.11.3"`) select different dependencies even between
    // patch releases. For `3` or that version, take the system interpreter it links to, not
    // whatever `python3` a PATH (pyenv, conda) puts first.
    let embedded = crate::emperor::embedded_python()
        .filter(|e| spec == "3" || spec == e.as_str())
        .map(|e| PathBuf::from(format!("/usr/bin/python{e}")))
        .filter(|p| p.exists());
    let path = if let Some(p) = embedded {
        p
    } else if spec.starts_with('/') {
        PathBuf::from(spec)
    } else {
        let name = format!("python{spec}");
        which(&name).ok_or_else(|| {
            RemoteError::new("python", format!("{name} is not installed on this server (deploy.toml asks for python = {spec:?})"))
                .hint(format!("install it (Debian: apt-get install {name} {name}-venv), or set python to an interpreter that exists"))
        })?
    };
    let real = std::fs::canonicalize(&path).map_err(|e| {
        RemoteError::new("python", format!("{}: {e}", path.display()))
            .hint("set app.python in deploy.toml to an interpreter that exists on the server")
    })?;
    let meta = std::fs::metadata(&real)
        .map_err(|e| RemoteError::new("python", format!("{}: {e}", real.display())))?;
    use std::os::unix::fs::MetadataExt;
    Ok(Python {
        identity: format!("{}:{}:{}", real.display(), meta.size(), meta.mtime()),
        path,
    })
}

pub fn which(name: &str) -> Option<PathBuf> {
    which_all(name).next()
}

/// Every executable `name` on PATH (then /usr/local/bin, /usr/bin), in order.
fn which_all(name: &str) -> impl Iterator<Item = PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let name = name.to_string();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")])
        .collect::<Vec<_>>()
        .into_iter()
        .map(move |d| d.join(&name))
        .filter(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when anyone may run `p`: the file and every directory above it are world-executable
/// (a uv under root's home is no use to the apps' user).
fn world_runnable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(real) = std::fs::canonicalize(p) else {
        return false;
    };
    real.ancestors()
        .all(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// `3.11` of `3.11.2`: what must match between a venv's Python and another (uWSGI's, the
/// branch's a promotion copies).
pub fn minor_version(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The venv key: 16 bytes of sha256 over the interpreter identity and the dependency file.
pub fn hash(python: &Python, requirements: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(python.identity.as_bytes());
    h.update([0]);
    h.update(requirements);
    hex::encode(&h.finalize()[..16])
}

/// What a venv is built from.
#[derive(Debug, Clone, Copy)]
pub enum Deps<'a> {
    /// The app's dependency file, resolved by the installer.
    Requirements(&'a [u8]),
    /// The exact set another venv was tested with (its [`freeze`]): installed without
    /// resolving, and checked afterwards.
    Locked(&'a str),
}

impl Deps<'_> {
    pub fn key(&self, python: &Python) -> String {
        match self {
            Deps::Requirements(r) => hash(python, r),
            Deps::Locked(l) => {
                let mut b = b"locked\0".to_vec();
                b.extend_from_slice(l.as_bytes());
                hash(python, &b)
            }
        }
    }
}

/// Where a venv keeps the exact set of distributions it holds.
const LOCK: &str = ".jib-lock.txt";

/// Short digest of a lock, shown to users ("dependencies: unchanged (7c41…)").
pub fn lock_digest(lock: &str) -> String {
    hex::encode(&Sha256::digest(lock.as_bytes())[..8])
}

/// The exact distributions installed in `venv` (`name==version` lines, sorted), recorded in
/// the venv the first time it is asked for.
pub fn freeze(
    venv: &Venv,
    who: Option<&(nix::unistd::User, nix::unistd::Group)>,
) -> Result<String, RemoteError> {
    if let Ok(text) = std::fs::read_to_string(venv.dir.join(LOCK)) {
        return Ok(text);
    }
    let text = run_freeze(&venv.dir, who)
        .map_err(|e| RemoteError::new("venv", format!("cannot list the venv's packages: {e:#}")))?;
    if let Ok(mut f) = crate::identity::open_for_writing(&venv.dir.join(LOCK), false) {
        let _ = std::io::Write::write_all(&mut f, text.as_bytes());
    }
    Ok(text)
}

fn run_freeze(dir: &Path, who: Option<&(nix::unistd::User, nix::unistd::Group)>) -> Result<String> {
    let mut cmd = match find_uv(who.is_some()) {
        Some(uv) => {
            let mut c = Command::new(uv);
            c.args(["pip", "freeze", "--python"])
                .arg(dir.join("bin/python"));
            c.env("UV_PYTHON_DOWNLOADS", "never");
            c
        }
        None => {
            let mut c = Command::new(dir.join("bin/python"));
            c.args([
                "-m",
                "pip",
                "freeze",
                "--all",
                "--disable-pip-version-check",
            ]);
            c
        }
    };
    // Reading a venv runs its .pth files: as the user who owns it.
    crate::identity::run_as(&mut cmd, who);
    let out = cmd.stdin(std::process::Stdio::null()).output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(normalize_lock(&String::from_utf8_lossy(&out.stdout)))
}

/// One `name==version` per line, sorted, names lowercased; installer-only tools dropped so a
/// pip-built and a uv-built venv of the same set compare equal.
pub fn normalize_lock(text: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (name, rest) = l.split_once("==").or_else(|| l.split_once(" @ "))?;
            let name = name.trim().to_ascii_lowercase().replace('_', "-");
            if matches!(name.as_str(), "pip" | "setuptools" | "wheel" | "distribute") {
                return None;
            }
            let sep = if l.contains("==") { "==" } else { " @ " };
            Some(format!("{name}{sep}{}", rest.trim()))
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// What changes between two locks, as `django 5.2.18 → 5.2.19`, `+ requests 2.32.3`, `- six 1.16.0`.
pub fn lock_changes(old: &str, new: &str) -> Vec<String> {
    let parse = |t: &str| -> std::collections::BTreeMap<String, String> {
        t.lines()
            .filter_map(|l| {
                let (n, v) = l.split_once("==").or_else(|| l.split_once(" @ "))?;
                Some((n.to_string(), v.to_string()))
            })
            .collect()
    };
    let (a, b) = (parse(old), parse(new));
    let mut out = Vec::new();
    for (n, v) in &b {
        match a.get(n) {
            None => out.push(format!("+ {n} {v}")),
            Some(o) if o != v => out.push(format!("{n} {o} → {v}")),
            _ => {}
        }
    }
    for (n, v) in &a {
        if !b.contains_key(n) {
            out.push(format!("- {n} {v}"));
        }
    }
    out
}

/// Returns the venv for (`python`, `deps`), building it when missing. The bool is true
/// when an existing venv was reused.
pub fn ensure(
    layout: &Layout,
    python: &Python,
    deps: Deps,
    log: &Path,
    // Dependency installs run package code: as the app's user when there is one.
    who: Option<&(nix::unistd::User, nix::unistd::Group)>,
) -> Result<(Venv, bool), RemoteError> {
    let key = deps.key(python);
    let requirements: &[u8] = match deps {
        Deps::Requirements(r) => r,
        Deps::Locked(l) => l.as_bytes(),
    };
    let no_deps = matches!(deps, Deps::Locked(_));
    let dir = layout.venvs().join(&key);
    if let Some(v) = read_ready(&dir) {
        return Ok((v, true));
    }
    let internal = |e: anyhow::Error| RemoteError::new("venv", format!("{e:#}"));
    // One builder per hash; others wait and then reuse its result.
    let _lock = Lock::wait(&layout.locks().join(format!("venv-{key}.lock"))).map_err(internal)?;
    if let Some(v) = read_ready(&dir) {
        return Ok((v, true));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| internal(anyhow!("cannot clear half-built {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(layout.venvs()).map_err(|e| internal(e.into()))?;
    let req_file = layout.venvs().join(format!("{key}.requirements.txt"));
    // venvs/ may belong to the app's user: never write through a link planted there.
    std::io::Write::write_all(
        &mut crate::identity::open_for_writing(&req_file, false).map_err(|e| internal(e.into()))?,
        requirements,
    )
    .map_err(|e| internal(e.into()))?;
    let result = build(layout, python, &dir, &req_file, no_deps, log, who).and_then(|tool| {
        // A locked set must come out exactly as it went in: same names, same versions.
        if let Deps::Locked(want) = deps {
            let got = run_freeze(&dir, who)?;
            if got != normalize_lock(want) {
                bail!(
                    "the rebuilt venv differs from the tested one: {}",
                    lock_changes(want, &got).join(", ")
                );
            }
            std::fs::write(dir.join(LOCK), got)?;
        }
        Ok(tool)
    });
    let _ = std::fs::remove_file(&req_file);
    match result {
        Ok(tool) => {
            let v = Venv {
                hash: key,
                site_packages: site_packages(&dir).map_err(internal)?,
                python_version: python_version(&dir.join("bin/python")).unwrap_or_default(),
                dir: dir.clone(),
                tool,
            };
            let json = serde_json::to_vec_pretty(&v).map_err(|e| internal(e.into()))?;
            std::io::Write::write_all(
                &mut crate::identity::open_for_writing(&dir.join(READY), false)
                    .map_err(|e| internal(e.into()))?,
                &json,
            )
            .map_err(|e| internal(e.into()))?;
            Ok((v, false))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(RemoteError::new("venv", format!("installing dependencies failed: {e:#}"))
                .hint("fix the dependency file (see the output above) and push again; the previous release keeps serving")
                .log_tail(tail(log, 15)))
        }
    }
}

/// The venv in `dir` when it finished building.
pub fn read_venv(dir: &Path) -> Option<Venv> {
    read_ready(dir)
}

fn read_ready(dir: &Path) -> Option<Venv> {
    let bytes = std::fs::read(dir.join(READY)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn build(
    layout: &Layout,
    python: &Python,
    dir: &Path,
    req: &Path,
    // A locked set: install exactly these, resolve nothing.
    no_deps: bool,
    log: &Path,
    who: Option<&(nix::unistd::User, nix::unistd::Group)>,
) -> Result<String> {
    let no_deps: &[&str] = if no_deps { &["--no-deps"] } else { &[] };
    if let Some(dirp) = log.parent() {
        std::fs::create_dir_all(dirp)?;
    }
    let logf = crate::identity::open_for_writing(log, true)?;
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        crate::identity::run_as(cmd, who);
        let status = cmd
            .stdin(std::process::Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf.try_clone()?)
            .status()
            .with_context(|| format!("cannot run {what}"))?;
        if !status.success() {
            bail!("{what} exited with {status}");
        }
        Ok(())
    };
    let cache = layout.cache();
    if let Some(uv) = find_uv(who.is_some()) {
        run(
            Command::new(&uv)
                .args(["venv", "--quiet", "--python"])
                .arg(&python.path)
                .arg(dir)
                .envs(uv_env(&cache)),
            "uv venv",
        )?;
        run(
            Command::new(&uv)
                .args(["pip", "install", "--python"])
                .arg(dir.join("bin/python"))
                .args(no_deps)
                .arg("-r")
                .arg(req)
                .envs(uv_env(&cache)),
            "uv pip install",
        )?;
        Ok("uv".into())
    } else {
        run(
            Command::new(&python.path).args(["-m", "venv"]).arg(dir),
            "python -m venv",
        )?;
        run(
            Command::new(dir.join("bin/python"))
                .args(["-m", "pip", "install", "--disable-pip-version-check"])
                .args(no_deps)
                .arg("-r")
                .arg(req)
                .env("PIP_CACHE_DIR", cache.join("pip")),
            "pip install",
        )?;
        Ok("pip".into())
    }
}

/// uv's settings: a cache shared by every app of the root, never download a Python, and trust
/// the system's certificate store like pip does (servers behind a TLS-inspecting proxy).
fn uv_env(cache: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut env = vec![
        ("UV_CACHE_DIR", cache.join("uv").into_os_string()),
        ("UV_PYTHON_DOWNLOADS", "never".into()),
        // Workers (and the import check) then start from bytecode instead of compiling it,
        // which they may not even be allowed to write.
        ("UV_COMPILE_BYTECODE", "1".into()),
    ];
    if std::env::var_os("UV_NATIVE_TLS").is_none() {
        env.push(("UV_NATIVE_TLS", "1".into()));
    }
    env
}

fn find_uv(for_other_user: bool) -> Option<PathBuf> {
    if std::env::var_os("JIB_NO_UV").is_some() {
        return None;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    which_all("uv")
        .chain([home.join(".local/bin/uv"), home.join(".cargo/bin/uv")])
        .find(|p| p.exists() && (!for_other_user || world_runnable(p)))
}

fn site_packages(dir: &Path) -> Result<PathBuf> {
    for e in std::fs::read_dir(dir.join("lib"))? {
        let p = e?.path().join("site-packages");
        if p.is_dir() {
            return Ok(p);
        }
    }
    bail!("no site-packages under {}", dir.display())
}

fn python_version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    last_lines(
        &String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()),
        n,
    )
}

/// Last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
