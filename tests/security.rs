//! Issue 11: `run_as` must really contain the app. Each test plays the attacker — a
//! dependency, a pushed tree, the release step, the running app, a dev-side user, another
//! local user — against a root agent with `run_as = "nobody"`, and checks what root did.
//!
//! Needs root (the agent drops to `nobody`, and the checks read root-only files).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const RUN_AS: &str = "nobody";

/// uid and gid of a local user.
fn ids(name: &str) -> (u32, u32) {
    let u = nix::unistd::User::from_name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("user {name} must exist"));
    (u.uid.as_raw(), u.gid.as_raw())
}

/// Runs `argv` as `user` (its own uid and gid, no supplementary groups).
fn as_user(user: &str, argv: &[&str]) -> Output {
    let (uid, gid) = ids(user);
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux) must be installed")
}

/// deploy.toml for `w` with `app` as the `[app]` body (plus the system interpreter, which
/// the app's user can run), `run_as` in `[env.dev]`, and `tail` (more tables) at the end.
fn run_as_toml(w: &World, app: &str, tail: &str) -> String {
    let base = w.deploy_toml(&format!("python = \"/usr/bin/python3\"\n{app}"));
    let line = format!("run_as = \"{RUN_AS}\"\n");
    let toml = if base.contains("\n[env.dev.nginx]") {
        base.replacen("\n[env.dev.nginx]", &format!("{line}\n[env.dev.nginx]"), 1)
    } else {
        format!("{base}{line}")
    };
    format!("{toml}{tail}")
}

/// A file the test owns, world-writable, that app code appends its observations to.
fn shared_file(w: &World, name: &str) -> PathBuf {
    let p = w.tmp.path().join(name);
    std::fs::write(&p, "").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    p
}

/// A root-only (0600) file holding a secret nobody else may learn or change.
fn canary_file(w: &World, name: &str) -> (PathBuf, String) {
    let p = w.tmp.path().join(name);
    let secret = format!("CANARY-{}-{}", name.replace('.', "-"), std::process::id());
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    (p, format!("{secret}\n"))
}

/// Problems with the canary: it must still be a root-only regular file with its content.
fn canary_problems(p: &Path, content: &str) -> Vec<String> {
    let mut out = Vec::new();
    match std::fs::symlink_metadata(p) {
        Err(e) => out.push(format!("canary {} is gone: {e}", p.display())),
        Ok(m) => {
            if !m.is_file() {
                out.push(format!(
                    "canary {} is no longer a regular file",
                    p.display()
                ));
            }
            let now = std::fs::read_to_string(p).unwrap_or_default();
            if now != content {
                out.push(format!(
                    "root-only canary {} was written by root: it now holds {now:?}",
                    p.display()
                ));
            }
            if m.uid() != 0 || m.mode() & 0o7777 != 0o600 {
                out.push(format!(
                    "canary {} is now uid {} mode {:o}",
                    p.display(),
                    m.uid(),
                    m.mode() & 0o7777
                ));
            }
        }
    }
    out
}

/// Checks that do not stop at the first failure, so one run shows every hole.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn extend(&mut self, more: Vec<String>) {
        self.0.extend(more);
    }
    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n- {}",
            self.0.len(),
            self.0.join("\n- ")
        );
    }
}

/// What a jib command printed and whether it finished in time.
struct Run {
    ok: bool,
    text: String,
    secs: f64,
}

/// Runs jib with a deadline (a FIFO or lock the agent blocked on would otherwise hang the
/// test); panics, after killing it, when it overruns.
fn jib_timed(w: &World, args: &[&str], limit: Duration) -> Run {
    let out = w.tmp.path().join(format!("jib-out-{}", std::process::id()));
    let f = std::fs::File::create(&out).unwrap();
    let t = Instant::now();
    let mut child = w
        .jib_cmd(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "jib {args:?} did not finish in {}s (the agent hangs):\n{}\n{}",
                limit.as_secs(),
                std::fs::read_to_string(&out).unwrap_or_default(),
                w.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    Run {
        ok: status.success(),
        text,
        secs: t.elapsed().as_secs_f64(),
    }
}

/// Every entry under `p` (itself included), never following links.
fn walk(p: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return out;
    };
    let is_dir = m.is_dir();
    out.push((p.to_path_buf(), m));
    if is_dir {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        for n in names {
            out.extend(walk(&n));
        }
    }
    out
}

/// What is wrong with a tree the app runs and may not change: everything must be root's,
/// nothing group/other-writable, no setuid/setgid bits, no FIFOs, sockets or devices.
fn sealed_problems(p: &Path) -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    let all = walk(p);
    if all.is_empty() {
        return vec![format!("{} does not exist", p.display())];
    }
    let mut out = Vec::new();
    for (path, m) in &all {
        let ft = m.file_type();
        let mode = m.mode() & 0o7777;
        if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
            out.push(format!("{} is a special file", path.display()));
        }
        if m.uid() != 0 {
            out.push(format!("{} is owned by uid {}", path.display(), m.uid()));
        }
        if !ft.is_symlink() && mode & 0o022 != 0 {
            out.push(format!(
                "{} is writable by others ({mode:o})",
                path.display()
            ));
        }
        if !ft.is_symlink() && mode & 0o7000 != 0 {
            out.push(format!(
                "{} has setuid/setgid/sticky bits ({mode:o})",
                path.display()
            ));
        }
    }
    out
}

/// Builds the source distribution `<tmp>/pkgs/<name>-<version>.tar.gz` from `files`
/// (path → content) and returns its `file://` URL; everything in it is world-readable.
fn sdist(w: &World, name: &str, version: &str, files: &[(&str, String)]) -> String {
    let pkgs = w.tmp.path().join("pkgs");
    let top = format!("{name}-{version}");
    let src = pkgs.join("src").join(&top);
    std::fs::create_dir_all(&src).unwrap();
    for (path, content) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    let tarball = pkgs.join(format!("{top}.tar.gz"));
    let st = Command::new("tar")
        .args(["--owner=0", "--group=0", "--mode=a+rX,go-w", "-czf"])
        .arg(&tarball)
        .arg("-C")
        .arg(pkgs.join("src"))
        .arg(&top)
        .status()
        .unwrap();
    assert!(st.success());
    for (p, _) in walk(&pkgs) {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    format!("file://{}", tarball.display())
}

/// A PEP 517 backend (no build requirements, so no index is needed) whose wheel holds a
/// `.pth` that records the uid of every interpreter start of the venv into `uids`. The
/// backend records its own uid too, then runs `attack` (Python statements) and, with
/// `fail`, fails the build.
fn evil_package(w: &World, version: &str, uids: &Path, attack: &str, fail: bool) -> String {
    let backend = r#"import base64, hashlib, os, sys, zipfile

UIDS = @UIDS@
VERSION = @VERSION@
FAIL = @FAIL@
DIST = "evil-%s.dist-info" % VERSION
METADATA = "Metadata-Version: 2.1\nName: evil\nVersion: %s\n" % VERSION
WHEEL = "Wheel-Version: 1.0\nGenerator: evil\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
PTH = ("import os, sys; f = open(%r, 'a'); f.write('%%d pth %%s\\n' %% (os.getuid(), sys.executable)); f.close()\n" % UIDS)


def _record(what):
    with open(UIDS, "a") as f:
        f.write("%d %s %s\n" % (os.getuid(), what, VERSION))


def _try(what, f):
    try:
        f()
        _record("attack %s: done" % what)
    except OSError as e:
        _record("attack %s: %s" % (what, e))


def _link(path, target):
    def go():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.symlink(target, path)
    return go


def _fifo(path):
    def go():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.mkfifo(path, 0o666)
    return go


def _attack():
@ATTACK@


def get_requires_for_build_wheel(config_settings=None):
    _record("requires")
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _record("metadata")
    d = os.path.join(metadata_directory, DIST)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(METADATA)
    return DIST


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _record("build")
    _attack()
    if FAIL:
        sys.stderr.write("evil: this build fails on purpose\n")
        raise SystemExit(1)
    name = "evil-%s-py3-none-any.whl" % VERSION
    files = {"evil.pth": PTH, DIST + "/METADATA": METADATA, DIST + "/WHEEL": WHEEL}
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
        record.append(DIST + "/RECORD,,")
        z.writestr(DIST + "/RECORD", "\n".join(record) + "\n")
    return name
"#;
    let attack: String = if attack.trim().is_empty() {
        "    pass\n".into()
    } else {
        attack.lines().map(|l| format!("    {l}\n")).collect()
    };
    let backend = backend
        .replace("@UIDS@", &format!("{:?}", uids.display().to_string()))
        .replace("@VERSION@", &format!("{version:?}"))
        .replace("@FAIL@", if fail { "True" } else { "False" })
        .replace("@ATTACK@", &attack);
    sdist(
        w,
        "evil",
        version,
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = []\nbuild-backend = \"evil_backend\"\nbackend-path = [\".\"]\n"
                    .into(),
            ),
            (
                "PKG-INFO",
                format!("Metadata-Version: 2.1\nName: evil\nVersion: {version}\n"),
            ),
            ("evil_backend.py", backend),
        ],
    )
}

/// The uids app code recorded (`<uid> <what> …` lines).
fn recorded(uids: &Path) -> Vec<(u32, String)> {
    std::fs::read_to_string(uids)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (uid, what) = l.split_once(' ')?;
            Some((uid.parse().ok()?, what.to_string()))
        })
        .collect()
}

fn py(s: &Path) -> String {
    format!("{:?}", s.display().to_string())
}

#[test]
fn malicious_dependency_never_runs_as_root() {
    let w = World::new(Mode::Local);
    let uids = shared_file(&w, "uids.txt");
    // One canary for each attack, so that one hole cannot hide another.
    let (canary, secret) = canary_file(&w, "canary-records.txt");
    let (log_canary, log_secret) = canary_file(&w, "canary-log.txt");
    let app = w.root.join("main");
    let venvs = w.root.join(".jib/venvs");
    // 1.0 builds: it plants a FIFO where the agent writes (run/restart, opened on every
    // reload of an app with [processes]) and links named like the agent's own records in the
    // venv it is being installed into, pointing at the root-only canary.
    let attack1 = format!(
        "_try('fifo run/restart', _fifo({restart}))\n\
         for d in os.listdir({venvs}):\n    \
             p = os.path.join({venvs}, d)\n    \
             if os.path.isdir(p) and not os.path.islink(p) and os.access(p, os.W_OK):\n        \
                 for n in ('.jib-lock.txt', '.jib-ready.json'):\n            \
                     _try('link ' + n, _link(os.path.join(p, n), {canary}))\n",
        restart = py(&app.join("run/restart")),
        venvs = py(&venvs),
        canary = py(&canary),
    );
    let url1 = evil_package(&w, "1.0", &uids, &attack1, false);
    // 2.0 fails, after linking the log the agent shows when a build fails to the other canary.
    let attack2 = format!(
        "_try('link log/venv.log', _link({log}, {canary}))\n",
        log = py(&app.join("log/venv.log")),
        canary = py(&log_canary),
    );
    let url2 = evil_package(&w, "2.0", &uids, &attack2, true);

    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
            "\n[processes]\nidle = \"sleep 600\"\n",
        ),
    );
    w.write("hello.py", &hello_py("hello"));
    w.write("requirements.txt", &format!("evil @ {url1}\n"));
    w.commit("depend on evil 1.0");
    w.jib_ok(&["setup"]);

    let limit = Duration::from_secs(180);
    let first = jib_timed(&w, &["push"], limit);
    eprintln!(
        "first push (evil 1.0 builds) {} in {:.1}s:\n{}",
        if first.ok { "succeeded" } else { "FAILED" },
        first.secs,
        first.text
    );
    if first.ok {
        // It finished although a FIFO sat where the agent writes on every reload.
        use std::os::unix::fs::FileTypeExt;
        let restart = std::fs::symlink_metadata(app.join("run/restart"));
        assert!(
            restart.as_ref().is_ok_and(|m| m.file_type().is_fifo()),
            "the build did not manage to plant a FIFO at run/restart: {restart:?}"
        );
    }
    w.write("requirements.txt", &format!("evil @ {url2}\n"));
    w.commit("depend on evil 2.0, whose build fails");
    let second = jib_timed(&w, &["push"], limit);
    eprintln!(
        "second push (evil 2.0 fails) {} in {:.1}s:\n{}",
        if second.ok { "succeeded" } else { "failed" },
        second.secs,
        second.text
    );
    assert!(!second.ok, "a failing build must fail the push");

    let mut p = Problems::default();
    // The attack really ran (as the app's user), so what follows is not vacuous.
    let seen = recorded(&uids);
    let nobody = ids(RUN_AS).0;
    assert!(
        seen.iter().any(|(_, w)| w.starts_with("build")),
        "the package's build never ran: {seen:?}\n{}",
        first.text
    );
    for (uid, what) in &seen {
        p.check(*uid != 0, || format!("package code ran as root ({what})"));
        p.check(*uid == nobody || *uid == 0, || {
            format!("package code ran as uid {uid} ({what})")
        });
    }
    for planted in [
        "link .jib-lock.txt",
        "link .jib-ready.json",
        "link log/venv.log",
    ] {
        assert!(
            seen.iter()
                .any(|(_, w)| w.starts_with(&format!("attack {planted}: done"))),
            "the build could not {planted}, the test proves nothing: {seen:?}"
        );
    }
    if first.ok {
        // Installed and imported (freeze, import check, workers): the .pth ran, as nobody.
        p.check(seen.iter().any(|(_, w)| w.starts_with("pth")), || {
            format!("the .pth never ran: {seen:?}")
        });
    }

    // Root never wrote through the links, nor showed the canary to anyone.
    p.extend(canary_problems(&canary, &secret));
    p.extend(canary_problems(&log_canary, &log_secret));
    let deploy_log = std::fs::read_to_string(app.join("log/deploy.log")).unwrap_or_default();
    for (what, text) in [
        ("the first push's output", &first.text),
        ("the second push's output", &second.text),
        ("log/deploy.log", &deploy_log),
    ] {
        for s in [&secret, &log_secret] {
            p.check(!text.contains(s.trim()), || {
                format!("a canary's secret reached {what}:\n{text}")
            });
        }
    }
    // The link was really there when the agent looked (the attack did not just fail).
    let log_link = std::fs::symlink_metadata(app.join("log/venv.log"));
    assert!(
        log_link.as_ref().is_ok_and(|m| m.file_type().is_symlink()),
        "the failing build did not manage to link log/venv.log: {log_link:?}"
    );

    // Every venv that exists is the agent's, read-only to the app, with no FIFO or setuid.
    let mut venv_dirs = 0;
    for e in std::fs::read_dir(&venvs).unwrap().flatten() {
        if e.path().is_dir() {
            p.extend(sealed_problems(&e.path()));
            venv_dirs += 1;
        }
    }
    p.check(venv_dirs > 0 || !first.ok, || "no venv was kept".into());
    p.finish();
}

/// `git hash-object -w` of `content` (a blob, or with `kind` a tree written literally).
fn hash_object(w: &World, kind: &str, content: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("git")
        .args(["hash-object", "-t", kind, "--literally", "-w", "--stdin"])
        .current_dir(&w.repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(content).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A tree object from `(mode, name, id)` entries, in git's order (a tree sorts as
/// `name/`) but keeping duplicates in the order given — which `git mktree` refuses.
fn literal_tree(w: &World, entries: &[(String, String, String)]) -> String {
    let mut sorted: Vec<&(String, String, String)> = entries.iter().collect();
    sorted.sort_by_key(|(mode, name, _)| {
        let mut k = name.as_bytes().to_vec();
        if mode == "40000" {
            k.push(b'/');
        }
        k
    });
    let mut raw = Vec::new();
    for (mode, name, id) in sorted {
        raw.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        raw.extend_from_slice(&hex::decode(id).unwrap());
    }
    hash_object(w, "tree", &raw)
}

/// The top-level entries of HEAD's tree, as `(mode, name, id)`.
fn head_entries(w: &World) -> Vec<(String, String, String)> {
    let out = git(&w.repo, &["ls-tree", "HEAD"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (meta, name) = l.split_once('\t').unwrap();
            let mut m = meta.split_whitespace();
            let mode = m.next().unwrap().trim_start_matches('0').to_string();
            let _kind = m.next();
            (mode, name.to_string(), m.next().unwrap().to_string())
        })
        .collect()
}

/// Makes branch main point at a new commit of `tree` on top of HEAD; returns its id.
fn commit_tree(w: &World, tree: &str, msg: &str) -> String {
    let out = git(
        &w.repo,
        &[
            "-c",
            "user.email=dev@example.com",
            "-c",
            "user.name=Dev",
            "commit-tree",
            tree,
            "-p",
            "HEAD",
            "-m",
            msg,
        ],
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    git(&w.repo, &["update-ref", "refs/heads/main", &id]);
    id
}

fn entry(mode: &str, name: &str, id: &str) -> (String, String, String) {
    (mode.to_string(), name.to_string(), id.to_string())
}

fn dir_names(p: &Path) -> BTreeSet<String> {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn hostile_trees_are_refused_or_contained() {
    let w = World::new(Mode::Ssh);
    let mut p = Problems::default();
    // A root-owned directory outside every release: nothing may ever be created in it.
    let canary_dir = w.tmp.path().join("canary-dir");
    std::fs::create_dir(&canary_dir).unwrap();
    std::fs::set_permissions(&canary_dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n\
             static = { \"/static/\" = \"staticfiles\" }\n",
            "",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("good"));
    w.write("tool.sh", "#!/bin/sh\necho tool\n");
    std::fs::set_permissions(
        w.repo.join("tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // (b) A static directory that is a link to /.
    std::os::unix::fs::symlink("/", w.repo.join("staticfiles")).unwrap();
    w.commit("good, with a link to / and an executable");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));
    let good = String::from_utf8_lossy(&git(&w.repo, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let src = w.root.join("main/current/src");
    assert!(
        std::fs::symlink_metadata(src.join("staticfiles")).is_ok_and(|m| m.is_symlink()),
        "the committed link is not in the release"
    );
    let (status, body) = w.get("main", "/static/etc/passwd");
    p.check(status != 200 && !body.contains("root:x:0:0"), || {
        format!("/static/etc/passwd through staticfiles -> / was served ({status}): {body}")
    });

    // (c) Modes come from the export, never from the tree: 0644, 0755 with an exec bit.
    let mode = |rel: &str| {
        std::fs::symlink_metadata(src.join(rel))
            .map(|m| m.mode() & 0o7777)
            .unwrap_or(0)
    };
    p.check(mode("tool.sh") == 0o755, || {
        format!("tool.sh (100755) is {:o}", mode("tool.sh"))
    });
    p.check(mode("hello.py") == 0o644, || {
        format!("hello.py (100644) is {:o}", mode("hello.py"))
    });
    p.extend(sealed_problems(&src));
    for (path, m) in walk(&src) {
        if m.is_file() {
            let md = m.mode() & 0o7777;
            p.check(md == 0o644 || md == 0o755, || {
                format!("{} is mode {md:o}", path.display())
            });
        }
    }
    // A tree can say any mode: one claiming setuid (104755) must not produce a setuid file.
    let script = hash_object(&w, "blob", b"#!/bin/sh\nid\n");
    let mut entries = head_entries(&w);
    entries.push(entry("104755", "suid.sh", &script));
    let tree = literal_tree(&w, &entries);
    commit_tree(&w, &tree, "a setuid mode in the tree");
    let suid = jib_timed(&w, &["push"], Duration::from_secs(120));
    eprintln!(
        "push of a tree with mode 104755: {}",
        if suid.ok { "accepted" } else { "refused" }
    );
    if suid.ok {
        let m = std::fs::symlink_metadata(src.join("suid.sh")).map(|m| m.mode() & 0o7777);
        p.check(m.as_ref().is_ok_and(|m| *m == 0o755), || {
            format!("suid.sh (tree mode 104755) was exported as {m:?}")
        });
        p.extend(sealed_problems(&w.root.join("main/current/src")));
    }
    git(&w.repo, &["update-ref", "refs/heads/main", &good]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/"), (200, "good from main\n".into()));
    let releases_before = dir_names(&w.root.join("main/releases"));

    // (a) Trees naming an entry twice: a link to a file in the canary directory and a blob of
    // the same name; a link to the canary directory and a tree of the same name. Writing the
    // second through the first would create root-owned files there.
    let payload = hash_object(&w, "blob", b"pwned\n");
    let to_file = hash_object(
        &w,
        "blob",
        canary_dir.join("pwned-x").display().to_string().as_bytes(),
    );
    let to_dir = hash_object(&w, "blob", canary_dir.display().to_string().as_bytes());
    let sub = literal_tree(&w, &[entry("100644", "pwned-d", &payload)]);
    for (what, extra) in [
        (
            "link x + blob x",
            vec![
                entry("120000", "x", &to_file),
                entry("100644", "x", &payload),
            ],
        ),
        (
            "link d + tree d",
            vec![entry("120000", "d", &to_dir), entry("40000", "d", &sub)],
        ),
    ] {
        git(&w.repo, &["update-ref", "refs/heads/main", &good]);
        let mut entries = head_entries(&w);
        entries.extend(extra);
        let tree = literal_tree(&w, &entries);
        // Written literally: git itself would refuse this tree.
        let fsck = Command::new("git")
            .args(["fsck", "--no-dangling"])
            .current_dir(&w.repo)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&fsck.stdout).contains("duplicate")
                || String::from_utf8_lossy(&fsck.stderr).contains("duplicate")
                || !fsck.status.success(),
            "git fsck does not see the duplicate in {what}: {}",
            text(&fsck)
        );
        commit_tree(&w, &tree, what);
        let r = jib_timed(&w, &["push"], Duration::from_secs(120));
        p.check(!r.ok, || {
            format!("the push of a tree with {what} succeeded:\n{}", r.text)
        });
        p.check(r.text.contains("export"), || {
            format!(
                "the push of {what} did not fail at the export step:\n{}",
                r.text
            )
        });
        p.check(dir_names(&canary_dir).is_empty(), || {
            format!(
                "the push of {what} created {:?} in the canary directory",
                dir_names(&canary_dir)
            )
        });
        p.check(
            w.get("main", "/") == (200, "good from main\n".into()),
            || format!("after the refused {what}, the previous release does not serve"),
        );
        p.check(
            dir_names(&w.root.join("main/releases")) == releases_before,
            || {
                format!(
                    "the refused {what} left a release behind: {:?} (before: {releases_before:?})",
                    dir_names(&w.root.join("main/releases"))
                )
            },
        );
    }
    git(&w.repo, &["update-ref", "refs/heads/main", &good]);
    p.finish();
}

/// Stops what app code left running (its pids listed one a line in `pids`): asks it to
/// stop through `stop`, then kills what remains. Returns the pids that were still alive
/// when asked.
fn stop_leftovers(pids: &Path, stop: &Path) -> Vec<i32> {
    let _ = std::fs::write(stop, "");
    let list: Vec<i32> = std::fs::read_to_string(pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let alive = |pid: i32| Path::new(&format!("/proc/{pid}")).exists();
    let was_alive: Vec<i32> = list.iter().copied().filter(|p| alive(*p)).collect();
    let t = Instant::now();
    while was_alive.iter().any(|p| alive(*p)) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in &was_alive {
        if alive(*pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    was_alive
}

/// Owner, mode and content (for files) of everything under `p`.
fn snapshot(p: &Path) -> Vec<(PathBuf, u32, u32, Option<Vec<u8>>)> {
    walk(p)
        .into_iter()
        .map(|(path, m)| {
            let content = m.is_file().then(|| std::fs::read(&path).unwrap());
            (path, m.uid(), m.mode() & 0o7777, content)
        })
        .collect()
}

#[test]
fn release_step_racer_cannot_reach_root_files() {
    let w = World::new(Mode::Local);
    let mut p = Problems::default();
    // Root's: a directory, a 0600 file and a 0700 directory in it.
    let canary = w.tmp.path().join("canary-dir");
    std::fs::create_dir_all(canary.join("sub")).unwrap();
    std::fs::write(canary.join("secret.txt"), "root only\n").unwrap();
    std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(canary.join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        canary.join("secret.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let before = snapshot(&canary);
    let pids = shared_file(&w, "racer-pids");
    let log = shared_file(&w, "racer-log");
    let stop = w.tmp.path().join("racer-stop");

    // The release step races while it runs, and leaves a racer behind that escapes its
    // process group (a session of its own) to race the sealing after it, and the hand-over of
    // the next release's files before that release's step. Each swaps a directory of the
    // release (src/d, src/d/sub) with a link to the canary directory (RENAME_EXCHANGE, so
    // there is never a moment without one or the other) and tries to hard-link the canary's
    // file into the release.
    let racer = r#"import ctypes, glob, os, sys, time

CANARY = @CANARY@
RELEASES = @RELEASES@
STOP = @STOP@
PIDS = @PIDS@
LOG = @LOG@

libc = ctypes.CDLL(None, use_errno=True)


def exchange(a, b):
    return libc.renameat2(-100, a.encode(), -100, b.encode(), 2) == 0


def race(seconds, who):
    stats = {"exchanges": 0, "links": 0, "hardlinks": 0, "rounds": 0}
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(STOP):
        stats["rounds"] += 1
        for src in glob.glob(RELEASES + "/*/src"):
            for d in (src + "/d", src + "/d/sub"):
                parent = os.path.dirname(d)
                link = parent + "/swap"
                if not os.access(parent, os.W_OK):
                    continue
                try:
                    if not os.path.lexists(link):
                        os.symlink(CANARY, link)
                        stats["links"] += 1
                    for _ in range(50):
                        if exchange(d, link):
                            stats["exchanges"] += 1
                            exchange(d, link)
                except OSError:
                    pass
                try:
                    os.link(CANARY + "/secret.txt", parent + "/hard")
                    stats["hardlinks"] += 1
                except OSError:
                    pass
    with open(LOG, "a") as f:
        f.write("%s %d %r\n" % (who, os.getpid(), stats))


if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(PIDS, "a") as f:
            f.write("%d\n" % os.getpid())
        race(40, "escaped")
    os._exit(0)
race(2, "in-step")
"#;
    let racer = racer
        .replace("@CANARY@", &py(&canary))
        .replace("@RELEASES@", &py(&w.root.join("main/releases")))
        .replace("@STOP@", &py(&stop))
        .replace("@PIDS@", &py(&pids))
        .replace("@LOG@", &py(&log));
    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n\
             release = \"python racer.py\"\n",
            "",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("one"));
    w.write("racer.py", &racer);
    w.write("d/file.txt", "in d\n");
    w.write("d/sub/more.txt", "in d/sub\n");
    w.commit("a release step that races");
    w.jib_ok(&["setup"]);
    let limit = Duration::from_secs(120);
    let first = jib_timed(&w, &["push"], limit);
    eprintln!(
        "first push {} in {:.1}s:\n{}",
        if first.ok { "succeeded" } else { "failed" },
        first.secs,
        first.text
    );
    let survivors: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|pid: &i32| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    eprintln!("racers left running by the first release step: {survivors:?}");
    w.write("hello.py", &hello_py("two"));
    w.commit("a second release, handed over while the racer runs");
    let second = jib_timed(&w, &["push"], limit);
    eprintln!(
        "second push {} in {:.1}s:\n{}",
        if second.ok { "succeeded" } else { "failed" },
        second.secs,
        second.text
    );
    let left = stop_leftovers(&pids, &stop);
    let stats = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("racers still alive at the end: {left:?}\nracer stats:\n{stats}");
    assert!(
        stats.contains("in-step"),
        "the release step's racer never ran:\n{stats}\n{}",
        first.text
    );
    assert!(
        stats.lines().any(|l| !l.contains("'exchanges': 0")),
        "no racer ever swapped a directory, the test proves nothing:\n{stats}"
    );

    // Nothing of root's was chowned, chmodded, written or created.
    let after = snapshot(&canary);
    p.check(after == before, || {
        format!("the canary directory changed:\nbefore {before:?}\nafter  {after:?}")
    });
    // Every release is the agent's again, whatever the racer did and whichever push failed.
    for id in dir_names(&w.root.join("main/releases")) {
        p.extend(sealed_problems(&w.root.join("main/releases").join(id)));
    }
    p.check(first.ok || second.ok, || {
        format!("neither push succeeded:\n{}\n{}", first.text, second.text)
    });
    p.finish();
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `master=<pid>` of an answer of the app below.
fn master_of(body: &str) -> Option<i32> {
    body.split_whitespace()
        .find_map(|t| t.strip_prefix("master="))
        .and_then(|p| p.parse().ok())
}

#[test]
fn app_cannot_redirect_its_uwsgi_log_into_root_files() {
    let w = World::new(Mode::Local);
    let mut p = Problems::default();
    let (canary, secret) = canary_file(&w, "canary.txt");
    let notes = shared_file(&w, "helper-notes");
    let restore = w.tmp.path().join("restore");
    // /attack starts a helper outside the worker (its own session, as the app's user) that
    // links log/uwsgi.log to the canary and kills the app's master, so the emperor starts it
    // again with the link in place; the helper removes the link only when told.
    let app_py = r#"import os, subprocess

try:
    import uwsgi
except ImportError:  # the import check runs outside uWSGI
    uwsgi = None

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper.py")


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/attack":
        subprocess.Popen(
            ["/usr/bin/python3", HELPER, os.environ["JIB_APP_DIR"], str(uwsgi.masterpid())],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=True)
        body = b"started\n"
    else:
        print("a request for %s" % environ.get("PATH_INFO"), flush=True)
        body = ("master=%d uid=%d\n" % (uwsgi.masterpid(), os.getuid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;
    let helper = r#"import os, signal, sys, time

CANARY = @CANARY@
NOTES = @NOTES@
RESTORE = @RESTORE@
app_dir, master = sys.argv[1], int(sys.argv[2])


def note(s):
    with open(NOTES, "a") as f:
        f.write("%s\n" % s)


time.sleep(0.3)
log = os.path.join(app_dir, "log", "uwsgi.log")
try:
    os.unlink(log)
except FileNotFoundError:
    pass
os.symlink(CANARY, log)
note("linked uid=%d" % os.getuid())
os.kill(master, signal.SIGKILL)
note("killed %d" % master)
end = time.time() + 60
while not os.path.exists(RESTORE) and time.time() < end:
    time.sleep(0.1)
os.unlink(log)
note("restored")
"#
    .replace("@CANARY@", &py(&canary))
    .replace("@NOTES@", &py(&notes))
    .replace("@RESTORE@", &py(&restore));
    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
            "",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", app_py);
    w.write("helper.py", &helper);
    w.commit("an app that redirects its own log");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    let (status, body) = w.get("main", "/");
    assert_eq!(status, 200, "{body}");
    let nobody = ids(RUN_AS).0;
    assert!(body.contains(&format!("uid={nobody}")), "{body}");
    let first = master_of(&body).expect("the app names its master");

    assert_eq!(w.get("main", "/attack"), (200, "started\n".into()));
    let killed = wait_for(Duration::from_secs(15), || {
        let linked = std::fs::symlink_metadata(w.root.join("main/log/uwsgi.log"))
            .is_ok_and(|m| m.is_symlink());
        (linked && !Path::new(&format!("/proc/{first}")).exists()).then_some(())
    });
    assert!(
        killed.is_some(),
        "the helper did not link the log and kill the master: {}",
        std::fs::read_to_string(&notes).unwrap_or_default()
    );
    // The emperor starts the vassal again (and again) while the link is there.
    let emperor_log = w.root.join(".jib/log/emperor.log");
    let log_len = std::fs::metadata(&emperor_log)
        .map(|m| m.len())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..3 {
        let _ = w.get("main", "/");
    }
    // The agent reads the log for `jib logs`: never through the link.
    let logs = w.jib(&["logs", "main", "-n", "50"]);
    p.check(!text(&logs).contains(secret.trim()), || {
        format!("`jib logs` printed the canary:\n{}", text(&logs))
    });
    p.extend(canary_problems(&canary, &secret));

    std::fs::write(&restore, "").unwrap();
    let again = wait_for(Duration::from_secs(45), || {
        let (status, body) = w.get("main", "/");
        master_of(&body).filter(|m| status == 200 && *m != first)
    });
    let emperor_said = std::fs::read(&emperor_log)
        .map(|b| String::from_utf8_lossy(&b[(log_len as usize).min(b.len())..]).into_owned())
        .unwrap_or_default();
    eprintln!(
        "helper: {}\nemperor log while the link was there:\n{emperor_said}",
        std::fs::read_to_string(&notes).unwrap_or_default()
    );
    // The emperor did start it again while the link was there, and it was the app's user
    // that opened the log (and was refused the canary).
    assert!(
        emperor_said.contains("dropping privileges")
            && emperor_said.contains("log/uwsgi.log\"): Permission denied"),
        "no respawn opened the log while it was linked to the canary:\n{emperor_said}"
    );
    p.check(again.is_some(), || {
        format!(
            "the app never came back after its master was killed:\n{}\n{}",
            emperor_said,
            w.logs()
        )
    });
    // Requests logged since then went to a log of the app's own, not to root's file.
    let _ = w.get("main", "/after");
    std::thread::sleep(Duration::from_millis(500));
    p.extend(canary_problems(&canary, &secret));
    let log = std::fs::symlink_metadata(w.root.join("main/log/uwsgi.log"));
    p.check(
        log.as_ref().is_ok_and(|m| m.is_file() && m.uid() == nobody),
        || format!("log/uwsgi.log is now {log:?} (a file of the app's user expected)"),
    );
    p.finish();
}

/// `<root>/<app>/current/src` of the one app of a root that has a current release.
fn only_current_src(root: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("current"))
        .filter(|c| std::fs::symlink_metadata(c).is_ok())
        .collect();
    assert_eq!(found.len(), 1, "apps with a current release: {found:?}");
    std::fs::canonicalize(&found[0]).unwrap().join("src")
}

/// What the tree of `commit` says: path → (mode, content or link target).
fn git_files(w: &World, commit: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let out = git(&w.repo, &["ls-tree", "-r", "-z", commit]);
    out.stdout
        .split(|b| *b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = String::from_utf8_lossy(l).into_owned();
            let (meta, path) = l.split_once('\t').unwrap();
            let mut m = meta.split_whitespace();
            let mode = m.next().unwrap().to_string();
            let _ = m.next();
            let id = m.next().unwrap();
            let content = git(&w.repo, &["cat-file", "blob", id]).stdout;
            (path.to_string(), (mode, content))
        })
        .collect()
}

/// How `src` differs from the tree of `commit`: contents, modes (0644, or 0755 for 100755),
/// links, and files that are not in the tree.
fn differs_from_git(w: &World, src: &Path, commit: &str) -> Vec<String> {
    let want = git_files(w, commit);
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, m) in walk(src) {
        if m.is_dir() {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap().display().to_string();
        seen.insert(rel.clone());
        let Some((mode, content)) = want.get(&rel) else {
            out.push(format!("{} is not in commit {commit}", path.display()));
            continue;
        };
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            if mode != "120000" || target.as_os_str().as_encoded_bytes() != content.as_slice() {
                out.push(format!(
                    "{} is a link the tree does not have",
                    path.display()
                ));
            }
            continue;
        }
        let want_mode = if mode == "100755" { 0o755 } else { 0o644 };
        if m.mode() & 0o7777 != want_mode {
            out.push(format!(
                "{} is mode {:o}, the tree says {mode}",
                path.display(),
                m.mode() & 0o7777
            ));
        }
        if std::fs::read(&path).unwrap() != *content {
            out.push(format!("{} differs from its git blob", path.display()));
        }
    }
    for rel in want.keys() {
        if !seen.contains(rel) {
            out.push(format!(
                "{rel} of commit {commit} is missing from {}",
                src.display()
            ));
        }
    }
    out
}

#[test]
fn promote_never_carries_dev_writable_bytes() {
    let mut w = World::new(Mode::Ssh);
    let mut p = Problems::default();
    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
            "",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("v1"));
    w.write("bin/tool.sh", "#!/bin/sh\necho tool\n");
    std::fs::set_permissions(
        w.repo.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    w.commit("v1");
    let prod_root = w.add_prod(false, &format!("run_as = \"{RUN_AS}\"\n"));
    w.jib_ok(&["setup"]);
    w.jib_ok(&["setup", "-e", "prod"]);
    w.jib_ok(&["push", "main"]);
    let head = String::from_utf8_lossy(&git(&w.repo, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let dev_src = std::fs::canonicalize(w.root.join("main/current/src")).unwrap();
    let dev_rel: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dev_src.parent().unwrap().join("release.json")).unwrap(),
    )
    .unwrap();
    let dev_venv = w
        .root
        .join(".jib/venvs")
        .join(dev_rel["venv"].as_str().unwrap());

    // The app's user cannot change what dev runs: its files, modes, or the venv's record of
    // its packages (which promote installs in prod).
    let s = |p: &Path| p.display().to_string();
    for (what, argv) in [
        (
            "append to a release file",
            vec![
                "sh".into(),
                "-c".into(),
                format!("echo tampered >> {}", s(&dev_src.join("hello.py"))),
            ],
        ),
        (
            "make a release file setuid",
            vec![
                "chmod".into(),
                "4755".into(),
                s(&dev_src.join("bin/tool.sh")),
            ],
        ),
        (
            "add a file to the release",
            vec![
                "sh".into(),
                "-c".into(),
                format!("echo x > {}", s(&dev_src.join("planted.py"))),
            ],
        ),
        (
            "rename a release file",
            vec![
                "mv".into(),
                s(&dev_src.join("hello.py")),
                s(&dev_src.join("moved.py")),
            ],
        ),
        (
            "change the venv's lock",
            vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "echo 'six==1.16.0' > {}",
                    s(&dev_venv.join(".jib-lock.txt"))
                ),
            ],
        ),
        (
            "add a .pth to the venv",
            vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "echo 'import os' > {}/lib/python3*/site-packages/x.pth",
                    s(&dev_venv)
                ),
            ],
        ),
    ] {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = as_user(RUN_AS, &argv);
        p.check(!out.status.success(), || {
            format!("as {RUN_AS}, `{what}` succeeded: {argv:?}")
        });
    }
    p.extend(differs_from_git(&w, &dev_src, &head));
    p.extend(sealed_problems(&dev_src));
    p.extend(sealed_problems(&dev_venv));

    // Whatever ends up in dev's tree, prod is built from git objects: tamper with dev's files
    // as root (what a hole in the above would let the app do) and promote.
    std::fs::write(dev_src.join("hello.py"), hello_py("TAMPERED")).unwrap();
    std::fs::set_permissions(
        dev_src.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::fs::write(dev_src.join("planted.py"), "print('planted')\n").unwrap();
    let out = w.jib(&["promote", "main", "--yes", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "promote did not answer JSON ({e}): {}\n{}",
            text(&out),
            w.logs()
        )
    });
    assert!(out.status.success(), "{}", text(&out));
    p.check(v["files"] == "copied", || {
        format!(
            "promote's files = {} (same-host object copy expected): {v}",
            v["files"]
        )
    });
    let prod_src = only_current_src(&prod_root);
    p.extend(differs_from_git(&w, &prod_src, &head));
    p.extend(sealed_problems(&prod_src));
    let (status, body) = w.get_prod("/");
    p.check(status == 200 && body.starts_with("v1 from"), || {
        format!("prod answers {status} {body:?}")
    });
    p.finish();
}

/// Every process's command line (pid, argv joined by spaces).
fn cmdlines() -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

/// Watches every command line on the machine while `child` runs (and at least `min`):
/// returns those holding one of `needles`, ignoring the processes in `mine`.
fn watch_cmdlines(
    child: &mut std::process::Child,
    min: Duration,
    needles: &[String],
    mine: &[i32],
) -> BTreeSet<String> {
    let t = Instant::now();
    let mut hits = BTreeSet::new();
    loop {
        for (pid, cmd) in cmdlines() {
            // Ours, or a child of ours between fork and exec (it still shows our command line).
            let ppid = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|st| {
                    st.lines()
                        .find_map(|l| l.strip_prefix("PPid:"))
                        .and_then(|v| v.trim().parse::<i32>().ok())
                });
            let ours = mine.contains(&pid) || ppid.is_some_and(|p| mine.contains(&p));
            if !ours && needles.iter().any(|n| cmd.contains(n.as_str())) {
                hits.insert(format!("{pid}: {cmd}"));
            }
        }
        if child.try_wait().unwrap().is_some() && t.elapsed() >= min {
            return hits;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn other_local_users_cannot_read_secrets() {
    let w = World::new(Mode::Ssh);
    let mut p = Problems::default();
    let other = "daemon";
    let pid = std::process::id();
    let toml_secret = format!("toml-secret-{pid}");
    let env_secret = format!("env-secret-{pid}");
    let late_secret = format!("late-secret-{pid}");
    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
            &format!("\n[env.dev.env]\nDEV_SECRET = \"{toml_secret}\"\n"),
        ),
    );
    w.write("requirements.txt", "");
    // The app proves it gets both secrets (so they are really on the server).
    w.write(
        "hello.py",
        "import os\n\ndef app(environ, start_response):\n    \
         body = ('%s %s\\n' % (os.environ.get('DEV_SECRET'), os.environ.get('SECRET'))).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("secrets");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["env", "main", "set", &format!("SECRET={env_secret}")]);
    w.jib_ok(&["push"]);
    assert_eq!(
        w.get("main", "/"),
        (200, format!("{toml_secret} {env_secret}\n"))
    );

    let app = w.root.join("main");
    let release = std::fs::canonicalize(app.join("current")).unwrap();
    let secrets = [toml_secret.clone(), env_secret.clone()];
    for file in [
        release.join("release.json"),
        app.join("env.json"),
        app.join("log/deploy.log"),
        app.join("log/uwsgi.log"),
    ] {
        let out = as_user(other, &["cat", &file.display().to_string()]);
        p.check(!out.status.success(), || {
            format!("{other} can read {}", file.display())
        });
        let t = text(&out);
        p.check(!secrets.iter().any(|s| t.contains(s.as_str())), || {
            format!("{other} read a secret from {}", file.display())
        });
    }
    // Nowhere under the root, whatever the file.
    let out = as_user(
        other,
        &[
            "grep",
            "-r",
            "-l",
            "-s",
            "-e",
            &toml_secret,
            "-e",
            &env_secret,
            &w.root.display().to_string(),
        ],
    );
    let found = String::from_utf8_lossy(&out.stdout).into_owned();
    for f in found.lines() {
        // deploy.toml is committed code, exported with the rest (world-readable: nginx serves
        // static files from the tree): a value written in its [env.<name>.env] is as public as
        // the repository, and the guide says so (secrets go in `jib env set`). Anything else
        // holding a secret is a leak.
        if f.ends_with("/src/deploy.toml") {
            continue;
        }
        p.check(false, || format!("{other} can read the secrets in {f}"));
    }

    // Command lines are everyone's to read (ps): no secret in any while the app's
    // environment is used (jib exec) or changed (jib env set), in clear or hex-encoded.
    let hexed = |s: &str| hex::encode(s.as_bytes());
    let needles: Vec<String> = [&toml_secret, &env_secret, &late_secret]
        .iter()
        .flat_map(|s| [s.to_string(), hexed(s)])
        .collect();
    let mut exec = w
        .jib_cmd(&["exec", "main", "--", "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Meanwhile, another user cannot read the command's environment either.
    let sleeper = wait_for(Duration::from_secs(10), || {
        cmdlines()
            .into_iter()
            .find(|(_, c)| {
                let argv: Vec<&str> = c.split_whitespace().collect();
                argv.len() == 2 && argv[0].ends_with("sleep") && argv[1] == "2"
            })
            .map(|(pid, _)| pid)
    });
    if let Some(pid) = sleeper {
        let out = as_user(other, &["cat", &format!("/proc/{pid}/environ")]);
        let t = text(&out);
        p.check(!secrets.iter().any(|s| t.contains(s.as_str())), || {
            format!("{other} read the secrets from /proc/{pid}/environ")
        });
        let owner = std::fs::metadata(format!("/proc/{pid}")).map(|m| m.uid());
        p.check(owner.as_ref().is_ok_and(|u| *u == ids(RUN_AS).0), || {
            format!("the command of jib exec runs as uid {owner:?}")
        });
    } else {
        p.check(false, || "jib exec's command never showed up".into());
    }
    let me = exec.id() as i32;
    let hits = watch_cmdlines(&mut exec, Duration::from_secs(2), &needles, &[me]);
    p.check(hits.is_empty(), || {
        format!("secrets in command lines during jib exec:\n{hits:?}")
    });
    // The one command line that holds a secret is the one the developer typed.
    let mut set = w
        .jib_cmd(&["env", "main", "set", &format!("LATE={late_secret}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = set.id() as i32;
    let hits = watch_cmdlines(&mut set, Duration::ZERO, &needles, &[me]);
    p.check(hits.is_empty(), || {
        format!("secrets in command lines during jib env set:\n{hits:?}")
    });
    p.finish();
}

// ---- the general rule, checked on system calls -------------------------------------------

/// One system call as strace printed it (an `<unfinished ...>` line joined with its
/// `<... resumed>` line): who made it, the arguments as printed, the result, and the line
/// it started on (for ordering).
#[derive(Debug, Clone)]
struct Call {
    pid: i32,
    name: String,
    args: String,
    ret: String,
    line: usize,
}

fn parse_strace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<i32, (String, usize)> = HashMap::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let Some((pid, rest)) = raw.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let (full, line) = if let Some(r) = rest.strip_prefix("<... ") {
            // `<... openat resumed>, O_RDONLY) = 3`
            let Some((_, after)) = r.split_once(" resumed>") else {
                continue;
            };
            let Some((start, line)) = pending.remove(&pid) else {
                continue;
            };
            (format!("{start}{after}"), line)
        } else if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid, (start.trim_end().to_string(), i));
            continue;
        } else {
            (rest.to_string(), i)
        };
        let Some((name, args_ret)) = full.split_once('(') else {
            continue;
        };
        // `…) = 3`, with strace's column alignment (`)      = 3`).
        let split = args_ret
            .match_indices(" = ")
            .map(|(k, _)| k)
            .filter(|k| args_ret[..*k].trim_end().ends_with(')'))
            .last();
        let (args, ret) = match split {
            Some(k) => {
                let a = args_ret[..k].trim_end();
                (&a[..a.len() - 1], args_ret[k + 3..].trim())
            }
            None => (args_ret.trim_end().trim_end_matches(')'), "?"),
        };
        out.push(Call {
            pid,
            name: name.trim().to_string(),
            args: args.to_string(),
            ret: ret.to_string(),
            line,
        });
    }
    out
}

/// Splits strace's printed arguments at top-level commas (not inside quotes, [], {}, <>).
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for c in args.chars() {
        if quoted {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '[' | '{' | '<' | '(' => {
                depth += 1;
                cur.push(c);
            }
            ']' | '}' | '>' | ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A quoted path argument (`"/a/b"`), unescaped enough for our paths.
fn unquote(s: &str) -> Option<String> {
    let s = s.strip_prefix('"')?;
    let s = s.strip_suffix("\"...").or_else(|| s.strip_suffix('"'))?;
    Some(s.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// The path strace's `-y` shows for a descriptor argument: `3</a/b>`, `AT_FDCWD</cwd>`.
fn fd_path(s: &str) -> Option<String> {
    let (_, p) = s.split_once('<')?;
    Some(p.strip_suffix('>')?.to_string())
}

/// Each process's effective uid at any point of the trace: what it had when it was
/// attached (or what its parent had when it cloned it), then its own successful set*uid.
struct Uids {
    initial: HashMap<i32, u32>,
    parent: HashMap<i32, (i32, usize)>,
    changes: HashMap<i32, Vec<(usize, u32)>>,
}

impl Uids {
    fn new(calls: &[Call], attached: &HashMap<i32, u32>) -> Uids {
        let mut parent = HashMap::new();
        let mut changes: HashMap<i32, Vec<(usize, u32)>> = HashMap::new();
        for c in calls {
            let ok = c.ret.starts_with('0');
            match c.name.as_str() {
                "clone" | "clone3" | "fork" | "vfork" => {
                    let digits: String = c.ret.chars().take_while(|d| d.is_ascii_digit()).collect();
                    if let Ok(child) = digits.parse::<i32>()
                        && child > 0
                    {
                        parent.insert(child, (c.pid, c.line));
                    }
                }
                "setuid" | "setreuid" | "setresuid" if ok => {
                    let a = split_args(&c.args);
                    let euid = match c.name.as_str() {
                        "setuid" => a.first(),
                        _ => a.get(1),
                    };
                    if let Some(e) = euid.and_then(|e| e.parse::<i64>().ok())
                        && e >= 0
                    {
                        changes.entry(c.pid).or_default().push((c.line, e as u32));
                    }
                }
                _ => {}
            }
        }
        Uids {
            initial: attached.clone(),
            parent,
            changes,
        }
    }

    /// Unknown processes count as root: the check errs on the side of finding a problem.
    fn at(&self, pid: i32, line: usize) -> u32 {
        let mut uid = match (self.initial.get(&pid), self.parent.get(&pid)) {
            (Some(u), _) => *u,
            (None, Some((pp, at))) if *pp != pid => self.at(*pp, *at),
            _ => 0,
        };
        for (l, u) in self.changes.get(&pid).into_iter().flatten() {
            if *l < line {
                uid = *u;
            }
        }
        uid
    }
}

/// Trees under `roots` the app's user can write (or, for a venv being built, could have
/// written): `(prefix, kind)`; the prefix ends with `/`.
fn app_tree(roots: &[PathBuf], path: &str) -> Option<(String, &'static str)> {
    for root in roots {
        let root = format!("{}/", root.display());
        let Some(rel) = path.strip_prefix(&root) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let under = |n: usize, kind| {
            (parts.len() > n && !parts[n].is_empty())
                .then(|| (format!("{root}{}/", parts[..n].join("/")), kind))
        };
        match parts.as_slice() {
            [".jib", "home" | "cache" | "v", ..] => return under(2, "app-writable"),
            [".jib", "venvs", key, ..] if key.len() == 32 => return under(3, "venv"),
            [".jib", ..] => return None,
            [_, "log" | "run" | "workers" | "shared", ..] => return under(2, "app-writable"),
            [_, "releases", _, "src", ..] => return under(4, "release"),
            _ => return None,
        }
    }
    None
}

/// Root's system calls that break the rule: executing anything from an app's tree, and
/// opening, chowning or chmodding a path inside a tree the app can write in a way that
/// follows a link planted there.
fn rule_breaks(calls: &[Call], uids: &Uids, roots: &[PathBuf]) -> Vec<String> {
    rule_check(calls, uids, roots).0
}

/// [`rule_breaks`], and how many of root's calls reached into each kind of tree.
fn rule_check(
    calls: &[Call],
    uids: &Uids,
    roots: &[PathBuf],
) -> (Vec<String>, BTreeMap<&'static str, usize>) {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in calls {
        if uids.at(c.pid, c.line) != 0 {
            continue;
        }
        let a = split_args(&c.args);
        let show = || format!("pid {} (uid 0): {}({}) = {}", c.pid, c.name, c.args, c.ret);
        // (dirfd, path) of the calls that take one.
        let (dir, path, rest): (Option<String>, Option<String>, &[String]) = match c.name.as_str() {
            "execve" | "open" | "creat" | "chown" | "lchown" | "chmod" => (
                None,
                a.first().and_then(|p| unquote(p)),
                a.get(1..).unwrap_or(&[]),
            ),
            "execveat" | "openat" | "openat2" | "fchownat" | "fchmodat" | "fchmodat2"
            | "utimensat" => (
                a.first().and_then(|d| fd_path(d)),
                a.get(1).and_then(|p| unquote(p)),
                a.get(2..).unwrap_or(&[]),
            ),
            _ => continue,
        };
        let Some(path) = path else { continue };
        let full = if path.starts_with('/') {
            path.clone()
        } else {
            match &dir {
                Some(d) if path.is_empty() => d.clone(),
                Some(d) => format!("{d}/{path}"),
                None => continue,
            }
        };
        if c.name.starts_with("execve") {
            let own_agent = roots
                .iter()
                .any(|r| full.starts_with(&format!("{}/.jib/bin/", r.display())));
            if !own_agent
                && roots
                    .iter()
                    .any(|r| full.starts_with(&format!("{}/", r.display())))
            {
                out.push(format!("root executes a file of a root's tree: {}", show()));
            }
            continue;
        }
        let Some((tree, kind)) = app_tree(roots, &full) else {
            continue;
        };
        *seen.entry(kind).or_default() += 1;
        let flags = rest.join(",");
        // How many names of this call's path are resolved inside the tree: all but the
        // last must not be links, and only a descriptor walk (or RESOLVE_NO_SYMLINKS)
        // guarantees that.
        let inside = if dir
            .as_ref()
            .is_some_and(|d| format!("{d}/").starts_with(&tree))
        {
            path.split('/').filter(|p| !p.is_empty()).count()
        } else {
            full[tree.len()..]
                .split('/')
                .filter(|p| !p.is_empty())
                .count()
        };
        let no_links = flags.contains("RESOLVE_NO_SYMLINKS");
        if inside > 1 && !no_links {
            out.push(format!(
                "root resolves {inside} names inside {kind} tree {tree} in one call: {}",
                show()
            ));
        }
        let follows = match c.name.as_str() {
            "open" | "openat" | "openat2" | "creat" => {
                let writes = c.name == "creat"
                    || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                        .iter()
                        .any(|f| flags.contains(f));
                let guarded = flags.contains("O_NOFOLLOW")
                    || (flags.contains("O_CREAT") && flags.contains("O_EXCL"))
                    || no_links;
                // In the app's own directories even a read must not follow a link; in a venv
                // or a release (root's once sealed) a write must not.
                !guarded && (kind == "app-writable" || writes)
            }
            "chown" | "chmod" | "fchmodat" | "fchmodat2" => !path.is_empty(),
            "lchown" => false,
            "fchownat" | "utimensat" => {
                !flags.contains("AT_SYMLINK_NOFOLLOW") && !flags.contains("AT_EMPTY_PATH")
            }
            _ => false,
        };
        if follows {
            out.push(format!(
                "root follows a link the app could plant in {kind} tree {tree}: {}",
                show()
            ));
        }
    }
    (out, seen)
}

/// Every descendant of `pids` (and themselves), from /proc.
fn with_descendants(pids: &[i32]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo: Vec<i32> = pids.to_vec();
    while let Some(p) = todo.pop() {
        if !out.contains(&p) {
            out.push(p);
            todo.extend(children.get(&p).into_iter().flatten());
        }
    }
    out
}

/// Effective uid of a process and each of its threads.
fn euids(pid: i32) -> Vec<(i32, u32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        if let Some(e) = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|e| e.parse().ok())
        {
            out.push((tid, e));
        }
    }
    out
}

/// strace attached to running processes (and everything they start from now on).
struct Strace {
    child: std::process::Child,
    out: PathBuf,
    attached: HashMap<i32, u32>,
}

const TRACED: &str = "trace=execve,execveat,open,openat,openat2,creat,chown,lchown,fchownat,\
                      chmod,fchmodat,utimensat,setuid,setreuid,setresuid,setgid,setresgid,\
                      clone,clone3,fork,vfork";

impl Strace {
    fn attach(pids: &[i32], out: &Path) -> Strace {
        assert!(
            Path::new("/usr/bin/strace").exists(),
            "strace must be installed (apt-get install strace; .ci/run should install it)"
        );
        let mut attached = HashMap::new();
        let mut cmd = Command::new("/usr/bin/strace");
        cmd.args(["-f", "-qq", "-y", "-s", "4096", "-e", TRACED, "-o"])
            .arg(out);
        for pid in pids {
            for (tid, uid) in euids(*pid) {
                attached.insert(tid, uid);
            }
            cmd.arg("-p").arg(pid.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Attached once each process's first traced call could show up.
        std::thread::sleep(Duration::from_millis(1500));
        Strace {
            child,
            out: out.to_path_buf(),
            attached,
        }
    }

    /// Detaches (SIGINT) and returns the calls seen.
    fn finish(mut self) -> (Vec<Call>, HashMap<i32, u32>) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // For a closer look at what the agent did: JIB_TEST_KEEP_STRACE=<file>.
        if let Some(keep) = std::env::var_os("JIB_TEST_KEEP_STRACE") {
            let _ = std::fs::write(keep, &text);
        }
        (parse_strace(&text), std::mem::take(&mut self.attached))
    }
}

fn pidfile(p: &Path) -> i32 {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn no_root_process_executes_or_follows_into_app_trees() {
    let mut w = World::new(Mode::Ssh);
    let uids = shared_file(&w, "uids.txt");
    let url = evil_package(&w, "1.0", &uids, "", false);
    w.write(
        "deploy.toml",
        &run_as_toml(
            &w,
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 30\n\
             release = \"echo built > built.txt && python -c 'import sys; print(sys.prefix)'\"\n",
            "",
        ),
    );
    w.write("requirements.txt", &format!("evil @ {url}\n"));
    w.write("hello.py", &hello_py("traced"));
    w.commit("a dependency and a release step");
    let prod_root = w.add_prod(false, &format!("run_as = \"{RUN_AS}\"\n"));
    w.jib_ok(&["setup"]);
    w.jib_ok(&["setup", "-e", "prod"]);

    // Everything root runs on the server from now on: sshd (and so every agent verb), both
    // roots' serve with their emperors and routers.
    let sshd = pidfile(&w.sshd.as_ref().unwrap().dir.join("sshd.pid"));
    let serves = [
        pidfile(&w.root.join(".jib/agent.pid")),
        pidfile(&prod_root.join(".jib/agent.pid")),
    ];
    let mut roots_pids = vec![sshd];
    roots_pids.extend(serves);
    let trace = Strace::attach(
        &with_descendants(&roots_pids),
        &w.tmp.path().join("strace.txt"),
    );
    let t = Instant::now();
    let push = w.jib(&["push"]);
    let promote = w.jib(&["promote", "main", "--yes"]);
    let logs = w.jib(&["logs", "main", "-n", "5"]);
    let exec = w.jib(&["exec", "main", "--", "python", "-c", "print(1)"]);
    let (calls, attached) = trace.finish();
    eprintln!(
        "traced push + promote + logs + exec in {:.1}s: {} calls, {} processes attached",
        t.elapsed().as_secs_f64(),
        calls.len(),
        attached.len()
    );
    assert!(push.status.success(), "{}\n{}", text(&push), w.logs());
    assert!(promote.status.success(), "{}\n{}", text(&promote), w.logs());
    assert!(logs.status.success(), "{}", text(&logs));
    assert!(exec.status.success(), "{}", text(&exec));
    assert_eq!(w.get_prod("/"), (200, "traced from main\n".into()));

    let roots = [w.root.clone(), prod_root.clone()];
    let uid_of = Uids::new(&calls, &attached);
    // The trace saw what it had to: the agent, the build as the app's user, the release step.
    let nobody = ids(RUN_AS).0;
    let execs = |needle: &str, uid: Option<u32>| {
        calls.iter().any(|c| {
            c.name == "execve"
                && c.args.contains(needle)
                && uid.is_none_or(|u| uid_of.at(c.pid, c.line) == u)
        })
    };
    assert!(execs("jib-agent", Some(0)), "no agent in the trace");
    assert!(
        execs("/uv\"", Some(nobody)),
        "no uv run as {RUN_AS} in the trace"
    );
    assert!(
        execs("/bin/python", Some(nobody)),
        "no venv interpreter run as {RUN_AS} in the trace"
    );
    assert!(
        calls.iter().any(|c| c.name == "openat"
            && c.args.contains("/main/log>")
            && uid_of.at(c.pid, c.line) == 0),
        "root never opened anything in main/log: the trace misses the agent"
    );
    let (problems, seen) = rule_check(&calls, &uid_of, &roots);
    eprintln!("root's calls into app trees, by kind: {seen:?}");
    assert!(
        seen.get("app-writable").is_some_and(|n| *n > 0),
        "root never reached into an app-writable tree: the check proves nothing ({seen:?})"
    );
    assert!(
        problems.is_empty(),
        "{} root system call(s) break the rule:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_strace_parser_follows_uids_and_joins_resumed_calls() {
    let text = "\
10 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
11 setuid(65534)                    = 0
10 <... clone resumed>)             = 11
11 execve(\"/r/.jib/venvs/0123456789abcdef0123456789abcdef/bin/python\", [\"python\"], 0x1 /* 3 vars */) = 0
10 openat(AT_FDCWD</>, \"/r/main/log/venv.log\", O_WRONLY|O_APPEND|O_CREAT, 0640) = 3</r/main/log/venv.log>
10 openat(4</r/main/log>, \"venv.log\", O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW, 0640 <unfinished ...>
12 +++ exited with 0 +++
10 <... openat resumed>)            = 5</r/main/log/venv.log>
10 openat(4</r/main>, \"log/sub/x\", O_RDONLY|O_NOFOLLOW) = -1 ENOENT (No such file or directory)
10 execve(\"/r/main/releases/1/src/run\", [\"run\"], 0x1 /* 3 vars */) = -1 EACCES (Permission denied)
10 openat(AT_FDCWD</>, \"/r/.jib/venvs/0123456789abcdef0123456789abcdef/.jib-lock.txt\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3
";
    let calls = parse_strace(text);
    assert_eq!(calls.len(), 8, "{calls:#?}");
    let attached = HashMap::from([(10, 0)]);
    let uids = Uids::new(&calls, &attached);
    assert_eq!(uids.at(11, 3), 65534);
    let problems = rule_breaks(&calls, &uids, &[PathBuf::from("/r")]);
    // The dropped child's exec is fine; the plain open, the two-name open, the exec from a
    // release and the lock write are not; the descriptor-relative O_NOFOLLOW open is.
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].contains("/r/main/log/venv.log"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("log/sub/x"), "{problems:#?}");
    assert!(problems[2].contains("executes"), "{problems:#?}");
    assert!(problems[3].contains(".jib-lock.txt"), "{problems:#?}");
}
