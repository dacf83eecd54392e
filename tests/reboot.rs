//! A simulated reboot in the middle of a deploy (issue 15): the deploy's agent, `jib-agent
//! serve`, the emperor, the router and every vassal are SIGKILLed at the worst moment — the
//! new release is `current` but not yet verified. When serve starts again, the app serves its
//! last good release, the unverified one is marked failed, and the next push works.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The app: `greeting`, and with `hang`, every request that came through the router (the
/// FastRouter passes nginx's `UWSGI_FASTROUTER_KEY`; the agent's own probe does not) waits a
/// minute — so a deploy of it stops in its check through the front door, after the switch.
fn app_py(greeting: &str, hang: bool) -> String {
    format!(
        "import os, time\n\n\
         def app(environ, start_response):\n    \
         if {hang} and environ.get('UWSGI_FASTROUTER_KEY'):\n        time.sleep(60)\n    \
         body = ('{greeting} from %s\\n' % os.environ.get('JIB_BRANCH', '?')).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
         return [body]\n",
        hang = if hang { "True" } else { "False" },
    )
}

/// The release `current` points at, and its recorded state.
fn current(w: &World) -> Option<(String, String)> {
    let link = std::fs::read_link(w.root.join("main/current")).ok()?;
    let meta =
        std::fs::read_to_string(w.root.join("main").join(&link).join("release.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&meta).ok()?;
    Some((
        link.file_name()?.to_string_lossy().into_owned(),
        v["state"].as_str()?.to_string(),
    ))
}

/// Every process of this root — serve, emperor, router, vassals and the deploy's agent
/// (`<root>/.jib/bin/jib-agent deploy`): their command lines name it — SIGKILLed at once, as
/// a power cut would. Other tests' roots are left alone.
fn power_cut(w: &World) {
    let root = w.root.display().to_string();
    let _ = Command::new("pkill").args(["-9", "-f", &root]).status();
    let alive = || {
        Command::new("pgrep")
            .args(["-f", &root])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    };
    wait_until("every process of the root to be gone", 20, || {
        let _ = Command::new("pkill").args(["-9", "-f", &root]).status();
        !alive()
    });
}

#[test]
fn a_power_cut_between_the_switch_and_its_check_comes_back_on_the_last_good_release() {
    let w = World::new(Mode::Ssh);
    w.write(
        "deploy.toml",
        &w.deploy_toml(
            "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_timeout = 30\n",
        ),
    );
    w.write("requirements.txt", "");
    w.write("hello.py", &app_py("good", false));
    w.commit("good");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "good from main\n");
    let (good, _) = current(&w).expect("a current release");

    // A release whose check through the router hangs: its push stops right after the cut.
    w.write("hello.py", &app_py("unverified", true));
    w.commit("unverified");
    let mut push = w.jib_cmd(&["push"]).spawn().expect("jib push");
    wait_until("the new release to be current and unverified", 60, || {
        current(&w).is_some_and(|(id, state)| id != good && state == "pending")
    });
    power_cut(&w);
    let _ = push.kill();
    let _ = push.wait();
    let (unverified, _) = current(&w).unwrap();
    assert_ne!(unverified, good, "the cut came after the switch");

    // The machine is back: serve starts (jib setup starts it, as systemd would).
    w.jib_ok(&["setup"]);
    wait_until("the good release to serve", 30, || {
        w.get("main", "/").1 == "good from main\n"
    });
    assert_eq!(current(&w), Some((good.clone(), "ok".into())));
    let rel = w.jib_json(&["releases", "main", "--json"]);
    let states: Vec<(String, &str, bool)> = rel
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(unverified, "failed", false), (good.clone(), "ok", true)],
        "{rel}"
    );
    // What runs is the good release, on every worker.
    let st = w.jib_json(&["status", "main", "--json"]);
    assert_eq!(st["status"]["release"], good.as_str(), "{st}");
    assert_eq!(st["status"]["state"], "running", "{st}");
    wait_until("only the good release's workers", 30, || {
        let dir = w.root.join("main/workers");
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .all(|e| {
                let pid = e.file_name().to_string_lossy().to_string();
                !Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(e.path()).is_ok_and(|r| r.starts_with(&good))
            })
    });

    // No lock was left behind (a push that may not wait goes through) and it works as usual.
    w.write("hello.py", &app_py("next", false));
    w.commit("next");
    w.jib_ok(&["push", "--lock-wait", "0"]);
    assert_eq!(w.get("main", "/").1, "next from main\n");
}

/// `pids` of processes whose command line is exactly `cmd`.
fn running(cmd: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-x", "-f", cmd])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn what_a_killed_deploy_started_is_stopped_within_seconds() {
    let w = World::new(Mode::Ssh);
    let toml = w.deploy_toml(
        "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\npython = \"/usr/bin/python3\"\n\
         release = \"sleep 3101 & sleep 3102\"\n",
    );
    // The app's user is not root: what the release step starts is the sandbox's to track.
    let toml = toml.replacen(
        "\n[env.dev.nginx]",
        "run_as = \"nobody\"\n\n[env.dev.nginx]",
        1,
    );
    w.write("deploy.toml", &toml);
    w.write("requirements.txt", "");
    w.write("hello.py", &app_py("one", false));
    w.commit("one");
    w.jib_ok(&["setup"]);

    // The deploy's agent dies during the release step: the step's shell dies with it
    // (PDEATHSIG), the two sleeps it started do not.
    let mut push = w.jib_cmd(&["push"]).spawn().expect("jib push");
    wait_until("the release step to run", 60, || {
        !running("sleep 3102").is_empty()
    });
    let agent = format!("{}/.jib/bin/jib-agent deploy", w.root.display());
    let _ = Command::new("pkill").args(["-9", "-f", &agent]).status();
    let _ = push.wait();
    // serve stops them within seconds (and the next deploy would, before it runs anything
    // of the app's).
    wait_until("serve to stop the killed deploy's orphans", 15, || {
        running("sleep 3101").is_empty() && running("sleep 3102").is_empty()
    });
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml"))
        .unwrap()
        .replace(
            "release = \"sleep 3101 & sleep 3102\"\n",
            "release = \"true\"\n",
        );
    w.write("deploy.toml", &toml);
    w.write("hello.py", &app_py("two", false));
    w.commit("two");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("main", "/").1, "two from main\n");
}
