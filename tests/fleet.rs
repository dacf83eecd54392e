//! Several servers per environment (issue 14): prod on three hosts behind a router, each a
//! network namespace with its own sshd, /opt/apps, agent and emperor; the router runs nginx
//! and the FastRouter. Promote, rollback and failures under a load generator through the
//! router; a rogue machine on the private network.

mod common;

use std::time::{Duration, Instant};

use common::fleet::{FleetWorld, NAME};
use common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

#[test]
fn promote_and_rollback_on_three_hosts_drop_nothing_and_spread_requests() {
    let fw = FleetWorld::new(&["app1", "app2", "app3"], &[]);
    let w = &fw.w;
    w.jib_ok(&["setup"]);
    let t = Instant::now();
    let out = w.jib_ok(&["setup", "-e", "prod"]);
    eprintln!("setup of 4 machines: {:?}\n{out}", t.elapsed());
    w.jib_ok(&["push", "main"]);

    // First promote: every host gets it, the router spreads requests over all three.
    let out = w.jib_ok(&["promote", "main", "--yes"]);
    assert!(out.contains("on 3 host(s)"), "{out}");
    let bodies = fw.spread(30);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v1"),
        ["app1", "app2", "app3"],
        "{bodies:?}"
    );

    // A promote under load: nothing fails, and afterwards every host serves v2.
    fw.branch("feature", "v2");
    let load = fw.load();
    let t = Instant::now();
    let out = w.jib(&["promote", "feature", "--yes", "--json"]);
    let took = t.elapsed();
    let r = load.stop();
    let v = json(&out);
    assert_eq!(v["kind"], "promote", "{v}");
    assert_eq!(v["hosts"].as_array().map(Vec::len), Some(3), "{v}");
    eprintln!(
        "promote to 3 hosts under load: {took:?}, {} ok, {} failed, p99 {:?}",
        r.ok,
        r.bad,
        r.quantile(0.99)
    );
    assert_eq!(
        r.bad, 0,
        "failed requests during the promote: {:?}",
        r.failures
    );
    assert!(r.ok > 20, "{} requests", r.ok);
    let bodies = fw.spread(30);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v2"),
        ["app1", "app2", "app3"],
        "{bodies:?}"
    );
    assert!(
        bodies.iter().all(|b| b.starts_with("v2 from feature")),
        "{bodies:?}"
    );

    // status: a row per host, all on the same commit.
    let st = json(&w.jib(&["status", "prod", "--json"]));
    let hosts = st["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3, "{st}");
    for h in hosts {
        assert_eq!(h["reachable"], true, "{h}");
        assert_eq!(h["behind"], false, "{h}");
        assert_eq!(h["status"]["branch"], "feature", "{h}");
    }

    // Rollback of the whole fleet under load: the same.
    let load = fw.load();
    let out = w.jib_ok(&["rollback", "prod"]);
    let r = load.stop();
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(
        r.bad, 0,
        "failed requests during the rollback: {:?}",
        r.failures
    );
    let bodies = fw.spread(30);
    assert!(
        bodies.iter().all(|b| b.starts_with("v1 from main")),
        "{bodies:?}"
    );
    assert_eq!(FleetWorld::hosts_in(&bodies, "v1").len(), 3, "{bodies:?}");
}

#[test]
fn a_host_that_fails_keeps_every_host_on_the_previous_release() {
    let fw = FleetWorld::new(&["app1", "app2", "app3"], &[]);
    let w = &fw.w;
    fw.up();
    fw.branch("feature", "v2");

    // The new release does not import on app2: no host switches.
    fw.set_prod(&["app1", "app2", "app3"], "env = { BREAK_ON = \"app2\" }");
    let load = fw.load();
    let out = w.jib(&["promote", "feature", "--yes"]);
    let r = load.stop();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("app2"), "the error names the host: {msg}");
    assert!(msg.contains("import"), "and the step: {msg}");
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    let bodies = fw.spread(30);
    assert!(
        bodies.iter().all(|b| b.starts_with("v1 from main")),
        "{bodies:?}"
    );
    assert_eq!(FleetWorld::hosts_in(&bodies, "v1").len(), 3, "{bodies:?}");

    // It imports everywhere but app3 answers its health check badly through the router:
    // every host switched, then every host is put back.
    fw.set_prod(&["app1", "app2", "app3"], "env = { SICK_ON = \"app3\" }");
    let load = fw.load();
    let out = w.jib(&["promote", "feature", "--yes"]);
    let r = load.stop();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("lb1"),
        "the router that saw it: {}",
        text(&out)
    );
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    let bodies = fw.spread(30);
    assert!(
        bodies.iter().all(|b| b.starts_with("v1 from main")),
        "{bodies:?}"
    );

    // Healthy again: it goes through.
    fw.set_prod(&["app1", "app2", "app3"], "");
    w.jib_ok(&["promote", "feature", "--yes"]);
    let bodies = fw.spread(30);
    assert!(
        bodies.iter().all(|b| b.starts_with("v2 from feature")),
        "{bodies:?}"
    );
}

#[test]
fn a_rogue_machine_on_the_private_network_gets_no_traffic_and_runs_nothing() {
    let mut fw = FleetWorld::new(&["app1", "app2"], &["rogue"]);
    let w = &fw.w;
    fw.up();
    let rogue_ip = fw.fleet.ip("rogue");
    let lb_ip = fw.fleet.ip("lb1");

    // The rogue runs its own uWSGI app and subscribes it under prod's name, unsigned and
    // with a key of its own, to the router's subscription server, every second.
    let dir = w.tmp.path().join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("evil.py"),
        "def application(e, s):\n    s('200 OK', [('Content-Type', 'text/plain')])\n    return [b'rogue\\n']\n",
    )
    .unwrap();
    let key = dir.join("rogue.pem");
    let keygen = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl");
    assert!(keygen.status.success());
    let ini = format!(
        "[uwsgi]\nplugins = python3\nmaster = true\nprocesses = 1\nsocket = {rogue_ip}:47100\nwsgi-file = {}\n\
         subscribe2 = server={lb_ip}:3031,key={NAME}\n\
         subscribe2 = server={lb_ip}:3031,key={NAME},sign=SHA256:{}\nsubscribe-freq = 1\n",
        dir.join("evil.py").display(),
        key.display(),
    );
    std::fs::write(dir.join("rogue.ini"), ini).unwrap();
    fw.fleet.spawn_in(
        "rogue",
        &["uwsgi", "--ini", &dir.join("rogue.ini").to_string_lossy()],
    );
    std::thread::sleep(Duration::from_secs(4));
    let bodies = fw.spread(60);
    assert!(
        bodies.iter().all(|b| b.starts_with("v1 from main")),
        "the rogue got traffic: {bodies:?}"
    );

    // A raw uwsgi packet from the rogue to a host's app socket, asking it to run a file:
    // the host's firewall drops it (no connection at all).
    let addrs = fw
        .fleet
        .run_in("app1", &["sh", "-c", "cat /opt/apps/prod/prod~*.addr"]);
    let addr = String::from_utf8_lossy(&addrs.stdout)
        .lines()
        .next()
        .expect("an instance address on app1")
        .to_string();
    let probe = format!(
        "import socket,sys\ns=socket.socket()\ns.settimeout(3)\n\
         try:\n    s.connect(('{}', {}))\nexcept Exception as e:\n    print('refused', e); sys.exit(0)\n\
         s.sendall(bytes.fromhex('{}'))\nprint('connected', s.recv(100))\n",
        addr.split(':').next().unwrap(),
        addr.split(':').nth(1).unwrap(),
        hex(&jib::router::uwsgi_packet(
            0,
            0,
            &[
                ("UWSGI_FILE", "exec://touch /tmp/jib-rogue-was-here"),
                ("REQUEST_METHOD", "GET"),
                ("PATH_INFO", "/"),
                ("HTTP_HOST", NAME),
            ]
        ))
    );
    let out = fw.fleet.run_in("rogue", &["python3", "-c", &probe]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.starts_with("refused"),
        "the rogue reached a node socket: {said}"
    );
    assert!(!std::path::Path::new("/tmp/jib-rogue-was-here").exists());

    // On the router, another local user (not the FastRouter's, not root) cannot reach it
    // either: the router's firewall keeps the instances' ports to the FastRouter.
    let other = fw.fleet.run_in(
        "lb1",
        &[
            "setpriv",
            "--reuid=daemon",
            "--regid=daemon",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &probe,
        ],
    );
    let said = String::from_utf8_lossy(&other.stdout).to_string();
    assert!(
        said.starts_with("refused"),
        "a local user on the router reached a node: {said} {}",
        text(&other)
    );

    // From the router itself the socket is open, and the routing guard refuses the same
    // loader variables (403) while a plain request is served.
    let from_lb = fw.fleet.run_in("lb1", &["python3", "-c", &probe]);
    let said = String::from_utf8_lossy(&from_lb.stdout).to_string();
    assert!(
        said.contains("403"),
        "the guard let UWSGI_FILE through: {said}"
    );
    assert!(!std::path::Path::new("/tmp/jib-rogue-was-here").exists());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asks through the router one request at a time until `clean` in a row answer 200 within
/// 200 ms; returns how long that took (from `since`) and how many failed meanwhile.
fn until_clean(fw: &FleetWorld, since: Instant, clean: usize) -> (Duration, usize) {
    let (mut in_a_row, mut failed) = (0, 0);
    while in_a_row < clean {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "traffic never got clean"
        );
        let t = Instant::now();
        let (status, _) = fw.get();
        if status != 200 {
            failed += 1;
        }
        if status == 200 && t.elapsed() < Duration::from_millis(200) {
            in_a_row += 1;
        } else {
            in_a_row = 0;
        }
    }
    (since.elapsed(), failed)
}

#[test]
fn a_host_whose_link_goes_down_leaves_the_pool_and_catches_up_when_back() {
    let fw = FleetWorld::new(&["app1", "app2", "app3"], &[]);
    let w = &fw.w;
    fw.up();

    // app3's instance is SIGKILLed under load (its emperor starts it again): GETs sent to it
    // are asked again and land on another host.
    let load = fw.load();
    std::thread::sleep(Duration::from_millis(500));
    // Namespaces do not separate pids: app3's own are those in its network namespace.
    let ns = fw
        .fleet
        .namespaces()
        .into_iter()
        .find(|n| n.ends_with("-app3"))
        .expect("app3's namespace");
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", &ns])
        .output()
        .unwrap();
    let mut killed = 0;
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd.contains("prod~") {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid])
                .status();
            killed += 1;
        }
    }
    assert!(killed > 0, "no instance process found on app3");
    std::thread::sleep(Duration::from_secs(2));
    let r = load.stop();
    eprintln!(
        "SIGKILL of app3's instance under load: {} ok, {} failed, max latency {:?}",
        r.ok,
        r.bad,
        r.quantile(1.0)
    );
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    let start = Instant::now();
    while !fw.spread(10).iter().any(|b| b.ends_with("on app3\n")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "app3 never came back"
        );
    }

    // The cable of app2 is pulled under load.
    let load = fw.load();
    std::thread::sleep(Duration::from_millis(500));
    let down = Instant::now();
    fw.fleet.link_down("app2");
    let (clean_after, seq_failed) = until_clean(&fw, down, 20);
    std::thread::sleep(Duration::from_secs(1));
    let r = load.stop();
    eprintln!(
        "link down on app2 under load: {} ok, {} failed (+{seq_failed} of the probe), traffic clean {clean_after:?} after the cut, max latency {:?}",
        r.ok,
        r.bad,
        r.quantile(1.0)
    );
    // Requests sent after the cut are all answered. One that app2 had already accepted when
    // its cable went has nobody left to answer it and no error to retry on: it can only time
    // out (the load generator gives up after 30 s) — at most one per client, never a 5xx.
    assert_eq!(seq_failed, 0, "a request sent after the cut failed");
    assert!(r.bad <= 4, "{} failed: {:?}", r.bad, r.failures);
    assert!(
        r.failures
            .iter()
            .all(|f| f.trim().is_empty() || f.starts_with("0 ")),
        "only requests in flight at the cut may fail, by timing out: {:?}",
        r.failures
    );
    let bodies = fw.spread(20);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v1"),
        ["app1", "app3"],
        "{bodies:?}"
    );

    // status and list say so instead of failing.
    let st = json(&w.jib(&["status", "prod", "--json"]));
    let app2 = st["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "app2")
        .unwrap()
        .clone();
    assert_eq!(app2["reachable"], false, "{st}");
    let out = w.jib_ok(&["list", "-e", "prod"]);
    assert!(out.contains("app2: unreachable"), "{out}");

    // A promote refuses before touching any host, naming it; --skip-unreachable goes on.
    fw.branch("feature", "v2");
    let out = w.jib(&["promote", "feature", "--yes"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("app2"), "{}", text(&out));
    let bodies = fw.spread(10);
    assert!(
        bodies.iter().all(|b| b.starts_with("v1 from main")),
        "{bodies:?}"
    );
    let load = fw.load();
    let out = w.jib_ok(&["promote", "feature", "--yes", "--skip-unreachable"]);
    let r = load.stop();
    assert!(out.contains("on 2 host(s)"), "{out}");
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    let bodies = fw.spread(20);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v2"),
        ["app1", "app3"],
        "{bodies:?}"
    );

    // Back: it rejoins the pool with what it ran, and status says it is behind...
    fw.fleet.link_up("app2");
    let start = Instant::now();
    while !fw.spread(10).iter().any(|b| b.ends_with("on app2\n")) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "app2 never came back"
        );
    }
    let st = json(&w.jib(&["status", "prod", "--json"]));
    let behind: Vec<&str> = st["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["behind"] == true)
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(behind, ["app2"], "{st}");

    // ...until the next promote brings it to the fleet's release.
    let load = fw.load();
    w.jib_ok(&["promote", "feature", "--yes"]);
    let r = load.stop();
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    let bodies = fw.spread(30);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v2"),
        ["app1", "app2", "app3"],
        "{bodies:?}"
    );
    assert!(bodies.iter().all(|b| b.starts_with("v2")), "{bodies:?}");
}

#[test]
fn hosts_join_and_leave_the_pool_under_load_without_a_failed_request() {
    let mut fw = FleetWorld::new(&["app1", "app2", "app3"], &[]);
    fw.up();

    // A fourth host: listed, set up, and the next promote puts it in the pool.
    fw.fleet.add("app4");
    let main = fw.w.sshd.as_ref().unwrap().config.clone();
    let mut cfg = std::fs::read_to_string(&main).unwrap();
    cfg.push_str(&std::fs::read_to_string(fw.fleet.ssh_config()).unwrap());
    std::fs::write(&main, cfg).unwrap();
    fw.set_prod(&["app1", "app2", "app3", "app4"], "");
    fw.w.commit("app4");
    let load = fw.load();
    fw.w.jib_ok(&["setup", "-e", "prod"]);
    fw.branch("feature", "v2");
    fw.w.jib_ok(&["promote", "feature", "--yes"]);
    let r = load.stop();
    assert_eq!(r.bad, 0, "adding a host: {:?}", r.failures);
    let bodies = fw.spread(40);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v2"),
        ["app1", "app2", "app3", "app4"],
        "{bodies:?}"
    );

    // app1 leaves: unlisted and `jib setup` — the routers stop taking its announces and it
    // drops out of the pool once they expire, while it still answers what it was sent.
    fw.set_prod(&["app2", "app3", "app4"], "");
    let load = fw.load();
    let t = Instant::now();
    fw.w.jib_ok(&["setup", "-e", "prod"]);
    let start = Instant::now();
    loop {
        let bodies = fw.spread(20);
        if !bodies.iter().any(|b| b.ends_with("on app1\n")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "app1 still gets traffic"
        );
    }
    eprintln!(
        "app1 out of the pool {:?} after `jib setup` began",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_secs(1));
    let r = load.stop();
    assert_eq!(r.bad, 0, "removing a host: {:?}", r.failures);
    let bodies = fw.spread(30);
    assert_eq!(
        FleetWorld::hosts_in(&bodies, "v2"),
        ["app2", "app3", "app4"],
        "{bodies:?}"
    );
}

#[test]
fn commands_act_on_every_host_or_on_the_one_named() {
    let fw = FleetWorld::new(&["app1", "app2", "app3"], &[]);
    let w = &fw.w;
    fw.up();

    // restart: every host swaps its instance, nothing dropped.
    let load = fw.load();
    let out = w.jib_ok(&["restart", "prod"]);
    let r = load.stop();
    assert!(out.contains("on 3 host(s)"), "{out}");
    assert_eq!(r.bad, 0, "{:?}", r.failures);

    // env set: every host's app gets the value, exactly.
    let load = fw.load();
    w.jib_ok(&["env", "prod", "set", "MOTTO=it's \"fine\" $HOME"]);
    let r = load.stop();
    assert_eq!(r.bad, 0, "{:?}", r.failures);
    for h in ["app1", "app2", "app3"] {
        let out = w.jib_ok(&[
            "exec",
            "prod",
            "--host",
            h,
            "--",
            "sh",
            "-c",
            "echo $(hostname) \"$MOTTO\"",
        ]);
        assert_eq!(out.trim(), format!("{h} it's \"fine\" $HOME"), "{out}");
    }
    // Without --host: the first reachable host.
    let out = w.jib_ok(&["exec", "prod", "--", "hostname"]);
    assert_eq!(out.trim(), "app1");
    let out = w.jib(&["exec", "prod", "--host", "nowhere", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("app1, app2, app3"), "{}", text(&out));

    // status --host: that host's row only.
    let st = json(&w.jib(&["status", "prod", "--host", "app2", "--json"]));
    let hosts: Vec<&str> = st["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["app2"], "{st}");

    // logs: every host's lines, prefixed with the host.
    let _ = fw.spread(10);
    let out = w.jib_ok(&["logs", "prod", "-n", "5"]);
    for h in ["app1", "app2", "app3"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{h}| "))),
            "{out}"
        );
    }

    // audit: one trail, each entry naming the hosts it happened on.
    let audit = json(&w.jib(&["audit", "prod", "--json"]));
    let entries = audit.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["promote", "restart", "env set"], "{audit}");
    for e in entries {
        assert_eq!(e["hosts"].as_array().map(Vec::len), Some(3), "{e}");
    }

    // doctor: every host and the router, each check named after its machine.
    let out = w.jib_ok(&["doctor", "-e", "prod"]);
    for m in [
        "app1 fleet",
        "app2 emperor",
        "app3 fleet",
        "lb1 router",
        "lb1 nginx",
        "lb1 fleet",
    ] {
        assert!(out.contains(m), "{m}: {out}");
    }
    assert!(!out.contains("app1 router"), "{out}");
}

#[test]
fn static_files_come_from_the_hosts_and_cron_runs_on_one_host() {
    let fw = FleetWorld::new(&["app1", "app2"], &[]);
    let w = &fw.w;
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    let toml = toml.replacen(
        "[app]\n",
        "[app]\nstatic = { \"/static/\" = \"assets\" }\n",
        1,
    );
    let toml = toml.replacen(
        "\n[env.dev]",
        "\n[cron]\n\"* * * * * *\" = \"hostname\"\n\n[env.dev]",
        1,
    );
    w.write("deploy.toml", &toml);
    w.write("assets/hello.txt", "static hello\n");
    w.commit("static and cron");
    fw.up();

    // The router has no release: the hosts serve /static/ themselves.
    for _ in 0..6 {
        let (status, body) = http_get_at(
            &fw.lb.ip,
            fw.lb.port,
            common::fleet::NAME,
            "/static/hello.txt",
        );
        assert_eq!((status, body.as_str()), (200, "static hello\n"));
    }
    // Nothing outside the static directory is published (the app answers instead).
    let (_, body) = http_get_at(
        &fw.lb.ip,
        fw.lb.port,
        common::fleet::NAME,
        "/static/../deploy.toml",
    );
    assert!(!body.contains("wsgi ="), "{body}");

    // Cron: on the first host only.
    std::thread::sleep(Duration::from_secs(4));
    let log = |h: &str| {
        let out = fw.fleet.run_in(
            h,
            &["sh", "-c", "cat /opt/apps/prod/log/cron.log 2>/dev/null"],
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let (one, two) = (log("app1"), log("app2"));
    assert!(
        one.lines().any(|l| l.trim() == "app1"),
        "app1's cron log: {one}"
    );
    assert!(
        !two.lines().any(|l| l.trim() == "app2"),
        "cron ran on app2 too: {two}"
    );
}

/// A branch environment on two hosts behind two routers, with HTTPS on the routers.
#[test]
fn branches_push_to_two_hosts_behind_two_routers_with_https() {
    let mut fw = FleetWorld::new(&["app1", "app2"], &["lb2"]);
    let lb2 = fw.fleet.start_nginx("lb2");
    let w = &fw.w;
    // As on real routers, one nginx site path and one reload command for both (/etc/nginx
    // and `nginx -s reload` there): a shared sites directory (its link resolves into each
    // router's own /opt/apps), the pid file in each router's own /opt/apps, and both
    // listening on every address.
    let shared = w.tmp.path().join("stage-sites");
    std::fs::create_dir_all(&shared).unwrap();
    for (name, n) in [("lb1", &fw.lb), ("lb2", &lb2)] {
        let conf = n.dir.join("nginx.conf");
        let conf_text = std::fs::read_to_string(&conf)
            .unwrap()
            .replace(
                &format!("listen {}:8080 default_server", n.ip),
                "listen 8080 default_server",
            )
            .replace(
                "include ",
                &format!("include {}/*.conf;\n  include ", shared.display()),
            )
            .replace(
                &format!("pid {}/nginx.pid", n.dir.display()),
                "pid /opt/apps/nginx.pid",
            );
        std::fs::write(&conf, conf_text).unwrap();
        // Another listen address: a new nginx (a reload cannot rebind it).
        let old_pid = n.dir.join("nginx.pid");
        fw.fleet.run_in(
            name,
            &["cp", &old_pid.to_string_lossy(), "/opt/apps/nginx.pid"],
        );
        let mut quit: Vec<&str> = n.reload.iter().map(String::as_str).collect();
        *quit.last_mut().unwrap() = "quit";
        fw.fleet.run_in(name, &quit);
        let start = Instant::now();
        while std::net::TcpStream::connect((n.ip.as_str(), 8080)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let d = n.dir.to_string_lossy().to_string();
        fw.fleet
            .spawn_in(name, &["nginx", "-p", &d, "-c", &conf.to_string_lossy()]);
        while std::net::TcpStream::connect((n.ip.as_str(), 8080)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let reload = fw.lb.reload.clone();
    let certs = w.tmp.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let st = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=*.stage.test",
            "-addext",
            "subjectAltName=DNS:*.stage.test",
        ])
        .arg("-keyout")
        .arg(certs.join("key.pem"))
        .arg("-out")
        .arg(certs.join("cert.pem"))
        .output()
        .expect("openssl");
    assert!(st.status.success());
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    let toml = toml.split("\n[env.prod]").next().unwrap().to_string();
    w.write(
        "deploy.toml",
        &format!(
            "{toml}\n[env.stage]\nhosts = [\"app1\", \"app2\"]\nrouters = [\"lb1\", \"lb2\"]\nprivate = \"{}\"\ndomain = \"stage.test\"\nrun_as = \"nobody\"\n\n\
             [env.stage.nginx]\nlisten = \"8080\"\nsite = \"{}\"\nreload = {:?}\n\n\
             [env.stage.tls]\ncert = \"{}\"\nkey = \"{}\"\nlisten = \"8443\"\n",
            fw.fleet.prefix_cidr(),
            shared.join("jib-stage.conf").display(),
            reload,
            certs.join("cert.pem").display(),
            certs.join("key.pem").display(),
        ),
    );
    w.commit("stage");
    w.jib_ok(&["setup", "-e", "stage"]);
    let out = w.jib_ok(&["push", "-e", "stage", "main"]);
    assert!(out.contains("on 2 host(s)"), "{out}");
    git(&w.repo, &["checkout", "-q", "-b", "feature"]);
    w.write("hello.py", &common::fleet::app_py("v2"));
    w.commit("v2");
    w.jib_ok(&["push", "-e", "stage", "feature"]);

    // Each branch through each router, over HTTPS, spread over both hosts.
    for lb in [&fw.lb, &lb2] {
        for (branch, greeting) in [("main", "v1"), ("feature", "v2")] {
            let mut hosts = Vec::new();
            for _ in 0..8 {
                let out = std::process::Command::new("curl")
                    .args(["-sS", "--cacert"])
                    .arg(certs.join("cert.pem"))
                    .args([
                        "--resolve",
                        &format!("{branch}.stage.test:8443:{}", lb.ip),
                        &format!("https://{branch}.stage.test:8443/"),
                    ])
                    .output()
                    .unwrap();
                let body = String::from_utf8_lossy(&out.stdout).to_string();
                assert!(
                    body.starts_with(&format!("{greeting} from {branch}")),
                    "{}: {body} {}",
                    lb.ip,
                    text(&out)
                );
                hosts.push(body.trim().rsplit(" on ").next().unwrap().to_string());
            }
            hosts.sort();
            hosts.dedup();
            assert_eq!(hosts, ["app1", "app2"], "{branch} through {}", lb.ip);
        }
        // Plain HTTP redirects, and a name nobody deployed gets the 404 page.
        let r = http_raw_at(&lb.ip, 8080, "main.stage.test", "/x");
        assert!(r.starts_with("HTTP/1.1 301"), "{r}");
        let r = http_raw_at(&lb.ip, 8443, "nobody.stage.test", "/");
        assert!(!r.starts_with("HTTP/1.1 502"), "{r}");
    }
    let (status, body) = {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/stdout",
                "-w",
                "\n%{http_code}",
                "--cacert",
            ])
            .arg(certs.join("cert.pem"))
            .args([
                "--resolve",
                &format!("nobody.stage.test:8443:{}", lb2.ip),
                "https://nobody.stage.test:8443/",
            ])
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        let (b, s) = t.rsplit_once('\n').unwrap();
        (s.to_string(), b.to_string())
    };
    assert_eq!(status, "404", "{body}");
    assert!(body.contains("No branch is deployed"), "{body}");
}
