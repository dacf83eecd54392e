//! The multi-host harness itself (tests/common/fleet.rs): members reached over real ssh, each
//! with its own address, /opt/apps and hostname; members reaching each other across the
//! bridge, and not while a cable is pulled; nginx inside a member; nothing left after Drop.

mod common;

use common::fleet::Fleet;
use common::{http_get_at, text};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn ok(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl from `from` to `url` inside the fleet; Some(body) when it answered.
fn curl_in(fleet: &Fleet, from: &str, url: &str) -> Option<String> {
    let out = fleet.run_in(from, &["curl", "-sS", "--max-time", "2", url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn gone(fleet_namespaces: &[String], bridge: &str) {
    let list = ok(
        "ip netns list",
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip"),
    );
    for ns in fleet_namespaces {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "namespace {ns} left after Drop:\n{list}"
        );
    }
    assert!(
        !Path::new("/sys/class/net").join(bridge).exists(),
        "bridge {bridge} left after Drop"
    );
}

#[test]
fn members_are_hosts() {
    let tmp = tempfile::Builder::new()
        .prefix("jibf")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let names = ["app1", "app2", "app3"];
    let t = Instant::now();
    let mut fleet = Fleet::new(tmp.path(), &names);
    eprintln!("Fleet::new with 3 members: {:?}", t.elapsed());
    assert!(
        fleet.prefix_cidr().starts_with("10.213.") && fleet.prefix_cidr().ends_with(".0/24"),
        "{}",
        fleet.prefix_cidr()
    );

    // Each member over ssh: its own address, hostname and /opt/apps.
    let probe = format!("fleet-probe-{}", std::process::id());
    for name in names {
        let ip = fleet.ip(name);
        assert!(ip.starts_with(fleet.prefix_cidr().trim_end_matches("0/24")));
        let out = ok(
            &format!("ssh {name}"),
            fleet.ssh(name, "hostname; hostname -I; ip -4 -o addr show eth0"),
        );
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some(name), "hostname on {name}:\n{out}");
        assert_eq!(lines.next().map(str::trim), Some(ip.as_str()), "{out}");
        assert!(out.contains(&format!("inet {ip}/24")), "{out}");
    }
    ok(
        "write on app1",
        fleet.ssh("app1", &format!("echo from-app1 > /opt/apps/{probe}")),
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("app1/apps").join(&probe)).ok(),
        Some("from-app1\n".to_string()),
        "app1's /opt/apps is <dir>/app1/apps"
    );
    assert!(
        !Path::new("/opt/apps").join(&probe).exists(),
        "app1's /opt/apps leaked into the root namespace"
    );
    let out = fleet.ssh("app2", &format!("test -e /opt/apps/{probe}"));
    assert!(!out.status.success(), "app1's file is visible on app2");
    // run_in is on the same host as ssh sessions.
    assert_eq!(
        ok(
            "cat in app1",
            fleet.run_in("app1", &["cat", &format!("/opt/apps/{probe}")])
        ),
        "from-app1\n"
    );

    // app1 reaches a port on app2; not while app2's cable is pulled; again once plugged in.
    let ip2 = fleet.ip("app2");
    ok(
        "write on app2",
        fleet.ssh("app2", "echo served-by-app2 > /opt/apps/index.txt"),
    );
    fleet.spawn_in(
        "app2",
        &[
            "/usr/bin/python3",
            "-m",
            "http.server",
            "--bind",
            &ip2,
            "--directory",
            "/opt/apps",
            "8000",
        ],
    );
    let url = format!("http://{ip2}:8000/index.txt");
    let until = |want: bool| {
        let start = Instant::now();
        loop {
            let got = curl_in(&fleet, "app1", &url);
            if got.is_some() == want {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "app1 -> {url}: wanted answered={want}, got {got:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(until(true).as_deref(), Some("served-by-app2\n"));
    fleet.link_down("app2");
    assert_eq!(
        curl_in(&fleet, "app1", &url),
        None,
        "answered through a pulled cable"
    );
    fleet.link_up("app2");
    assert_eq!(until(true).as_deref(), Some("served-by-app2\n"));

    // A process started over ssh that detaches is still on the member, and Drop kills it.
    let pid = ok(
        "detached sleep on app3",
        fleet.ssh(
            "app3",
            "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!",
        ),
    );
    let pid = pid.trim().to_string();
    assert!(Path::new("/proc").join(&pid).exists());

    // nginx inside app3 answers on its address from the root namespace.
    let nginx = fleet.start_nginx("app3");
    assert_eq!(nginx.ip, fleet.ip("app3"));
    assert_eq!(nginx.listen, format!("{}:{}", nginx.ip, nginx.port));
    assert!(nginx.sites.is_dir());
    assert_eq!(http_get_at(&nginx.ip, nginx.port, "x.test", "/").0, 421);
    // Its reload command works inside the member (as the agent will run it).
    let reload: Vec<&str> = nginx.reload.iter().map(String::as_str).collect();
    ok("nginx reload in app3", fleet.run_in("app3", &reload));
    assert_eq!(http_get_at(&nginx.ip, nginx.port, "x.test", "/").0, 421);
    // Not on the root namespace's loopback.
    assert_eq!(http_get_at("127.0.0.1", nginx.port, "x.test", "/").0, 0);

    // A member added later is a host like the others, and reaches them.
    fleet.add("app4");
    let ip4 = fleet.ip("app4");
    let out = ok("ssh app4", fleet.ssh("app4", "hostname -I"));
    assert_eq!(out.trim(), ip4);
    ok("ssh app1 after add", fleet.ssh("app1", "true"));
    // By name too: every member's /etc/hosts lists the fleet.
    assert_eq!(
        curl_in(&fleet, "app4", "http://app2:8000/index.txt").as_deref(),
        Some("served-by-app2\n")
    );
    let out = ok("getent on app1", fleet.ssh("app1", "getent hosts app4"));
    assert!(out.starts_with(&format!("{ip4} ")), "{out}");

    let (namespaces, bridge) = (fleet.namespaces(), fleet.bridge());
    assert_eq!(namespaces.len(), 4);
    drop(fleet);
    gone(&namespaces, &bridge);
    // Killed; init may take a moment to reap it.
    let start = Instant::now();
    while Path::new("/proc").join(&pid).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a process started over ssh outlived the fleet"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cleaned_up_after_a_panic() {
    let tmp = tempfile::Builder::new()
        .prefix("jibf")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let t = Instant::now();
    let fleet = Fleet::new(tmp.path(), &["lb1", "app1", "app2", "app3", "rogue"]);
    eprintln!("Fleet::new with 5 members: {:?}", t.elapsed());
    let (namespaces, bridge) = (fleet.namespaces(), fleet.bridge());
    let result = std::panic::catch_unwind(move || {
        let _fleet = fleet;
        panic!("deliberate: a failing test, whose fleet Drop must still remove");
    });
    assert!(result.is_err());
    gone(&namespaces, &bridge);
}
