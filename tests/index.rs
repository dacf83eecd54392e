//! The branch index (`index` in deploy.toml): a real browser (headless Chromium) loads the
//! bare domain through nginx and sees every live branch, linked, sleeping ones as sleeping; the
//! JSON twin has `jib list --json`'s fields; nginx asks for a password over HTTPS when told to;
//! prod lends it `/.jib/`. Nothing of the apps' variables ever shows.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// Headless Chromium on `url`, every host name resolved to 127.0.0.1 (so the request reaches
/// the test's nginx with the real Host header), with a profile of this world's own.
fn chromium(w: &World, args: &[&str], url: &str) -> Output {
    // `timeout`: a browser that hangs must fail the test, not stall the suite.
    let out = Command::new("timeout")
        .args([
            "90",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .args(["--no-proxy-server", "--host-resolver-rules=MAP * 127.0.0.1"])
        .arg(format!(
            "--user-data-dir={}",
            w.tmp.path().join("chromium").display()
        ))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium must be installed (apt-get install chromium)");
    assert!(
        out.status.success(),
        "chromium {args:?} {url}: {}",
        text(&out)
    );
    out
}

/// The `(app, state, href)` of each card in the page's DOM, in order.
fn cards(dom: &str) -> Vec<(String, String, String)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..].split('"').next()?.to_string())
    };
    dom.split("<li ")
        .skip(1)
        .map(|li| {
            let tag = li.split('>').next().unwrap_or_default();
            let href = li
                .split("<a ")
                .nth(1)
                .and_then(|a| attr(a, "href"))
                .unwrap_or_default();
            (
                attr(tag, "data-app").unwrap_or_default(),
                attr(tag, "data-state").unwrap_or_default(),
                href,
            )
        })
        .collect()
}

fn list(w: &World) -> Vec<serde_json::Value> {
    w.jib_json(&["list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_browser_sees_every_live_branch_and_which_sleep() {
    let w = World::new(Mode::Ssh);
    w.hello_app("hello");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &toml
            .replace("[env.dev]\n", "[env.dev]\nindex = true\nidle = \"3s\"\n")
            .replace(
                "[env.dev]",
                "[app.env]\nAPI_KEY = \"toml-secret-4711\"\n\n[env.dev]",
            ),
    );
    w.commit("index on, idle after 3 s");
    let out = w.jib_ok(&["setup"]);
    let index = format!("http://{DOMAIN}:{}/", w.port);
    assert!(
        out.contains(&format!("the branch index is at {index}, for anyone")),
        "{out}"
    );
    w.jib_ok(&["push"]);
    git(&w.repo, &["checkout", "-q", "-b", "feature/login"]);
    w.write("hello.py", &hello_py("login"));
    // Commit subjects are the branch's words: markup in them stays text.
    w.commit("<b>login</b> page & \"more\"");
    w.jib_ok(&["push"]);
    w.jib_ok(&["env", "feature-login", "set", "TOKEN=env-secret-0815"]);

    // Both fall asleep (3 s without a request).
    let start = Instant::now();
    while !list(&w).iter().all(|a| a["state"] == "sleeping") {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "never asleep: {:?}",
            list(&w)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The page, as a browser renders it through nginx.
    let dom = String::from_utf8_lossy(&chromium(&w, &["--dump-dom"], &index).stdout).into_owned();
    let cards = cards(&dom);
    let url = |app: &str| format!("http://{app}.{DOMAIN}:{}", w.port);
    assert_eq!(
        cards,
        [
            (
                "feature-login".into(),
                "sleeping".into(),
                url("feature-login")
            ),
            ("main".into(), "sleeping".into(), url("main")),
        ],
        "{dom}"
    );
    assert!(dom.contains("branch <code>feature/login</code>"), "{dom}");
    assert!(
        dom.contains("&lt;b&gt;login&lt;/b&gt; page &amp; \"more\"") && !dom.contains("<b>"),
        "{dom}"
    );
    let by = list(&w)[0]["deployed_by"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(dom.contains(&format!("deployed by {by} · ")), "{dom}");
    assert!(dom.contains("2 apps: 2 sleeping"), "{dom}");
    // A phone-sized screenshot: a real PNG, kept for a look after the run.
    let png = w.tmp.path().join("index.png");
    chromium(
        &w,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=400,900",
            "--hide-scrollbars",
        ],
        &index,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5000,
        "{} bytes",
        bytes.len()
    );
    let _ = std::fs::copy(
        &png,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("index.png"),
    );

    // Each link leads to its live branch (waking it).
    for (app, _, href) in &cards {
        let host = href.trim_start_matches("http://");
        let branch = if app == "main" {
            "main"
        } else {
            "feature/login"
        };
        let greeting = if app == "main" { "hello" } else { "login" };
        assert_eq!(
            http_get(w.port, host, "/"),
            (200, format!("{greeting} from {branch}\n"))
        );
    }
    // Awake now: the index says so (the JSON twin is quicker than a browser, within idle).
    let (status, body) = http_get(w.port, DOMAIN, "/.jib/apps.json");
    assert_eq!(status, 200, "{body}");
    let twin: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(twin.iter().all(|a| a["state"] == "running"), "{body}");
    // The same fields as `jib list --json`, the same values where nothing moves.
    let cli = list(&w);
    assert_eq!(twin.len(), cli.len());
    for (t, c) in twin.iter().zip(&cli) {
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(t), keys(c));
        for k in [
            "app",
            "branch",
            "url",
            "commit",
            "subject",
            "release",
            "deployed_by",
        ] {
            assert_eq!(t[k], c[k], "{k}");
        }
    }
    assert_eq!(twin[0]["subject"], "<b>login</b> page & \"more\"");

    // No variable's value anywhere, and the bare domain has nothing else.
    let (_, page) = http_get(w.port, DOMAIN, "/");
    for secret in ["toml-secret-4711", "env-secret-0815"] {
        assert!(!page.contains(secret) && !body.contains(secret) && !dom.contains(secret));
    }
    assert_eq!(http_get(w.port, DOMAIN, "/x").0, 404);
    // A name no branch has still gets jib's 404 page.
    let (status, body) = http_get(w.port, &format!("nope.{DOMAIN}"), "/");
    assert_eq!(status, 404);
    assert!(body.contains("No branch is deployed"), "{body}");
}

/// `curl` through nginx with `args`; (status, body).
fn curl(args: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {url}: {}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or_default();
    (code.parse().unwrap_or(0), body.to_string())
}

#[test]
fn the_index_asks_for_a_password_over_https_and_prod_lends_it_a_path() {
    let mut w = World::new(Mode::Ssh);
    // The bare domain is not covered by a wildcard: the certificate names both.
    let (cert, key) = throwaway_cert(
        &w.tmp.path().join("certs"),
        &[DOMAIN, &format!("*.{DOMAIN}")],
    );
    // What `htpasswd` writes (apr1), readable by nginx.
    let hash = Command::new("openssl")
        .args(["passwd", "-apr1", "open sesame"])
        .output()
        .unwrap();
    let users = w.tmp.path().join("index.htpasswd");
    std::fs::write(
        &users,
        format!("reviewer:{}", String::from_utf8_lossy(&hash.stdout)),
    )
    .unwrap();
    let tls_port = free_port();
    w.hello_app("secure");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &format!(
            "{}\n[env.dev.tls]\ncert = \"{}\"\nkey = \"{}\"\nlisten = \"127.0.0.1:{tls_port}\"\n",
            toml.replace(
                "[env.dev]\n",
                &format!(
                    "[env.dev]\nindex = {{ users_file = \"{}\" }}\n",
                    users.display()
                )
            ),
            cert.display(),
            key.display()
        ),
    );
    w.commit("index behind a password");
    w.add_prod(false, "index = true");
    let out = w.jib_ok(&["setup"]);
    let index = format!("https://{DOMAIN}:{tls_port}/");
    assert!(
        out.contains(&format!(
            "the branch index is at {index}, for the users in {}",
            users.display()
        )),
        "{out}"
    );
    w.jib_ok(&["setup", "-e", "prod"]);
    w.jib_ok(&["push"]);
    w.jib_ok(&["promote", "main", "--yes"]);

    let cert = cert.display().to_string();
    let resolve = format!("{DOMAIN}:{tls_port}:127.0.0.1");
    let tls = ["--cacert", &cert, "--resolve", &resolve];
    let (status, body) = curl(&tls, &index);
    assert_eq!(status, 401, "{body}");
    let wrong = [&tls[..], &["-u", "reviewer:guess"]].concat();
    assert_eq!(curl(&wrong, &index).0, 401);
    let right = [&tls[..], &["-u", "reviewer:open sesame"]].concat();
    let (status, page) = curl(&right, &index);
    assert_eq!(status, 200, "{page}");
    let app = format!("https://main.{DOMAIN}:{tls_port}");
    assert!(
        page.contains(&format!("<a href=\"{app}\">main</a>")),
        "{page}"
    );
    let (status, json) = curl(&right, &format!("{index}.jib/apps.json"));
    assert_eq!(status, 200, "{json}");
    assert!(json.contains("\"subject\": \"add prod\""), "{json}");
    // Only the index asks: the app answers anyone, and plain HTTP goes to HTTPS.
    let main = format!("main.{DOMAIN}:{tls_port}:127.0.0.1");
    assert_eq!(
        curl(&["--cacert", &cert, "--resolve", &main], &format!("{app}/")),
        (200, "secure from main\n".into())
    );
    let r = http_raw(w.port, DOMAIN, "/");
    assert!(
        r.starts_with("HTTP/1.1 301") && r.contains(&format!("Location: {index}")),
        "{r}"
    );

    // Prod: its names are its app's, but for /.jib/, which says what it runs and whence.
    assert_eq!(w.get_prod("/"), (200, "secure from main\n".into()));
    let (status, page) = w.get_prod("/.jib/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("www.prod.test (promotion target)"), "{page}");
    assert!(page.contains("branch <code>main</code>"), "{page}");
    assert!(page.contains(", promoted from <code>dev/main@"), "{page}");
    assert!(page.contains("data-state=\"running\""), "{page}");
    let (status, json) = w.get_prod("/.jib/apps.json");
    assert_eq!(status, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["branch"], "main", "{json}");
}
