//! Certificates from an ACME server, against real ones on loopback: Debian's `pebble` (Let's
//! Encrypt's test CA) resolving names through a real `bind9`, which also takes the TSIG-signed
//! RFC 2136 updates of DNS-01. HTTP-01 for prod's exact name through nginx, the DNS-01
//! wildcard for every branch, one certificate per branch by HTTP-01 without `dns` (obtained at
//! the branch's first push, reused, renewed, removed by destroy), HTTPS verified against
//! pebble's root, a renewal under load with no failed request, and a dead ACME server leaving
//! the old certificate serving.
//! Prints how long obtaining and renewing took.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

/// A process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
}

fn wait_port(port: u16, what: &str) {
    wait_until(what, 20, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// bind9 on a loopback port, authoritative for `test.`: `*.dev.test`, `dev.test` and
/// `www.prod.test` at 127.0.0.1, updates allowed with the TSIG key `jib`.
struct Bind {
    _proc: Proc,
    port: u16,
    /// The key as `tsig-keygen` wrote it (what `tsig_secret_file` points at).
    key_file: PathBuf,
}

impl Bind {
    fn start(dir: &Path) -> Bind {
        let dir = dir.join("bind");
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("jib.key");
        let key = Command::new("tsig-keygen")
            .args(["-a", "hmac-sha256", "jib"])
            .output()
            .expect("bind9 must be installed (tsig-keygen)");
        assert!(key.status.success());
        std::fs::write(&key_file, &key.stdout).unwrap();
        std::fs::write(
            dir.join("test.zone"),
            "$TTL 60\n@ IN SOA ns.test. admin.test. ( 1 60 60 600 60 )\n@ IN NS ns.test.\n\
             ns IN A 127.0.0.1\ndev IN A 127.0.0.1\n*.dev IN A 127.0.0.1\nwww.prod IN A 127.0.0.1\n",
        )
        .unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "include \"{d}/jib.key\";\noptions {{\n  directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  \
                 listen-on-v6 {{ none; }};\n  pid-file \"{d}/named.pid\";\n  session-keyfile \"{d}/session.key\";\n  \
                 recursion no;\n  dnssec-validation no;\n  notify no;\n}};\ncontrols {{ }};\n\
                 zone \"test\" {{ type primary; file \"{d}/test.zone\"; allow-update {{ key \"jib\"; }}; }};\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("named.log")).unwrap();
        let child = Command::new("named")
            .arg("-g")
            .arg("-c")
            .arg(dir.join("named.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("bind9 must be installed (named)");
        let p = Proc(child);
        wait_port(port, "named listens");
        Bind {
            _proc: p,
            port,
            key_file,
        }
    }
}

/// pebble with a throwaway CA for its own API, validating HTTP-01 on `http_port` and
/// resolving names through `dns_port`.
struct Pebble {
    proc: Option<Proc>,
    /// The directory URL.
    url: String,
    /// Trusted for the ACME API's TLS (`acme_ca`).
    api_ca: PathBuf,
    /// The root pebble issues under (fetched from its management API).
    root: PathBuf,
}

impl Pebble {
    fn start(dir: &Path, http_port: u16, dns_port: u16) -> Pebble {
        let dir = dir.join("pebble");
        std::fs::create_dir_all(&dir).unwrap();
        let p = |f: &str| dir.join(f);
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=jib test ACME API CA"])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem")));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(p("key.pem"))
            .arg("-out")
            .arg(p("csr.pem")));
        std::fs::write(
            p("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("csr.pem"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("cert.pem")));
        let (api, mgmt) = (free_port(), free_port());
        std::fs::write(
            p("config.json"),
            format!(
                "{{\"pebble\": {{\"listenAddress\": \"127.0.0.1:{api}\", \"managementListenAddress\": \"127.0.0.1:{mgmt}\", \
                 \"certificate\": \"{}\", \"privateKey\": \"{}\", \"httpPort\": {http_port}, \"tlsPort\": {}, \
                 \"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": false}}}}",
                p("cert.pem").display(),
                p("key.pem").display(),
                free_port()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(p("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(p("config.json"))
            .arg("-dnsserver")
            .arg(format!("127.0.0.1:{dns_port}"))
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble must be installed");
        let proc = Proc(child);
        wait_port(api, "pebble's API listens");
        wait_port(mgmt, "pebble's management API listens");
        run(Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(p("ca.pem"))
            .arg("-o")
            .arg(p("root.pem"))
            .arg(format!("https://localhost:{mgmt}/roots/0")));
        Pebble {
            proc: Some(proc),
            url: format!("https://localhost:{api}/dir"),
            api_ca: p("ca.pem"),
            root: p("root.pem"),
        }
    }

    fn stop(&mut self) {
        self.proc = None;
    }
}

/// GET `https://<host>:<port>/` trusting only `root`: status and body (000 when the TLS
/// handshake or the connection fails).
fn https_get(port: u16, host: &str, root: &Path) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("curl runs");
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = body.rsplit_once('\n').unwrap_or(("", "0"));
    let code = code.trim().parse().unwrap_or(0);
    if code == 0 {
        return (0, String::from_utf8_lossy(&out.stderr).into_owned());
    }
    (code, body.to_string())
}

/// The serial of the certificate nginx serves for `host`.
fn served_serial(port: u16, host: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername {host} </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn status_json(root: &Path) -> serde_json::Value {
    std::fs::read(root.join(".jib/acme/status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The installed certificate's serial, as the agent stored it.
fn stored_serial(root: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(root.join(".jib/acme/cert.pem"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn prod_gets_a_certificate_by_http01_renews_it_under_load_and_survives_a_dead_acme_server() {
    let mut w = World::new(Mode::Ssh);
    w.hello_app("secure");
    let bind = Bind::start(w.tmp.path());
    let mut pebble = Pebble::start(w.tmp.path(), w.port, bind.port);
    let prod = w.add_prod(false, "");
    let tls_port = free_port();
    let mut toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    // Renewed 25 s after issue (pebble's certificates last years): the test sees two renewals.
    toml.push_str(&format!(
        "\n[env.prod.tls]\nacme = \"{}\"\nacme_ca = \"{}\"\nemail = \"ops@example.com\"\nlisten = \"127.0.0.1:{tls_port}\"\nrenew_after = \"25s\"\n",
        pebble.url,
        pebble.api_ca.display()
    ));
    w.write("deploy.toml", &toml);
    w.commit("prod over https");

    w.jib_ok(&["setup"]);
    let t = Instant::now();
    let out = w.jib_ok(&["setup", "-e", "prod"]);
    let setup_took = t.elapsed();
    assert!(out.contains("certificate"), "{out}");
    assert!(out.contains(&format!("{PROD_NAME} obtained")), "{out}");
    let obtain_ms = status_json(&prod)["took_ms"].as_u64().unwrap_or(0);
    eprintln!(
        "TIMING http-01: certificate obtained in {obtain_ms} ms (agent), `jib setup -e prod` took {} ms in all",
        setup_took.as_millis()
    );
    // Root's alone.
    assert_eq!(mode(&prod.join(".jib/acme")), 0o700);
    for f in ["cert.pem", "account.json", "status.json"] {
        assert_eq!(mode(&prod.join(".jib/acme").join(f)), 0o600, "{f}");
    }

    w.jib_ok(&["push", "main"]);
    w.jib_ok(&["promote", "main", "--yes"]);
    // Verified against pebble's root, for prod's exact name.
    assert_eq!(
        https_get(tls_port, PROD_NAME, &pebble.root),
        (200, "secure from main\n".into())
    );
    let first = stored_serial(&prod);
    assert_eq!(served_serial(tls_port, PROD_NAME), first);

    // A renewal while clients keep coming: each request a new TLS connection.
    let root = pebble.root.clone();
    let load = Load::start_with(4, move || https_get(tls_port, PROD_NAME, &root));
    wait_until("the certificate is renewed", 60, || {
        stored_serial(&prod) != first
    });
    let renewed = stored_serial(&prod);
    wait_until("nginx serves the renewed certificate", 10, || {
        served_serial(tls_port, PROD_NAME) == renewed
    });
    std::thread::sleep(Duration::from_secs(1));
    let r = load.stop();
    let renew_ms = status_json(&prod)["took_ms"].as_u64().unwrap_or(0);
    eprintln!(
        "TIMING renewal: {renew_ms} ms (agent, order to installed), under load: {} requests, {} failed, p99 {:?}",
        r.ok + r.bad,
        r.bad,
        r.quantile(0.99)
    );
    assert_eq!(
        r.bad, 0,
        "failed requests during the renewal: {:?}",
        r.failures
    );
    assert!(r.ok > 10, "{} requests", r.ok);

    // The ACME server goes away: the next renewal fails, the certificate keeps serving.
    pebble.stop();
    wait_until("the failed renewal is recorded", 60, || {
        status_json(&prod)["error"].is_string()
    });
    let st = status_json(&prod);
    assert!(st["retry_at"].is_string(), "{st}");
    assert_eq!(stored_serial(&prod), renewed);
    assert_eq!(served_serial(tls_port, PROD_NAME), renewed);
    assert_eq!(
        https_get(tls_port, PROD_NAME, &pebble.root),
        (200, "secure from main\n".into())
    );
    let agent_log = std::fs::read_to_string(prod.join(".jib/log/agent.log")).unwrap_or_default();
    assert!(
        agent_log.contains("the current certificate keeps serving"),
        "{agent_log}"
    );
    let doctor = text(&w.jib(&["doctor", "-e", "prod"]));
    assert!(doctor.contains("renewal failed"), "{doctor}");
    assert!(doctor.contains("keeps serving until"), "{doctor}");
    let status = w.jib_ok(&["status", "-e", "prod"]);
    assert!(status.contains("valid until"), "{status}");
    assert!(status.contains("FAILED"), "{status}");
}

#[test]
fn branches_share_a_wildcard_obtained_by_dns01_through_a_real_dns_server() {
    let w = World::new(Mode::Ssh);
    let bind = Bind::start(w.tmp.path());
    let pebble = Pebble::start(w.tmp.path(), w.port, bind.port);
    let tls_port = free_port();
    let base = w.deploy_toml(
        "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n",
    );
    w.write(
        "deploy.toml",
        &format!(
            "{base}\n[env.dev.tls]\nacme = \"{}\"\nacme_ca = \"{}\"\nlisten = \"127.0.0.1:{tls_port}\"\n\
             dns = {{ server = \"127.0.0.1:{}\", zone = \"test\", tsig_key = \"jib\", tsig_secret_file = \"{}\", tsig_algorithm = \"hmac-sha256\" }}\n",
            pebble.url,
            pebble.api_ca.display(),
            bind.port,
            bind.key_file.display()
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("wild"));
    w.commit("wildcard");
    let t = Instant::now();
    let out = w.jib_ok(&["setup"]);
    let setup_took = t.elapsed();
    assert!(
        out.contains(&format!("*.{DOMAIN}, {DOMAIN} obtained")),
        "{out}"
    );
    let obtain_ms = status_json(&w.root)["took_ms"].as_u64().unwrap_or(0);
    eprintln!(
        "TIMING dns-01: wildcard obtained in {obtain_ms} ms (agent), `jib setup` took {} ms in all",
        setup_took.as_millis()
    );
    // Two branches, one certificate, each verified against pebble's root.
    w.jib_ok(&["push", "main"]);
    git(&w.repo, &["checkout", "-q", "-b", "feature"]);
    w.jib_ok(&["push"]);
    for b in ["main", "feature"] {
        assert_eq!(
            https_get(tls_port, &format!("{b}.{DOMAIN}"), &pebble.root),
            (200, format!("wild from {b}\n"))
        );
    }
    // Plain HTTP still redirects to HTTPS.
    let r = http_raw(w.port, &w.host("main"), "/");
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    // A second setup keeps the certificate it has.
    let before = stored_serial(&w.root);
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("installed"), "{out}");
    assert_eq!(stored_serial(&w.root), before);
}

/// The names a stored certificate covers, as openssl lists them.
fn stored_names(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(",")
}

fn serial_of(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn without_dns_each_branch_gets_its_own_certificate_by_http01_at_its_first_push() {
    let w = World::new(Mode::Ssh);
    let bind = Bind::start(w.tmp.path());
    let mut pebble = Pebble::start(w.tmp.path(), w.port, bind.port);
    let tls_port = free_port();
    let base = w.deploy_toml(
        "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 10\n",
    );
    w.write(
        "deploy.toml",
        &format!(
            "{base}\n[env.dev.tls]\nacme = \"{}\"\nacme_ca = \"{}\"\nlisten = \"127.0.0.1:{tls_port}\"\nrenew_after = \"25s\"\n",
            pebble.url,
            pebble.api_ca.display(),
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &hello_py("per-branch"));
    w.commit("a certificate per branch");
    w.jib_ok(&["setup"]);
    let certs = w.root.join(".jib/acme/certs");
    let cert = |b: &str| certs.join(format!("{b}.{DOMAIN}.pem"));

    // Branch alpha's first push obtains its certificate, for exactly its name.
    git(&w.repo, &["checkout", "-q", "-b", "alpha"]);
    let t = Instant::now();
    let out = w.jib_ok(&["push"]);
    let push_took = t.elapsed();
    assert!(
        out.contains(&format!("alpha.{DOMAIN} obtained, valid until")),
        "{out}"
    );
    let st: serde_json::Value = std::fs::read(certs.join(format!("alpha.{DOMAIN}.status.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    eprintln!(
        "TIMING per-branch http-01: certificate obtained in {} ms (agent), the first `jib push` took {} ms in all",
        st["took_ms"].as_u64().unwrap_or(0),
        push_took.as_millis()
    );
    assert_eq!(stored_names(&cert("alpha")), format!("DNS:alpha.{DOMAIN}"));
    assert_eq!(mode(&cert("alpha")), 0o600);
    assert_eq!(mode(&certs), 0o700);
    wait_until("nginx serves alpha over HTTPS", 10, || {
        https_get(tls_port, &format!("alpha.{DOMAIN}"), &pebble.root).0 == 200
    });
    assert_eq!(
        https_get(tls_port, &format!("alpha.{DOMAIN}"), &pebble.root),
        (200, "per-branch from alpha\n".into())
    );
    // Plain HTTP redirects once serve has reloaded nginx with the branch's servers.
    wait_until("plain HTTP to alpha redirects", 10, || {
        http_raw(w.port, &w.host("alpha"), "/").starts_with("HTTP/1.1 301")
    });
    let status = w.jib_ok(&["status", "alpha"]);
    assert!(status.contains("valid until"), "{status}");

    // Branch beta: its own certificate.
    git(&w.repo, &["checkout", "-q", "-b", "beta"]);
    let out = w.jib_ok(&["push"]);
    assert!(
        out.contains(&format!("beta.{DOMAIN} obtained, valid until")),
        "{out}"
    );
    assert_eq!(stored_names(&cert("beta")), format!("DNS:beta.{DOMAIN}"));
    wait_until("nginx serves beta over HTTPS", 10, || {
        https_get(tls_port, &format!("beta.{DOMAIN}"), &pebble.root)
            == (200, "per-branch from beta\n".into())
    });
    assert_eq!(
        served_serial(tls_port, &format!("beta.{DOMAIN}")),
        serial_of(&cert("beta"))
    );

    // alpha again, with a new commit: the same certificate, no new order.
    let alpha_serial = serial_of(&cert("alpha"));
    git(&w.repo, &["checkout", "-q", "alpha"]);
    w.write("hello.py", &hello_py("per-branch again"));
    w.commit("again");
    let out = w.jib_ok(&["push"]);
    assert!(!out.contains("certificate"), "{out}");
    assert_eq!(serial_of(&cert("alpha")), alpha_serial);
    assert_eq!(
        https_get(tls_port, &format!("alpha.{DOMAIN}"), &pebble.root),
        (200, "per-branch again from alpha\n".into())
    );

    // beta goes, and its certificate with it; alpha keeps serving over HTTPS.
    w.jib_ok(&["destroy", "beta", "--yes"]);
    assert!(!cert("beta").exists());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        https_get(tls_port, &format!("alpha.{DOMAIN}"), &pebble.root).0,
        200
    );

    // serve renews a branch's certificate when due (here 25 s after issue) and nginx serves
    // the new one.
    let t = Instant::now();
    wait_until("alpha's certificate is renewed", 60, || {
        serial_of(&cert("alpha")) != alpha_serial
    });
    let renewed = serial_of(&cert("alpha"));
    wait_until("nginx serves alpha's renewed certificate", 10, || {
        served_serial(tls_port, &format!("alpha.{DOMAIN}")) == renewed
    });
    eprintln!(
        "TIMING per-branch renewal: seen {} ms after the wait began",
        t.elapsed().as_millis()
    );

    // The CA is gone: a new branch's push still deploys, serves plain HTTP and says why.
    pebble.stop();
    git(&w.repo, &["checkout", "-q", "-b", "gamma"]);
    let out = w.jib_ok(&["push"]);
    assert!(out.contains("serves plain HTTP meanwhile"), "{out}");
    assert!(out.contains("retries with backoff"), "{out}");
    assert!(
        out.contains(&format!("live at http://gamma.{DOMAIN}:{}", w.port)),
        "{out}"
    );
    assert!(!cert("gamma").exists());
    let r = http_raw(w.port, &w.host("gamma"), "/");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("per-branch again from gamma"), "{r}");
    let status = text(&w.jib(&["status", "gamma"]));
    assert!(status.contains("FAILED"), "{status}");
    // What lists it (jib list, the branch index) says how it answers now.
    let list = w.jib_json(&["list", "--json"]);
    let url = |app: &str| {
        list.as_array()
            .and_then(|a| a.iter().find(|x| x["app"] == app))
            .and_then(|x| x["url"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(url("gamma").starts_with("http://"), "{list}");
    assert!(url("alpha").starts_with("https://"), "{list}");
    let doctor = text(&w.jib(&["doctor"]));
    assert!(
        doctor.contains(&format!(
            "gamma.{DOMAIN}: none obtained, plain HTTP meanwhile"
        )),
        "{doctor}"
    );
}
