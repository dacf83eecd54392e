//! Local mode: the same agent on this machine, no ssh, uWSGI's HTTP router on loopback.

mod common;

use common::*;

#[test]
fn local_mode_end_to_end() {
    let w = World::new(Mode::Local);
    w.sample("hello");
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("uWSGI HTTP router"), "{out}");
    let out = w.jib_ok(&["push"]);
    let url = format!("http://main.localhost:{}", w.port);
    assert!(out.contains(&url), "{out}");
    assert_eq!(w.get("main", "/"), (200, "hello from main\n".into()));
    let (status, body) = w.get("ghost", "/");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("No branch is deployed at ghost.localhost"),
        "{body}"
    );
    // setup is idempotent: a second run leaves the running service alone.
    let out = w.jib_ok(&["setup"]);
    assert!(out.contains("already running"), "{out}");
    assert_eq!(w.get("main", "/").0, 200);
}

#[test]
fn apps_run_as_the_configured_user_not_root() {
    let w = World::new(Mode::Local);
    w.sample("hello");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    // The interpreter must be one the app's user can run (not a pyenv build under /root).
    let toml = toml.replace("[app]\n", "[app]\npython = \"/usr/bin/python3\"\n");
    w.write("deploy.toml", &format!("{toml}run_as = \"nobody\"\n"));
    w.write(
        "hello.py",
        "import os\n\ndef app(environ, start_response):\n    \
         body = ('uid=%d greeting=%s\\n' % (os.getuid(), os.environ.get('GREETING', '-'))).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("run as nobody");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push"]);
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert_eq!(w.get("main", "/").1, format!("uid={nobody} greeting=-\n"));
    // The dependencies were installed by that user (installs run package code), and the
    // finished venv was then sealed: the agent's, read-only to the app.
    use std::os::unix::fs::MetadataExt;
    let mut venvs = 0;
    for v in std::fs::read_dir(w.root.join(".jib/venvs"))
        .unwrap()
        .flatten()
    {
        if v.path().is_dir() {
            let m = v.metadata().unwrap();
            assert_eq!(m.uid(), 0, "{}", v.path().display());
            assert_eq!(m.mode() & 0o022, 0, "{}", v.path().display());
            venvs += 1;
        }
    }
    assert!(venvs > 0);
    // Its own environment file is readable by it (and only it).
    w.jib_ok(&["env", "main", "set", "GREETING=hi"]);
    assert_eq!(w.get("main", "/").1, format!("uid={nobody} greeting=hi\n"));
    // jib exec runs as the app does.
    let out = w.jib(&["exec", "main", "--", "id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        nobody.to_string(),
        "{}",
        text(&out)
    );
}
