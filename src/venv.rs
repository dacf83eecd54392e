//! Virtualenvs on the server, shared by every app of a root and keyed by a hash of the Python
//! interpreter and the dependency file's bytes: an unchanged dependency file reuses the venv as
//! is; a changed one builds a new venv (with `uv` when available, else venv + pip) beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::layout::Layout;
use crate::lock::Lock;
use crate::protocol::RemoteError;
use crate::sandbox::Sandbox;

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
        crate::programs::which(&name).ok_or_else(|| {
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

/// The exact distributions installed in `venv` (`name==version` lines, sorted). A sealed
/// venv's lock was recorded by the agent when it sealed it; the app's user cannot change it.
pub fn freeze(venv: &Venv, sandbox: &Sandbox) -> Result<String, RemoteError> {
    if let Ok(text) = crate::fsafe::read_to_string(&venv.dir.join(LOCK), 1 << 20) {
        return Ok(text);
    }
    run_freeze(&venv.dir, sandbox)
        .map_err(|e| RemoteError::new("venv", format!("cannot list the venv's packages: {e:#}")))
}

/// Lists a venv's packages. Reading a venv runs its interpreter and so its `.pth` files:
/// sandboxed, as the apps' user.
fn run_freeze(dir: &Path, sandbox: &Sandbox) -> Result<String> {
    let mut cmd = match find_uv(sandbox.user().is_some()) {
        Some(uv) => {
            let mut c = sandbox.command(uv);
            c.args(["pip", "freeze", "--python"])
                .arg(dir.join("bin/python"))
                .env("UV_PYTHON_DOWNLOADS", "never")
                .env("UV_NO_CONFIG", "1")
                .env("UV_NO_CACHE", "1");
            c
        }
        None => {
            let mut c = sandbox.command(dir.join("bin/python"));
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
    let limit = Duration::from_secs(120);
    let out = sandbox.capture(&mut cmd, limit, 1 << 20)?;
    if !out.success() {
        bail!("listing the packages {}", out.describe(limit));
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
            let (name, rest) = l.split_once("==")?;
            let name = name.trim().to_ascii_lowercase().replace('_', "-");
            if matches!(name.as_str(), "pip" | "setuptools" | "wheel" | "distribute") {
                return None;
            }
            // What a venv reports is app-controlled and becomes another venv's install list:
            // only plain names and versions (no options such as `--index-url`, no spaces).
            let rest = rest.trim();
            let plain = |t: &str, extra: &str| {
                !t.is_empty()
                    && !t.starts_with('-')
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
            };
            // Direct references (`name @ file:///…`) are dropped: another venv built from
            // this list would install whatever that path holds then. A venv that has one
            // cannot be reproduced, and the comparison after a locked build says so.
            if !plain(&name, ".-") || !plain(rest, ".+!-_") {
                return None;
            }
            Some(format!("{name}=={rest}"))
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
///
/// The build (which runs package code) happens sandboxed, as the apps' user, in a directory
/// that user owns; the finished venv is then sealed — the agent's, read-only to the apps —
/// before anything about it is recorded or trusted.
pub fn ensure(
    layout: &Layout,
    python: &Python,
    deps: Deps,
    log: &Path,
    sandbox: &Sandbox,
) -> Result<(Venv, bool), RemoteError> {
    let key = deps.key(python);
    let requirements: &[u8] = match deps {
        Deps::Requirements(r) => r,
        Deps::Locked(l) => l.as_bytes(),
    };
    let no_deps = matches!(deps, Deps::Locked(_));
    let dir = layout.venv(&key);
    if let Some(v) = read_ready(&dir) {
        return Ok((v, true));
    }
    let internal = |e: anyhow::Error| RemoteError::new("venv", format!("{e:#}"));
    // One builder per hash; others wait and then reuse its result.
    let _lock = Lock::wait(&layout.venv_lock(&key)).map_err(internal)?;
    if let Some(v) = read_ready(&dir) {
        return Ok((v, true));
    }
    if std::fs::symlink_metadata(&dir).is_ok() {
        // Half-built, or from before venvs were sealed: built again. (std's remove_dir_all
        // never follows links.)
        std::fs::remove_dir_all(&dir)
            .map_err(|e| internal(anyhow!("cannot clear {}: {e}", dir.display())))?;
    }
    let owner = sandbox.ids();
    crate::fsafe::ensure_dir(&dir, 0o755, owner).map_err(|e| internal(e.into()))?;
    // The install list: the agent's file, readable by the installer, writable by nobody else.
    let req_file = layout.venv_requirements(&key);
    std::fs::write(&req_file, requirements).map_err(|e| internal(e.into()))?;
    let _ = std::fs::set_permissions(&req_file, std::fs::Permissions::from_mode(0o644));
    let result = build(layout, python, &dir, &req_file, no_deps, log, sandbox).and_then(|tool| {
        crate::fsafe::seal(&dir, owner.map(|o| o.0))
            .with_context(|| format!("cannot seal {}", dir.display()))?;
        let got = run_freeze(&dir, sandbox)?;
        // A locked set must come out exactly as it went in: same names, same versions.
        if let Deps::Locked(want) = deps
            && got != normalize_lock(want)
        {
            bail!(
                "the rebuilt venv differs from the tested one: {}",
                lock_changes(want, &got).join(", ")
            );
        }
        Ok((tool, got))
    });
    let _ = std::fs::remove_file(&req_file);
    match result {
        Ok((tool, lock)) => {
            let v = Venv {
                site_packages: site_packages(&dir).map_err(internal)?,
                python_version: python_version(&dir).unwrap_or_default(),
                hash: key,
                dir: dir.clone(),
                tool,
            };
            // Sealed: nobody else can add to the directory now; what the build left under
            // these names goes first.
            write_record(&dir, LOCK, lock.as_bytes()).map_err(|e| internal(e.into()))?;
            let json = serde_json::to_vec_pretty(&v).map_err(|e| internal(e.into()))?;
            write_record(&dir, READY, &json).map_err(|e| internal(e.into()))?;
            Ok((v, false))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(RemoteError::new("venv", format!("installing dependencies failed: {e:#}"))
                .hint("fix the dependency file (see the output above) and push again; the previous release keeps serving")
                .log_tail(crate::fsafe::tail(log, 15)))
        }
    }
}

/// Venvs built before they were sealed belong to the apps' user: take them back, and forget
/// their recorded package sets (recomputed, sandboxed, when next asked for).
pub fn seal_legacy(layout: &Layout, app_uid: Option<u32>) {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    for e in std::fs::read_dir(layout.venvs())
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() && m.uid() != me && crate::fsafe::seal(&p, app_uid).is_ok() {
            let _ = std::fs::remove_file(p.join(LOCK));
        }
    }
}

/// The venv in `dir` when it finished building.
pub fn read_venv(dir: &Path) -> Option<Venv> {
    read_ready(dir)
}

/// A finished venv: sealed (the agent's, not the apps' user's), with a record that names
/// this very directory. Anything else is treated as not built.
fn read_ready(dir: &Path) -> Option<Venv> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return None;
    }
    let bytes = crate::fsafe::read(&dir.join(READY), 1 << 16).ok()?;
    let v: Venv = serde_json::from_slice(&bytes).ok()?;
    let name = dir.file_name()?.to_str()?;
    (v.hash == name && v.dir == dir && is_key(name)).then_some(v)
}

/// A venv key: 32 lowercase hex digits.
fn is_key(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The first 12 digits of a venv key, for messages.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn build(
    layout: &Layout,
    python: &Python,
    dir: &Path,
    req: &Path,
    // A locked set: install exactly these, resolve nothing.
    no_deps: bool,
    log: &Path,
    sandbox: &Sandbox,
) -> Result<String> {
    let no_deps: &[&str] = if no_deps { &["--no-deps"] } else { &[] };
    let logf = crate::fsafe::open_append(log, 0o640)?;
    let limit = Duration::from_secs(30 * 60);
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        // The apps' user can write its home (the sandbox's working directory): no uv.toml or
        // pip.conf planted there may redirect an install.
        cmd.current_dir("/")
            .env("UV_NO_CONFIG", "1")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_NO_INPUT", "1");
        let out = sandbox.run(cmd, limit, Some(&logf))?;
        if !out.success() {
            bail!("{what} {}", out.describe(limit));
        }
        Ok(())
    };
    let cache = layout.cache();
    if let Some(uv) = find_uv(sandbox.user().is_some()) {
        run(
            sandbox
                .command(&uv)
                .args(["venv", "--quiet", "--python"])
                .arg(&python.path)
                .arg(dir)
                .envs(uv_env(&cache)),
            "uv venv",
        )?;
        run(
            sandbox
                .command(&uv)
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
            sandbox.command(&python.path).args(["-m", "venv"]).arg(dir),
            "python -m venv",
        )?;
        run(
            sandbox
                .command(dir.join("bin/python"))
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
        // Copies, not hard links into the cache: a sealed venv must share no inode with a
        // cache the apps' user can write.
        ("UV_LINK_MODE", "copy".into()),
    ];
    if let Some(v) = std::env::var_os("UV_INDEX_URL") {
        env.push(("UV_INDEX_URL", v));
    }
    if let Some(v) = std::env::var_os("UV_DEFAULT_INDEX") {
        env.push(("UV_DEFAULT_INDEX", v));
    }
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
    crate::programs::which_all("uv")
        .chain([home.join(".local/bin/uv"), home.join(".cargo/bin/uv")])
        .find(|p| p.exists() && (!for_other_user || crate::programs::world_runnable(p)))
}

/// `lib/python3.X/site-packages` of a sealed venv: real directories all the way (a link the
/// build planted could point the workers at a directory the app can write).
fn site_packages(dir: &Path) -> Result<PathBuf> {
    let real_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let lib = dir.join("lib");
    if real_dir(&lib) {
        for e in std::fs::read_dir(&lib)?.flatten() {
            let p = e.path().join("site-packages");
            if real_dir(&e.path()) && real_dir(&p) {
                return Ok(p);
            }
        }
    }
    bail!("no site-packages under {}", dir.display())
}

/// The venv a `site_packages` directory (see [`site_packages`]) is in.
pub fn dir_of_site_packages(site_packages: &Path) -> Option<PathBuf> {
    site_packages.ancestors().nth(3).map(Path::to_path_buf)
}

/// Writes one of the agent's records into a sealed venv: whatever the build left under that
/// name (a link to a root file, say) is removed first, and the file is created afresh.
fn write_record(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)?;
    std::io::Write::write_all(&mut f, bytes)
}

/// The venv's Python version, from its `pyvenv.cfg` (never by running its interpreter as
/// root: a package's `.pth` would run with it).
fn python_version(dir: &Path) -> Option<String> {
    let cfg = crate::fsafe::read_to_string(&dir.join("pyvenv.cfg"), 1 << 16).ok()?;
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        let v = v.trim().split('.').take(3).collect::<Vec<_>>().join(".");
        // Written by the build: only a version is taken from it.
        (matches!(k.trim(), "version" | "version_info")
            && !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .then_some(v)
    })
}

/// True while another app's deploy (push, promote, rollback) holds its lock.
fn deploy_running(layout: &Layout, except: &str) -> bool {
    layout.app_lock_files().into_iter().any(|(app, path)| {
        app != except && std::fs::File::open(path).is_ok_and(|f| f.try_lock_shared().is_err())
    })
}

/// Removes venvs no release of any app uses any more (after a deploy pruned its releases, a
/// destroy); returns the bytes freed. `except` is the app whose lock the caller holds.
pub fn gc(layout: &Layout, except: &str) -> u64 {
    // Used by a release of any app, or just built by a deploy still running (it may not
    // have recorded its release yet).
    let busy = deploy_running(layout, except);
    let keep = |name: &str| {
        let recent = std::fs::metadata(layout.venv(name))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(600));
        (recent && busy)
            || layout.app_names().iter().any(|a| {
                crate::release::list(&layout.app(a))
                    .iter()
                    .any(|r| r.venv == name)
            })
    };
    let mut freed = 0;
    for v in std::fs::read_dir(layout.venvs())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = v.file_name().to_string_lossy().into_owned();
        if !v.path().is_dir() || keep(&name) {
            continue;
        }
        // Under the venv's build lock, and asked again once we hold it: a deploy may have
        // finished building or recording it meanwhile.
        if let Ok(_l) = crate::lock::Lock::wait(&layout.venv_lock(&name))
            && !keep(&name)
        {
            freed += crate::fsafe::dir_size(&v.path());
            let _ = std::fs::remove_dir_all(v.path());
        }
    }
    freed
}
