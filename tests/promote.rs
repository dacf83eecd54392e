//! `jib promote`, `jib rollback`, `jib releases`, `jib audit`: the build a branch runs goes to
//! prod as is, with zero failed requests, and comes back in one command.

mod common;

use std::time::Duration;

use common::*;

/// The app prod and dev run: its greeting, the branch, and (when installed) iniconfig's version.
/// `BREAK` makes it fail to import; `SLOW` makes importing it take that many seconds.
fn app_py(greeting: &str) -> String {
    format!(
        "import os, time\n\
         if os.environ.get('BREAK'):\n    raise RuntimeError('broken on purpose')\n\
         time.sleep(float(os.environ.get('SLOW', '0')))\n\
         try:\n    import iniconfig\n    from importlib.metadata import version\n    extra = ' iniconfig ' + version('iniconfig')\nexcept ImportError:\n    extra = ''\n\n\
         def app(environ, start_response):\n    \
         body = ('{greeting} from %s%s\\n' % (os.environ.get('JIB_BRANCH', '?'), extra)).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
         return [body]\n"
    )
}

/// dev and prod set up, main pushed to dev.
fn world(own_host: bool, prod_extra: &str) -> World {
    let mut w = World::new(Mode::Ssh);
    w.sample("hello");
    w.write("hello.py", &app_py("v1"));
    w.commit("v1");
    git(&w.repo, &["config", "user.email", "tester@example.com"]);
    w.add_prod(own_host, prod_extra);
    w.jib_ok(&["setup"]);
    w.jib_ok(&["setup", "-e", "prod"]);
    w.jib_ok(&["push", "main"]);
    w
}

/// Commits `greeting` on a new branch `name` and pushes it to dev.
fn branch(w: &World, name: &str, greeting: &str) {
    git(&w.repo, &["checkout", "-q", "-b", name]);
    w.write("hello.py", &app_py(greeting));
    w.commit(greeting);
    w.jib_ok(&["push"]);
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

#[test]
fn promote_and_rollback_on_one_server_drop_nothing_and_leave_a_trail() {
    let w = world(false, "");
    let out = w.jib_ok(&["promote", "main", "--yes"]);
    assert!(out.contains("(nothing yet) →"), "{out}");
    assert!(out.contains("prod now serves"), "{out}");
    assert_eq!(w.get_prod("/"), (200, "v1 from main\n".into()));
    // Prod is not a branch app: dev still has only main, prod its own app.
    assert_eq!(w.get("main", "/").0, 200);

    branch(&w, "feature", "v2");
    let load = Load::start(w.port, PROD_NAME, 4);
    let out = w.jib(&["promote", "feature", "--yes", "--json"]);
    let r = load.stop();
    let v = json(&out);
    assert_eq!(v["kind"], "promote", "{v}");
    assert_eq!(v["files"], "copied", "{v}");
    assert_eq!(v["branch"], "feature");
    assert!(
        v["from"].as_str().unwrap().starts_with("dev/feature@"),
        "{v}"
    );
    assert_eq!(r.bad, 0, "failed requests during promote ({} ok)", r.ok);
    assert!(r.ok > 20, "{} requests", r.ok);
    assert!(r.bodies.contains(&"v2 from feature\n".to_string()));
    assert_eq!(w.get_prod("/"), (200, "v2 from feature\n".into()));

    // The plan names the commits and says the dependencies did not change.
    git(&w.repo, &["checkout", "-q", "main"]);
    let plan = w.jib(&["promote", "main"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let plan = text(&plan);
    assert!(plan.contains("dependencies: unchanged"), "{plan}");
    assert!(plan.contains("needs confirmation"), "{plan}");

    let load = Load::start(w.port, PROD_NAME, 4);
    let out = w.jib_ok(&["rollback", "prod"]);
    let r = load.stop();
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(r.bad, 0, "failed requests during rollback ({} ok)", r.ok);
    assert_eq!(w.get_prod("/"), (200, "v1 from main\n".into()));

    // Releases: both kept, the first one current again, each naming where it came from.
    let rel = json(&w.jib(&["releases", "prod", "--json"]));
    let rel = rel.as_array().unwrap();
    assert_eq!(rel.len(), 2, "{rel:?}");
    assert_eq!(rel[0]["branch"], "feature");
    assert_eq!(rel[0]["current"], false);
    assert_eq!(rel[1]["current"], true);
    assert!(
        rel[1]["promoted_from"]
            .as_str()
            .unwrap()
            .starts_with("dev/main@")
    );
    // Rolling forward again by release id.
    let id = rel[0]["id"].as_str().unwrap();
    w.jib_ok(&["rollback", "prod", "--to", id]);
    assert_eq!(w.get_prod("/"), (200, "v2 from feature\n".into()));

    let audit = json(&w.jib(&["audit", "prod", "--json"]));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["promote", "promote", "rollback", "rollback"]);
    let e = &audit[1];
    assert_eq!(e["result"], "ok");
    assert_eq!(e["branch"], "feature");
    assert!(
        e["by"].as_str().unwrap().contains("tester@example.com"),
        "{e}"
    );
    assert!(
        e["from"].as_str().unwrap().starts_with("dev/feature@"),
        "{e}"
    );
    assert_eq!(e["commit"].as_str().unwrap().len(), 40);
    assert!(e["time"].as_str().unwrap().ends_with('Z'), "{e}");
    assert!(e["ms"].as_u64().unwrap() > 0);
    // The human view too.
    let out = w.jib_ok(&["audit", "prod"]);
    assert!(out.contains("rollback"), "{out}");
    // Pushes are audited in dev.
    let dev = json(&w.jib(&["audit", "--json"]));
    assert_eq!(dev[0]["action"], "push");
}

#[test]
fn promote_to_another_host_sends_objects_and_rebuilds_the_exact_packages() {
    let w = world(true, "");
    w.jib_ok(&["promote", "main", "--yes"]);
    assert_eq!(w.get_prod("/"), (200, "v1 from main\n".into()));

    git(&w.repo, &["checkout", "-q", "-b", "deps"]);
    w.write("requirements.txt", "iniconfig==2.0.0\n");
    w.commit("iniconfig");
    w.jib_ok(&["push"]);
    assert_eq!(w.get("deps", "/").1, "v1 from deps iniconfig 2.0.0\n");

    let out = w.jib(&["promote", "deps", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}\n{}", w.logs());
    assert!(t.contains("+ iniconfig 2.0.0"), "{t}");
    assert_eq!(
        w.get_prod("/"),
        (200, "v1 from deps iniconfig 2.0.0\n".into())
    );
    // Built from what prod's own server received, not copied from dev's files.
    let rel = json(&w.jib(&["releases", "prod", "--json"]));
    let cur = &rel[0];
    assert_eq!(cur["current"], true);
    let lock = std::fs::read_to_string(
        w.tmp
            .path()
            .join("prod/.jib/venvs")
            .join(cur["venv"].as_str().unwrap())
            .join(".jib-lock.txt"),
    )
    .unwrap();
    assert_eq!(lock, "iniconfig==2.0.0\n");

    let out = w.jib_ok(&["rollback", "prod"]);
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(w.get_prod("/"), (200, "v1 from main\n".into()));
}

#[test]
fn promote_refuses_what_was_not_tested() {
    let w = world(false, "");
    // Never pushed.
    git(&w.repo, &["checkout", "-q", "-b", "untested"]);
    w.write("hello.py", &app_py("v9"));
    w.commit("v9");
    let out = w.jib(&["promote", "untested", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("push it first"), "{}", text(&out));

    // Pushed, then committed again: what runs is not the local head.
    w.jib_ok(&["push"]);
    w.write("hello.py", &app_py("v10"));
    w.commit("v10");
    let out = w.jib(&["promote", "untested", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--allow-stale"), "{}", text(&out));
    assert_eq!(w.get_prod("/").0, 404, "nothing was promoted");
    // --allow-stale ships what runs (v9), not the local head.
    w.jib_ok(&["promote", "untested", "--yes", "--allow-stale"]);
    assert_eq!(w.get_prod("/"), (200, "v9 from untested\n".into()));

    // A branch whose only deploy failed has nothing to promote.
    git(&w.repo, &["checkout", "-q", "-b", "broken"]);
    w.write("hello.py", "raise SystemExit('no')\n");
    w.commit("broken");
    assert!(!w.jib(&["push"]).status.success());
    let out = w.jib(&["promote", "broken", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no release running"), "{}", text(&out));

    // Pushing straight to prod is refused: prod runs what promote ships.
    let out = w.jib(&["push", "-e", "prod"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("jib promote"), "{}", text(&out));
    assert_eq!(w.get_prod("/"), (200, "v9 from untested\n".into()));

    // --merge fast-forwards main only when that rewrites nothing.
    let out = w.jib(&["promote", "untested", "--yes", "--allow-stale", "--merge"]);
    assert!(out.status.success(), "{}", text(&out));
    let main = git(&w.repo, &["rev-parse", "main"]);
    let v9 = git(&w.repo, &["rev-parse", "untested~1"]);
    assert_eq!(
        main.stdout, v9.stdout,
        "main fast-forwarded to what prod runs"
    );
    git(&w.repo, &["checkout", "-q", "-b", "sideways", "main~1"]);
    w.write("other.txt", "x");
    w.commit("sideways");
    w.jib_ok(&["push"]);
    let out = w.jib(&["promote", "sideways", "--yes", "--merge"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cannot be fast-forwarded"),
        "{}",
        text(&out)
    );
    assert_eq!(git(&w.repo, &["rev-parse", "main"]).stdout, v9.stdout);
}

#[test]
fn failed_promotes_keep_prod_serving_and_never_evict_good_releases() {
    let w = world(false, "keep_releases = 2");
    w.jib_ok(&["promote", "main", "--yes"]);
    branch(&w, "b2", "v2");
    w.jib_ok(&["promote", "b2", "--yes"]);

    // Prod's own environment breaks the next release at import: both attempts fail.
    w.jib_ok(&["env", "prod", "set", "BREAK=1", "--no-restart"]);
    for (name, greeting) in [("b3", "v3"), ("b4", "v4")] {
        branch(&w, name, greeting);
        let out = w.jib(&["promote", name, "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("import check failed"), "{t}");
        assert!(t.contains("broken on purpose"), "{t}");
        assert!(t.contains("previous release is still serving"), "{t}");
        assert_eq!(w.get_prod("/"), (200, "v2 from b2\n".into()));
    }
    let rel = json(&w.jib(&["releases", "prod", "--json"]));
    let states: Vec<(&str, &str)> = rel
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["branch"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    // The newest failure is kept for inspection, older ones go (the audit log keeps them all);
    // failures never push out good releases.
    assert_eq!(
        states,
        [("b4", "failed"), ("b2", "ok"), ("main", "ok")],
        "{rel}"
    );

    w.jib_ok(&["env", "prod", "unset", "BREAK", "--no-restart"]);
    w.jib_ok(&["promote", "b4", "--yes"]);
    assert_eq!(w.get_prod("/"), (200, "v4 from b4\n".into()));
    let rel = json(&w.jib(&["releases", "prod", "--json"]));
    let kept: Vec<&str> = rel
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["branch"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["b4", "b2"], "{rel}");
    let audit = json(&w.jib(&["audit", "prod", "--json"]));
    let failed = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "failed")
        .count();
    assert_eq!(failed, 2, "{audit}");
}

#[test]
fn a_second_promote_waits_or_names_the_holder() {
    let w = world(false, "");
    w.jib_ok(&["promote", "main", "--yes"]);
    // Slow to start: the first promote holds prod's lock for several seconds.
    w.jib_ok(&["env", "prod", "set", "SLOW=2", "--no-restart"]);
    branch(&w, "slow", "v2");
    let first = w
        .jib_cmd(&["promote", "slow", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = w.tmp.path().join("prod/.jib/locks/apps/prod.lock");
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("promote slow")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "lock never taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = w.jib(&["promote", "slow", "--yes", "--lock-wait", "0"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("promote slow"), "{t}");
    assert!(t.contains("tester@example.com"), "{t}");
    assert!(t.contains("since"), "{t}");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(w.get_prod("/"), (200, "v2 from slow\n".into()));
}
