//! Test harness: a real sshd on a loopback port (throwaway host and user keys, a known_hosts
//! file, an ssh_config alias), a real nginx, the real agent under a temp root, and sample apps
//! in real git repositories. Everything started here is stopped by PID on drop, even when a
//! test fails.

#![allow(dead_code)]

pub mod fleet;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "dev.test";
pub const HOST_ALIAS: &str = "jibtest";

/// Asks `f` every 50 ms until it holds; fails the test, naming `what`, after `secs`.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, what: &str) {
    wait_addr("127.0.0.1", port, what)
}

fn wait_addr(ip: &str, port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect((ip, port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not listen on {ip}:{port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A real OpenSSH server on 127.0.0.1 with its own keys.
pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// ssh_config defining the `jibtest` alias (passed to jib as JIB_SSH_CONFIG).
    pub config: PathBuf,
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        Self::start_as(dir, "ssh", HOST_ALIAS)
    }

    /// Another "host": its own sshd, keys and known_hosts, reached as `alias`.
    pub fn start_as(dir: &Path, sub: &str, alias: &str) -> Sshd {
        let dir = dir.join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        keygen(&dir.join("host_key"), "host");
        keygen(&dir.join("user_key"), "user");
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let cfg = dir.join("sshd_config");
        std::fs::write(
            &cfg,
            sshd_config(&dir, "127.0.0.1", port, &dir.join("authorized_keys")),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd (openssh-server) must be installed");
        wait_port(port, "sshd");
        std::fs::write(
            dir.join("known_hosts"),
            known_hosts_line(&dir.join("host_key.pub"), "127.0.0.1", port),
        )
        .unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let config = dir.join("ssh_config");
        std::fs::write(
            &config,
            ssh_config_block(alias, "127.0.0.1", port, &user, &dir),
        )
        .unwrap();
        Sshd {
            child,
            port,
            dir,
            config,
        }
    }
}

/// A throwaway ed25519 key pair at `path` (and `path`.pub).
fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

/// sshd_config for a test sshd on `listen`:`port` whose host key and pid file are in `dir`.
fn sshd_config(dir: &Path, listen: &str, port: u16, authorized_keys: &Path) -> String {
    format!(
        "Port {port}\nListenAddress {listen}\nHostKey {d}/host_key\nAuthorizedKeysFile {a}\n\
         PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100\nLogLevel ERROR\n",
        d = dir.display(),
        a = authorized_keys.display()
    )
}

/// The known_hosts line for the host key `host_pub` served at `ip`:`port` (ssh names port 22
/// by the bare address, any other as `[ip]:port`).
fn known_hosts_line(host_pub: &Path, ip: &str, port: u16) -> String {
    let text = std::fs::read_to_string(host_pub)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", host_pub.display()));
    let mut parts = text.split_whitespace();
    let (kind, key) = (
        parts.next().expect("host key type"),
        parts.next().expect("host key"),
    );
    match port {
        22 => format!("{ip} {kind} {key}\n"),
        _ => format!("[{ip}]:{port} {kind} {key}\n"),
    }
}

/// A `Host` block reaching `ip`:`port` as `user` with `keys`/user_key, checking the host key
/// against `keys`/known_hosts only.
fn ssh_config_block(alias: &str, ip: &str, port: u16, user: &str, keys: &Path) -> String {
    format!(
        "Host {alias}\n  HostName {ip}\n  Port {port}\n  User {user}\n  IdentityFile {d}/user_key\n  \
         IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  \
         GlobalKnownHostsFile /dev/null\n",
        d = keys.display()
    )
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real nginx on a loopback port, including whatever sites the agent links into `sites/`.
pub struct Nginx {
    child: Child,
    pub ip: String,
    pub port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    pub fn start(dir: &Path) -> Nginx {
        Self::start_at(&dir.join("nginx"), "127.0.0.1", free_port(), &[])
    }

    /// nginx with its files in `dir`, listening on `ip`:`port`, started through `prefix` (e.g.
    /// an `nsenter` into another host's namespaces; empty: directly).
    pub fn start_at(dir: &Path, ip: &str, port: u16, prefix: &[String]) -> Nginx {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(dir.join("sites")).unwrap();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::copy("/etc/nginx/uwsgi_params", dir.join("uwsgi_params"))
            .expect("nginx must be installed");
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nuser www-data;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  \
                 server {{ listen {ip}:{port} default_server; return 421; }}\n  include {d}/sites/*.conf;\n}}\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let mut cmd = match prefix {
            [] => Command::new("nginx"),
            [first, rest @ ..] => {
                let mut c = Command::new(first);
                c.args(rest).arg("nginx");
                c
            }
        };
        let child = cmd
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed");
        wait_addr(ip, port, "nginx");
        Nginx {
            child,
            ip: ip.to_string(),
            port,
            dir,
        }
    }

    pub fn reload_command(&self) -> Vec<String> {
        vec![
            "nginx".into(),
            "-p".into(),
            self.dir.display().to_string(),
            "-c".into(),
            self.dir.join("nginx.conf").display().to_string(),
            "-s".into(),
            "reload".into(),
        ]
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Everything one test needs: sshd, nginx, a server root and a project checkout.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub sshd: Option<Sshd>,
    /// A second server for prod, when a test wants one.
    pub prod_sshd: Option<Sshd>,
    /// Roots besides `root` whose agent serve must be stopped on drop.
    pub extra_roots: Vec<PathBuf>,
    pub nginx: Option<Nginx>,
    pub root: PathBuf,
    pub repo: PathBuf,
    /// Port requests go to (nginx, or the HTTP router in local mode).
    pub port: u16,
}

pub enum Mode {
    Ssh,
    Local,
}

impl World {
    pub fn new(mode: Mode) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("jibt")
            .tempdir_in("/tmp")
            .unwrap();
        // nginx's workers (www-data) must traverse to the router socket, as under /opt/apps.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = tmp.path().join("srv");
        let repo = tmp.path().join("project");
        std::fs::create_dir_all(&repo).unwrap();
        let (sshd, nginx, port) = match mode {
            Mode::Ssh => {
                let sshd = Sshd::start(tmp.path());
                let nginx = Nginx::start(tmp.path());
                let port = nginx.port;
                (Some(sshd), Some(nginx), port)
            }
            Mode::Local => (None, None, free_port()),
        };
        let w = World {
            tmp,
            sshd,
            prod_sshd: None,
            extra_roots: Vec::new(),
            nginx,
            root,
            repo,
            port,
        };
        git(&w.repo, &["init", "-q", "-b", "main"]);
        w
    }

    /// deploy.toml for this world, with `app` as the `[app]` section body.
    pub fn deploy_toml(&self, app: &str) -> String {
        match (&self.sshd, &self.nginx) {
            (Some(_), Some(n)) => format!(
                "[app]\n{app}\n\n[env.dev]\nhost = \"{HOST_ALIAS}\"\nroot = \"{root}\"\ndomain = \"{DOMAIN}\"\n\n\
                 [env.dev.nginx]\nlisten = \"127.0.0.1:{port}\"\nsite = \"{site}\"\nreload = {reload:?}\n",
                root = self.root.display(),
                port = n.port,
                site = n.dir.join("sites/jib-dev.conf").display(),
                reload = n.reload_command(),
            ),
            _ => format!(
                "[app]\n{app}\n\n[env.dev]\nhost = \"local\"\nroot = \"{root}\"\ndomain = \"localhost\"\nlisten = \"127.0.0.1:{port}\"\n",
                root = self.root.display(),
                port = self.port,
            ),
        }
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn commit(&self, msg: &str) {
        git(&self.repo, &["add", "-A"]);
        git(
            &self.repo,
            &[
                "-c",
                "user.email=dev@example.com",
                "-c",
                "user.name=Dev",
                "commit",
                "-q",
                "-m",
                msg,
            ],
        );
    }

    /// The tiny WSGI sample: answers `<greeting> from <branch>` and the env var `SAMPLE`.
    pub fn hello_app(&self, greeting: &str) {
        self.write(
            "deploy.toml",
            &self.deploy_toml(
                "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n",
            ),
        );
        self.write("requirements.txt", "");
        self.write("hello.py", &hello_py(greeting));
        self.commit(greeting);
    }

    /// Copies a sample from tests/apps into the project, with this world's environment.
    pub fn sample(&self, name: &str) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/apps")
            .join(name);
        copy_tree(&src, &self.repo);
        let toml = std::fs::read_to_string(src.join("deploy.toml")).unwrap();
        let app = toml
            .split("[env.dev]")
            .next()
            .unwrap()
            .trim()
            .trim_start_matches("[app]")
            .trim();
        self.write("deploy.toml", &self.deploy_toml(app));
        self.commit(&format!("{name} sample"));
    }

    pub fn jib(&self, args: &[&str]) -> Output {
        self.jib_cmd(args).output().unwrap()
    }

    pub fn jib_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jib"));
        c.args(args).current_dir(&self.repo).env("NO_COLOR", "1");
        if let Some(s) = &self.sshd {
            c.env("JIB_SSH_CONFIG", &s.config);
        }
        c
    }

    /// Runs jib and asserts it succeeded; returns stderr+stdout for inspection.
    pub fn jib_ok(&self, args: &[&str]) -> String {
        let out = self.jib(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "jib {args:?} failed:\n{text}\n{}",
            self.logs()
        );
        text
    }

    /// Runs jib, asserts it succeeded, and parses its stdout as JSON: stdout alone, since notes,
    /// warnings and progress go to stderr.
    pub fn jib_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.jib(args);
        assert!(
            out.status.success(),
            "jib {args:?} failed:\n{}\n{}",
            text(&out),
            self.logs()
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("jib {args:?}: stdout is not JSON ({e}):\n{}", text(&out)))
    }

    /// The server-side logs, for failure messages.
    pub fn logs(&self) -> String {
        let ls = Command::new("ls")
            .arg("-la")
            .arg(self.root.join(".jib/s"))
            .arg(self.root.join(".jib"))
            .output();
        let mut out = ls
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut files = vec![
            self.root.join(".jib/log/router.log"),
            self.root.join(".jib/log/agent.log"),
        ];
        if let Some(n) = &self.nginx {
            files.push(n.dir.join("logs/error.log"));
        }
        for f in files {
            let t = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(8).collect();
            out.push_str(&format!("--- {}\n", f.display()));
            for l in tail.iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn host(&self, app: &str) -> String {
        match &self.nginx {
            Some(_) => format!("{app}.{DOMAIN}"),
            None => format!("{app}.localhost:{}", self.port),
        }
    }

    /// GET through the front door with the app's Host header.
    pub fn get(&self, app: &str, path: &str) -> (u16, String) {
        http_get(self.port, &self.host(app), path)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Stop the agents' serves (each stops its emperor, apps and router).
        for root in std::iter::once(&self.root).chain(&self.extra_roots) {
            let pidfile = root.join(".jib/agent.pid");
            if let Ok(pid) = std::fs::read_to_string(&pidfile) {
                let pid = pid.trim().to_string();
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                let start = Instant::now();
                while Path::new(&format!("/proc/{pid}")).exists()
                    && start.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

pub const PROD_NAME: &str = "www.prod.test";
pub const PROD_ALIAS: &str = "jibprod";

impl World {
    /// Adds `[env.prod]` to deploy.toml (and commits it): a second root behind the same nginx,
    /// on the same sshd or, with `own_host`, on a second sshd reached as `jibprod`. Returns
    /// the prod root.
    pub fn add_prod(&mut self, own_host: bool, extra: &str) -> PathBuf {
        let root = self.tmp.path().join("prod");
        let host = if own_host {
            let s = Sshd::start_as(self.tmp.path(), "ssh-prod", PROD_ALIAS);
            // One ssh_config with both hosts, as a user would have.
            let block = std::fs::read_to_string(&s.config).unwrap();
            let main = &self.sshd.as_ref().expect("ssh world").config;
            let mut all = std::fs::read_to_string(main).unwrap();
            all.push_str(&block);
            std::fs::write(main, all).unwrap();
            self.prod_sshd = Some(s);
            PROD_ALIAS
        } else {
            HOST_ALIAS
        };
        let n = self.nginx.as_ref().expect("ssh world has nginx");
        let section = format!(
            "\n[env.prod]\nhost = \"{host}\"\nroot = \"{root}\"\ndomains = [\"{PROD_NAME}\"]\n{extra}\n\
             [env.prod.nginx]\nlisten = \"127.0.0.1:{port}\"\nsite = \"{site}\"\nreload = {reload:?}\n",
            root = root.display(),
            port = n.port,
            site = n.dir.join("sites/jib-prod.conf").display(),
            reload = n.reload_command(),
        );
        let mut toml = std::fs::read_to_string(self.repo.join("deploy.toml")).unwrap();
        toml.push_str(&section);
        self.write("deploy.toml", &toml);
        self.commit("add prod");
        self.extra_roots.push(root.clone());
        root
    }

    /// GET on prod's name through nginx.
    pub fn get_prod(&self, path: &str) -> (u16, String) {
        http_get(self.port, PROD_NAME, path)
    }
}

/// Clients hammering one host through the front door, counting what they get.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<LoadReport>>,
}

/// What a [`Load`] saw: 2xx answers, anything else (non-2xx or connection errors), the
/// distinct bodies answered, how long each request took and what the failed ones got.
#[derive(Default)]
pub struct LoadReport {
    pub ok: usize,
    pub bad: usize,
    pub bodies: Vec<String>,
    pub latencies: Vec<Duration>,
    pub failures: Vec<String>,
}

impl LoadReport {
    /// The `q` quantile (0..=1) of request latency; zero when nothing was measured.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        match v.len() {
            0 => Duration::ZERO,
            n => v[((n - 1) as f64 * q).round() as usize],
        }
    }

    pub fn merge(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.bad += other.bad;
        for b in other.bodies {
            if !self.bodies.contains(&b) {
                self.bodies.push(b);
            }
        }
        self.latencies.extend(other.latencies);
        self.failures.extend(other.failures);
    }
}

impl Load {
    pub fn start(port: u16, host: &str, clients: usize) -> Load {
        Self::start_at("127.0.0.1", port, host, clients)
    }

    /// Like [`Load::start`], against `ip`:`port` (e.g. a fleet member's address).
    pub fn start_at(ip: &str, port: u16, host: &str, clients: usize) -> Load {
        let (ip, host) = (ip.to_string(), host.to_string());
        Self::start_with(clients, move || http_get_at(&ip, port, &host, "/"))
    }

    /// `clients` threads each calling `get` (a request: status and body) until stopped.
    pub fn start_with(
        clients: usize,
        get: impl Fn() -> (u16, String) + Send + Sync + 'static,
    ) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let get = std::sync::Arc::new(get);
        let threads = (0..clients)
            .map(|_| {
                let (stop, get) = (stop.clone(), get.clone());
                std::thread::spawn(move || {
                    let mut r = LoadReport::default();
                    while !stop.load(Ordering::SeqCst) {
                        let t = std::time::Instant::now();
                        let (status, body) = get();
                        r.latencies.push(t.elapsed());
                        if (200..300).contains(&status) {
                            r.ok += 1;
                            if !r.bodies.contains(&body) {
                                r.bodies.push(body);
                            }
                        } else {
                            r.bad += 1;
                            r.failures.push(format!("{status} {}", body.trim()));
                        }
                    }
                    r
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        Load { stop, threads }
    }

    pub fn stop(self) -> LoadReport {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut r = LoadReport::default();
        for t in self.threads {
            r.merge(t.join().unwrap());
        }
        r
    }
}

/// A throwaway self-signed certificate for `names` (the first is also its CN), written into
/// `dir`: (cert.pem, key.pem). It is its own CA: clients trust it with `--cacert cert.pem`.
pub fn throwaway_cert(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={}", names[0])])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed");
    assert!(st.success());
    (cert, key)
}

pub fn hello_py(greeting: &str) -> String {
    format!(
        "import os\n\ndef app(environ, start_response):\n    \
         body = ('{greeting} from %s\\n' % os.environ.get('JIB_BRANCH', '?')).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
         return [body]\n"
    )
}

fn copy_tree(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

pub fn git(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("git").args(args).current_dir(dir))
}

/// The whole HTTP/1.0 response (status line, headers, body); empty when nothing listens.
pub fn http_raw(port: u16, host: &str, path: &str) -> String {
    http_raw_at("127.0.0.1", port, host, path)
}

/// [`http_raw`] against `ip`:`port`.
pub fn http_raw_at(ip: &str, port: u16, host: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect((ip, port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // A server going away (a router being restarted) resets the connection: no answer.
    if write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Status and body. Status 0: nothing listening (or the connection was cut).
pub fn http_get(port: u16, host: &str, path: &str) -> (u16, String) {
    http_get_at("127.0.0.1", port, host, path)
}

/// [`http_get`] against `ip`:`port`.
pub fn http_get_at(ip: &str, port: u16, host: &str, path: &str) -> (u16, String) {
    let text = http_raw_at(ip, port, host, path);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs `script` on `alias` with plain `ssh` (benchmarks' baselines); panics when it fails.
pub fn ssh_ok(w: &World, alias: &str, script: &str) {
    let cfg = &w.sshd.as_ref().expect("ssh world").config;
    let out = Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .arg(alias)
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "baseline step failed: {script}\n{}",
        text(&out)
    );
}

/// The ssh master of this world (jib keeps it between commands), by its command line.
pub fn master_pids(w: &World) -> Vec<i32> {
    let cfg = w
        .sshd
        .as_ref()
        .unwrap()
        .config
        .to_string_lossy()
        .into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("ssh"))
            && args.iter().any(|a| a == "-M")
            && args.contains(&cfg)
        {
            out.push(pid);
        }
    }
    out
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
