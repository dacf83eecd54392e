//! Test harness: a real sshd on a loopback port (throwaway host and user keys, a known_hosts
//! file, an ssh_config alias), a real nginx, the real agent under a temp root, and sample apps
//! in real git repositories. Everything started here is stopped by PID on drop, even when a
//! test fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "dev.test";
pub const HOST_ALIAS: &str = "jibtest";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not listen on {port}"
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
        let dir = dir.join("ssh");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        for (name, comment) in [("host_key", "host"), ("user_key", "user")] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(dir.join(name)));
        }
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let cfg = dir.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100\nLogLevel ERROR\n",
                d = dir.display()
            ),
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
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let mut parts = host_pub.split_whitespace();
        let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let config = dir.join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host {HOST_ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {d}/user_key\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  \
                 GlobalKnownHostsFile /dev/null\n",
                d = dir.display()
            ),
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

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real nginx on a loopback port, including whatever sites the agent links into `sites/`.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    pub fn start(dir: &Path) -> Nginx {
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("sites")).unwrap();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::copy("/etc/nginx/uwsgi_params", dir.join("uwsgi_params"))
            .expect("nginx must be installed");
        let port = free_port();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nuser www-data;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  \
                 server {{ listen 127.0.0.1:{port} default_server; return 421; }}\n  include {d}/sites/*.conf;\n}}\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed");
        wait_port(port, "nginx");
        Nginx { child, port, dir }
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
        // Stop the agent's serve (it stops the emperor, the apps and the router).
        let pidfile = self.root.join(".jib/agent.pid");
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

pub fn http_get(port: u16, host: &str, path: &str) -> (u16, String) {
    // Status 0: nothing listening (or the connection was cut).
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
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

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
