//! A branch gets a prod-like environment: JIB_* variables, a release step before traffic
//! switches, static files served by nginx from the current release, its own MongoDB database
//! with `jib mongo`, Celery workers and cron beside the web app, HTTPS with a wildcard cert.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn head(w: &World, rev: &str) -> String {
    String::from_utf8_lossy(&git(&w.repo, &["rev-parse", rev]).stdout)
        .trim()
        .to_string()
}

/// A background service stopped on drop.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(cmd: &mut Command, port: u16, what: &str) -> Service {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} must be installed (bash .ci/run installs it): {e}"));
    let s = Service(child);
    wait_for(&format!("{what} did not listen on {port}"), 20, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    s
}

#[test]
fn release_step_static_files_and_jib_variables() {
    let w = World::new(Mode::Ssh);
    w.write(
        "deploy.toml",
        &w.deploy_toml(
            "wsgi = \"app:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n\
             release = \"mkdir -p built && echo built-$JIB_ENV-$JIB_COMMIT > built/version.txt\"\n\
             static = { \"/built/\" = \"built\", \"/assets/\" = \"assets\" }\n",
        ),
    );
    w.write("requirements.txt", "");
    w.write("assets/site.css", "body { color: red }\n");
    w.write(
        "app.py",
        "import os\n\ndef app(environ, start_response):\n    \
         body = ' '.join('%s=%s' % (k, os.environ.get(k)) for k in ('JIB_ENV', 'JIB_APP', 'JIB_BRANCH', 'JIB_URL', 'JIB_COMMIT')).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("app");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    let sha = head(&w, "HEAD");

    // Every app knows where and what it is.
    let (status, body) = w.get("main", "/");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(
            "JIB_ENV=dev JIB_APP=main JIB_BRANCH=main JIB_URL=http://main.{DOMAIN}:{} JIB_COMMIT={sha}",
            w.port
        )
    );

    // The release step ran in the new release; nginx serves its output and the committed
    // assets itself, with cache headers.
    let r = http_raw(w.port, &w.host("main"), "/built/version.txt");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("Cache-Control: public"), "{r}");
    assert!(r.contains("Expires:"), "{r}");
    assert!(r.ends_with(&format!("built-dev-{sha}\n")), "{r}");
    let r = http_raw(w.port, &w.host("main"), "/assets/site.css");
    assert!(r.ends_with("body { color: red }\n"), "{r}");
    // Not through Python: the app's log has no line for them.
    let log = w.jib_ok(&["logs", "main"]);
    assert!(!log.contains("/assets/site.css"), "{log}");
    let r = http_raw(w.port, &w.host("main"), "/assets/../deploy.toml");
    assert!(!r.contains("[app]"), "{r}");

    // A new release switches its static files with it.
    w.write("assets/site.css", "body { color: blue }\n");
    w.commit("blue");
    w.jib_ok(&["push"]);
    let sha2 = head(&w, "HEAD");
    assert!(http_raw(w.port, &w.host("main"), "/assets/site.css").ends_with("blue }\n"));
    assert!(
        http_raw(w.port, &w.host("main"), "/built/version.txt")
            .ends_with(&format!("built-dev-{sha2}\n"))
    );

    // A failing release step stops the deploy before any traffic moves.
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &toml.replace(
            "release = \"mkdir",
            "release = \"echo migrating; echo no database >&2; exit 3; mkdir",
        ),
    );
    w.write("assets/site.css", "body { color: green }\n");
    w.commit("green, broken migration");
    let out = w.jib(&["push"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("release step failed"), "{t}");
    assert!(t.contains("no database"), "{t}");
    assert!(t.contains("previous release is still serving"), "{t}");
    assert!(http_raw(w.port, &w.host("main"), "/assets/site.css").ends_with("blue }\n"));

    // A Python that is not there is named, with what to install.
    w.write(
        "deploy.toml",
        &toml.replace("health_timeout", "python = \"3.99\"\nhealth_timeout"),
    );
    w.commit("python 3.99");
    let out = w.jib(&["push"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("python3.99 is not installed"), "{t}");
    assert!(t.contains("apt-get install"), "{t}");
}

/// nx-27017: a MongoDB wire-protocol server from PyPI, one SQLite file per database.
fn mongo_server(dir: &Path) -> (Service, u16) {
    let bin = std::env::var_os("JIB_TEST_NX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/jib-test/nx/bin/nx-27017"));
    let data = dir.join("mongo");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let s = start_service(
        Command::new(&bin)
            .args(["--host", "127.0.0.1", "-p", &port.to_string(), "--data-dir"])
            .arg(&data)
            .arg("--pid-file")
            .arg(data.join("nx.pid"))
            .arg("--log-file")
            .arg(data.join("nx.log")),
        port,
        "nx-27017",
    );
    (s, port)
}

fn mongosh(url: &str, js: &str) -> String {
    let out = Command::new("mongosh")
        .args([url, "--quiet", "--eval", js])
        .output()
        .expect("mongosh (npm) must be installed");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every process's command line (arguments joined by spaces) and environment.
fn processes() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let read = |p: PathBuf| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default()
    };
    dir.flatten()
        .map(|e| {
            (
                read(e.path().join("cmdline")),
                read(e.path().join("environ")),
            )
        })
        .collect()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Runs jib to its end while watching every process's argv (what `ps` shows any local user):
/// none may contain `secret`, plainly or hex-encoded. Returns jib's output and whether a
/// process had `probe` in its environment (so the watch is known to have looked in time).
fn jib_watching_argv(w: &World, args: &[&str], secret: &str, probe: &str) -> (Output, bool) {
    let child = w
        .jib_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::thread::spawn(move || child.wait_with_output().unwrap());
    let mut seen = false;
    while !reader.is_finished() {
        for (cmdline, environ) in processes() {
            assert!(
                !cmdline.contains(secret) && !cmdline.contains(&hex(secret)),
                "a command line shows the database URL: {cmdline}"
            );
            seen |= environ.contains(probe);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (reader.join().unwrap(), seen)
}

#[test]
fn each_branch_has_its_own_database_and_a_shell_into_it() {
    let w = World::new(Mode::Ssh);
    let (_mongo, port) = mongo_server(w.tmp.path());
    let base = w.deploy_toml(
        "wsgi = \"app:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
    );
    w.write(
        "deploy.toml",
        &format!(
            "{base}\n[env.dev.mongo]\nurl = \"mongodb://127.0.0.1:{port}\"\nprefix = \"shop\"\n"
        ),
    );
    w.write("requirements.txt", "pymongo>=4,<5\n");
    w.write(
        "app.py",
        "import os\nfrom pymongo import MongoClient\n\n\
         db = MongoClient(os.environ['MONGO_URL'])[os.environ['MONGO_DB']]\n\n\
         def app(environ, start_response):\n    \
         name = environ.get('QUERY_STRING', '')\n    \
         if name:\n        db.users.insert_one({'name': name, 'profil': {'age': 10}})\n    \
         body = ('%s %d' % (os.environ['MONGO_DB'], db.users.count_documents({}))).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("mongo app");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push", "main"]);
    git(&w.repo, &["checkout", "-q", "-b", "feature"]);
    w.jib_ok(&["push"]);

    // A document written by feature's app is invisible to main's.
    assert_eq!(w.get("feature", "/?ann").1, "shop_feature 1");
    assert_eq!(w.get("main", "/").1, "shop_main 0");

    // `jib mongo --eval`: the seed's query, on the branch's own database, on the server.
    let out = w.jib(&[
        "mongo",
        "feature",
        "--eval",
        "db.users.find({'profil.age': 10}, {_id: 0})",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("name: 'ann'") && t.contains("age: 10"), "{t}");
    let out = w.jib(&["mongo", "main", "--eval", "db.users.countDocuments()"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        text(&out)
    );
    // The shell runs on the server without the URL in its argv, readable by every user there.
    let secret = format!("mongodb://127.0.0.1:{port}");
    let in_env = format!("JIB_MONGO_URL={secret}/shop_feature ");
    let (out, seen) = jib_watching_argv(
        &w,
        &["mongo", "feature", "--eval", "sleep(1000); 'slept'"],
        &secret,
        &in_env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("slept"), "{}", text(&out));
    assert!(seen, "no shell with the URL in its environment was seen");
    // A failing script's status comes back.
    let out = w.jib(&["mongo", "feature", "--eval", "throw new Error('boom')"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("boom"));

    // Interactive, through a real terminal.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jib"));
    cmd.args(["mongo", "feature"])
        .current_dir(&w.repo)
        .env("TERM", "dumb")
        .env("JIB_SSH_CONFIG", &w.sshd.as_ref().unwrap().config);
    let mut p = expectrl::Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    use expectrl::Expect;
    p.expect("shop_feature>").unwrap();
    // The interactive shell's own argv has no URL either, and no command line anywhere (the
    // laptop's ssh, the agent's) holds it plainly or hex-encoded: the terminal's request was
    // stashed on the server, only a one-time token rides in argv.
    let anywhere: Vec<String> = processes()
        .into_iter()
        .map(|(cmdline, _)| cmdline)
        .filter(|c| c.contains(&secret) || c.contains(&hex(&secret)))
        .collect();
    assert!(anywhere.is_empty(), "{anywhere:?}");
    let shells: Vec<String> = processes()
        .into_iter()
        .filter(|(_, environ)| environ.contains(&in_env))
        .map(|(cmdline, _)| cmdline)
        .collect();
    assert!(
        !shells.is_empty(),
        "no shell with the URL in its environment"
    );
    assert!(!shells.iter().any(|c| c.contains(&secret)), "{shells:?}");
    p.send_line("db.users.countDocuments({'profil.age': 10}) * 7")
        .unwrap();
    p.expect("7").unwrap();
    p.send_line("exit").unwrap();
    match p.get_process_mut().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, 0) => {}
        other => panic!("jib mongo ended with {other:?}"),
    }

    // destroy keeps the database unless asked; --drop-db drops it.
    let url = format!("mongodb://127.0.0.1:{port}");
    w.jib_ok(&["destroy", "feature", "--yes"]);
    assert_eq!(
        mongosh(&format!("{url}/shop_feature"), "db.users.countDocuments()"),
        "1"
    );
    w.jib_ok(&["push", "feature"]);
    let (out, _) = jib_watching_argv(
        &w,
        &["destroy", "feature", "--yes", "--drop-db"],
        &secret,
        &in_env,
    );
    let out = text(&out);
    assert!(out.contains("database dropped"), "{out}");
    assert_eq!(
        mongosh(&format!("{url}/shop_feature"), "db.users.countDocuments()"),
        "0"
    );
    assert_eq!(w.get("main", "/").1, "shop_main 0");

    // Seeding a branch's database from another one replaces it, after asking.
    w.jib_ok(&["push", "feature"]);
    w.get("feature", "/?bob");
    assert_eq!(w.get("feature", "/?eve").1, "shop_feature 2");
    let out = w.jib(&["mongo", "main", "--copy-from", "feature"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // The source's URL (prod's credentials, say) stays out of argv too.
    let (out, _) = jib_watching_argv(
        &w,
        &["mongo", "main", "--copy-from", "feature", "--yes"],
        &secret,
        &format!("JIB_MONGO_SRC_URL={secret}/shop_feature "),
    );
    let out = text(&out);
    assert!(out.contains("copied 2 documents"), "{out}");
    assert_eq!(w.get("main", "/").1, "shop_main 2");
    assert_eq!(w.get("feature", "/").1, "shop_feature 2");
}

#[test]
fn celery_workers_and_cron_run_beside_the_app() {
    let w = World::new(Mode::Ssh);
    let redis_port = free_port();
    let _redis = start_service(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(w.tmp.path()),
        redis_port,
        "redis-server",
    );
    let marks = w.tmp.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let base = w.deploy_toml(
        "wsgi = \"app:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 20\n",
    );
    w.write(
        "deploy.toml",
        &format!(
            "{base}\n[env.dev.env]\nREDIS_URL = \"redis://127.0.0.1:{redis_port}/0\"\n\
             PYTHONWARNINGS = \"ignore:You're running the worker with superuser\"\n\n\
             [processes]\nworker = \"celery -A tasks worker -l info -P solo -c 1 --without-mingle --without-gossip --without-heartbeat\"\n\n\
             [cron]\n\"*/2 * * * * *\" = \"echo tick from $JIB_APP\"\n"
        ),
    );
    w.write("requirements.txt", "celery[redis]>=5.3,<6\n");
    w.write(
        "tasks.py",
        "import os\nfrom celery import Celery\n\n\
         app = Celery('tasks', broker=os.environ['REDIS_URL'])\n\
         app.conf.broker_transport_options = {'polling_interval': 0.1}\n\
         app.conf.broker_connection_retry_on_startup = True\n\n\
         @app.task\ndef mark(path):\n    with open(path, 'w') as f:\n        f.write(os.environ['JIB_BRANCH'])\n",
    );
    w.write(
        "app.py",
        "import tasks\n\ndef app(environ, start_response):\n    \
         path = environ.get('QUERY_STRING', '')\n    \
         if path:\n        tasks.mark.delay(path)\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'queued']\n",
    );
    w.commit("celery");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);

    // A task queued by a web request runs in this branch's worker.
    let mark = marks.join("one");
    let (status, body) = w.get("main", &format!("/?{}", mark.display()));
    assert_eq!(
        body,
        "queued",
        "{status}\n{}\n{}\n{}",
        text(&w.jib(&["logs", "main", "-n", "40"])),
        std::fs::read_to_string(w.root.join("main/log/proc-supervisor.log")).unwrap_or_default(),
        std::fs::read_to_string(w.root.join("main/log/proc-worker.log")).unwrap_or_default()
    );
    wait_for("the worker never ran the task", 30, || mark.exists());
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "main");

    let worker_pid = || -> Option<i64> {
        let out = w.jib(&["status", "main", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let s = v["status"]["processes"]["worker"].as_str()?.to_string();
        s.strip_prefix("running (pid ")?
            .strip_suffix(')')?
            .parse()
            .ok()
    };
    let first = worker_pid().expect("status shows the worker running");
    let logs = w.jib_ok(&["logs", "main", "--process", "worker"]);
    assert!(logs.contains("ready"), "{logs}");
    let out = w.jib_ok(&["list"]);
    assert!(out.contains("main"), "{out}");

    // Cron entries run in the app's environment; their output is in the app's logs.
    // (Until its first run there is no cron log: jib says so, and we ask again.)
    wait_for("cron never ran", 20, || {
        text(&w.jib(&["logs", "main", "--process", "cron"])).contains("tick from main")
    });

    // A restart restarts the workers too.
    w.jib_ok(&["restart", "main"]);
    wait_for("the worker was not restarted", 30, || {
        worker_pid().is_some_and(|p| p != first)
    });
    let second = worker_pid().unwrap();
    assert!(!Path::new(&format!("/proc/{first}")).exists());
    let mark = marks.join("two");
    w.get("main", &format!("/?{}", mark.display()));
    wait_for("the restarted worker never ran the task", 30, || {
        mark.exists()
    });

    // Destroy stops them.
    w.jib_ok(&["destroy", "main", "--yes"]);
    wait_for("the worker outlived its app", 20, || {
        !Path::new(&format!("/proc/{second}")).exists()
    });
}

#[test]
fn https_with_a_wildcard_certificate() {
    let w = World::new(Mode::Ssh);
    let (cert, key) = throwaway_cert(&w.tmp.path().join("certs"), &[&format!("*.{DOMAIN}")]);
    let tls_port = free_port();
    let base = w.deploy_toml(
        "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n",
    );
    w.write(
        "deploy.toml",
        &format!(
            "{base}\n[env.dev.tls]\ncert = \"{}\"\nkey = \"{}\"\nlisten = \"127.0.0.1:{tls_port}\"\n",
            cert.display(),
            key.display()
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("secure"));
    w.commit("tls");
    w.jib_ok(&["setup"]);
    let out = w.jib_ok(&["push"]);
    let url = format!("https://main.{DOMAIN}:{tls_port}");
    assert!(out.contains(&url), "{out}");

    // A client that trusts the certificate gets the app over HTTPS…
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .args([
            "--resolve",
            &format!("main.{DOMAIN}:{tls_port}:127.0.0.1"),
            &format!("{url}/"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secure from main\n");
    // …and plain HTTP is redirected there.
    let r = http_raw(w.port, &w.host("main"), "/page?x=1");
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert!(r.contains(&format!("Location: {url}/page?x=1")), "{r}");
    assert_eq!(w.jib_ok(&["open", "main"]).trim(), url);
}
