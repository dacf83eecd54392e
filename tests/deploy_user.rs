//! The README's own example: an unprivileged ssh user (`deploy@server`). The one-time root
//! steps run through sudo or a printed script; afterwards every command works as that user
//! through the root agent's control socket, apps run as `run_as`, and the user gains no root.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// Creates `name` once (tests run in parallel: useradd takes a lock, so serialize it).
fn ensure_user(name: &str, sudo: bool) -> nix::unistd::User {
    let lock = std::fs::File::create("/tmp/jib-test-useradd.lock").unwrap();
    lock.lock().unwrap();
    if nix::unistd::User::from_name(name).unwrap().is_none() {
        admin(Command::new("useradd").args([
            "--create-home",
            "--shell",
            "/bin/sh",
            "--user-group",
            name,
        ]));
        // `!` (useradd's default) is a locked account, which sshd refuses even with a key.
        admin(Command::new("usermod").args(["-p", "*", name]));
    }
    if sudo {
        let rule = format!("{name} ALL=(root) NOPASSWD: ALL\n");
        let path = format!("/etc/sudoers.d/jib-test-{name}");
        std::fs::write(&path, rule).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
    }
    nix::unistd::User::from_name(name).unwrap().unwrap()
}

/// An ssh_config reaching the world's sshd as `user` (same key: sshd reads one
/// authorized_keys for everyone).
fn ssh_config_for(w: &World, user: &str) -> PathBuf {
    let s = w.sshd.as_ref().unwrap();
    let text = std::fs::read_to_string(&s.config).unwrap();
    let me = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let out = s.dir.join(format!("ssh_config.{user}"));
    std::fs::write(
        &out,
        text.replace(&format!("User {me}"), &format!("User {user}")),
    )
    .unwrap();
    out
}

fn jib_as(w: &World, cfg: &Path, args: &[&str]) -> Output {
    w.jib_cmd(args)
        .env("JIB_SSH_CONFIG", cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs an admin command the test needs, asserting it worked.
fn admin(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
}

fn ok(out: Output, what: &str) -> String {
    let t = text(&out);
    assert!(out.status.success(), "{what} failed:\n{t}");
    t
}

/// A hello world whose answer names the uid it runs as; apps run as nobody.
fn world_for_deploy_user() -> World {
    let w = World::new(Mode::Ssh);
    w.sample("hello");
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    let toml = toml
        .replace("[app]\n", "[app]\npython = \"/usr/bin/python3\"\n")
        .replacen(
            "[env.dev.nginx]",
            "run_as = \"nobody\"\n\n[env.dev.nginx]",
            1,
        );
    w.write("deploy.toml", &toml);
    w.write(
        "hello.py",
        "import os\n\ndef app(environ, start_response):\n    \
         body = ('uid=%d %s\\n' % (os.getuid(), os.environ.get('GREETING', '-'))).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    );
    w.commit("deploy as an unprivileged user");
    git(&w.repo, &["config", "user.email", "tester@example.com"]);
    w
}

fn nobody() -> u32 {
    nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw()
}

#[test]
fn a_deploy_user_with_sudo_sets_up_once_then_needs_no_root() {
    let w = world_for_deploy_user();
    ensure_user("jibdeploy", true);
    let cfg = ssh_config_for(&w, "jibdeploy");

    let out = ok(jib_as(&w, &cfg, &["setup", "--yes"]), "setup through sudo");
    assert!(out.contains("need root"), "{out}");
    assert!(out.contains("jibdeploy may deploy"), "{out}");
    // The agent root runs is root's, not the ssh user's upload.
    let agent = std::fs::metadata(w.root.join(".jib/bin/jib-agent")).unwrap();
    assert_eq!((agent.uid(), agent.mode() & 0o022), (0, 0));
    let group = nix::unistd::Group::from_name("jib").unwrap().unwrap();
    assert!(group.mem.iter().any(|m| m == "jibdeploy"), "{group:?}");

    // Everything else: as jibdeploy, through the control socket, without sudo.
    std::fs::remove_file("/etc/sudoers.d/jib-test-jibdeploy").unwrap();
    ok(jib_as(&w, &cfg, &["push", "main"]), "push");
    assert_eq!(w.get("main", "/"), (200, format!("uid={} -\n", nobody())));
    let out = jib_as(&w, &cfg, &["exec", "main", "--", "id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        nobody().to_string(),
        "{}",
        text(&out)
    );
    ok(
        jib_as(&w, &cfg, &["env", "main", "set", "GREETING=hi"]),
        "env set",
    );
    assert_eq!(w.get("main", "/"), (200, format!("uid={} hi\n", nobody())));
    let out = ok(jib_as(&w, &cfg, &["logs", "main", "-n", "5"]), "logs");
    assert!(!out.contains("error"), "{out}");
    let out = ok(jib_as(&w, &cfg, &["audit", "--json"]), "audit");
    assert!(
        out.contains("[jibdeploy]"),
        "the audit names the ssh user: {out}"
    );
    // Setting up again changes nothing and needs no root.
    let out = ok(jib_as(&w, &cfg, &["setup", "--yes"]), "second setup");
    assert!(!out.contains("need root"), "{out}");
    ok(jib_as(&w, &cfg, &["destroy", "main", "--yes"]), "destroy");
    assert_eq!(w.get("main", "/").0, 404);
}

#[test]
fn without_sudo_the_root_steps_are_a_script_an_administrator_runs() {
    let w = world_for_deploy_user();
    ensure_user("jibplain", false);
    let cfg = ssh_config_for(&w, "jibplain");

    // No terminal and no sudo: it says what to do instead, and changes nothing.
    let out = jib_as(&w, &cfg, &["setup"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--root-script"), "{}", text(&out));
    assert!(!w.root.join(".jib/bin/jib-agent").exists());

    let out = jib_as(&w, &cfg, &["setup", "--root-script"]);
    assert!(out.status.success(), "{}", text(&out));
    let script = w.tmp.path().join("setup.sh");
    std::fs::write(&script, &out.stdout).unwrap();
    let ran = Command::new("sh").arg(&script).output().unwrap();
    assert!(
        ran.status.success(),
        "the root script failed: {}",
        text(&ran)
    );
    assert!(
        String::from_utf8_lossy(&ran.stdout).contains("service"),
        "{}",
        text(&ran)
    );

    ok(
        jib_as(&w, &cfg, &["push", "main"]),
        "push after the root script",
    );
    assert_eq!(w.get("main", "/"), (200, format!("uid={} -\n", nobody())));
    // A tampered upload is refused by the script's digest check.
    let out = jib_as(&w, &cfg, &["setup", "--root-script"]);
    let text_script = String::from_utf8_lossy(&out.stdout).into_owned();
    let staged = text_script
        .lines()
        .find_map(|l| l.strip_prefix("upload='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("the script names the agent")
        .to_string();
    std::fs::write(&staged, b"#!/bin/sh\necho pwned > /tmp/jib-pwned\n").unwrap();
    std::fs::write(&script, text_script).unwrap();
    let ran = Command::new("sh").arg(&script).output().unwrap();
    assert!(!ran.status.success());
    assert!(!Path::new("/tmp/jib-pwned").exists());
}

#[test]
fn the_control_socket_grants_nothing_beyond_deploying() {
    let w = world_for_deploy_user();
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push", "main"]);
    let stranger = ensure_user("jibstranger", false);
    let _ = Command::new("gpasswd")
        .args(["-d", "jibstranger", "jib"])
        .output();
    let cfg = ssh_config_for(&w, "jibstranger");
    // Not in the group: refused, with the fix.
    let out = jib_as(&w, &cfg, &["list"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("usermod -aG jib jibstranger"),
        "{}",
        text(&out)
    );

    // Requests a member could forge by calling the agent binary themselves.
    let member = ensure_user("jibdeploy", false);
    {
        let lock = std::fs::File::create("/tmp/jib-test-useradd.lock").unwrap();
        lock.lock().unwrap();
        if nix::unistd::Group::from_name("jib").unwrap().is_none() {
            admin(Command::new("groupadd").args(["--system", "jib"]));
        }
        admin(Command::new("usermod").args(["-aG", "jib", "jibdeploy"]));
    }
    // Granted this root (as `jib setup` through sudo would).
    std::fs::write(w.root.join(".jib/users"), "jibdeploy\n").unwrap();
    let agent = w.root.join(".jib/bin/jib-agent");
    let stored: jib::protocol::ServerConfig =
        serde_json::from_slice(&std::fs::read(w.root.join(".jib/server.json")).unwrap()).unwrap();
    let call = |user: &nix::unistd::User, verb: &str, req: jib::protocol::Request| -> String {
        let env = jib::protocol::Envelope {
            client: jib::protocol::version_line(),
            by: "forger".into(),
            request: req,
        };
        let mut child = Command::new("setpriv")
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--init-groups")
            .arg(&agent)
            .arg(verb)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut line = serde_json::to_vec(&env).unwrap();
        line.push(b'\n');
        child.stdin.take().unwrap().write_all(&line).unwrap();
        text(&child.wait_with_output().unwrap())
    };
    // Another root than the one this socket serves.
    let mut other = stored.clone();
    other.root = w.tmp.path().join("elsewhere");
    let out = call(
        &member,
        "list",
        jib::protocol::Request::List { server: other },
    );
    assert!(
        out.contains("not the environment this socket serves"),
        "{out}"
    );
    // Changing what root runs (the nginx reload command) is root's.
    let mut evil = stored.clone();
    evil.nginx_reload = vec![
        "/bin/sh".into(),
        "-c".into(),
        "id > /tmp/jib-root-pwned".into(),
    ];
    let out = call(
        &member,
        "setup",
        jib::protocol::Request::Setup {
            server: evil,
            install_deps: false,
            grant: Some("jibstranger".into()),
            fleet: None,
        },
    );
    assert!(out.contains("needs root"), "{out}");
    assert!(!Path::new("/tmp/jib-root-pwned").exists());
    // A fleet's key and setup are root's too: the unchanged server with peers and keys of
    // the user's choosing, or the key asked for, are refused.
    let fleet = jib::protocol::FleetSetup {
        routers: vec!["10.9.9.9".parse().unwrap()],
        nodes: vec!["10.9.9.9".parse().unwrap()],
        cron: None,
        key: Some("-----BEGIN PRIVATE KEY-----".into()),
        public_key: None,
    };
    let out = call(
        &member,
        "setup",
        jib::protocol::Request::Setup {
            server: stored.clone(),
            install_deps: false,
            grant: None,
            fleet: Some(fleet),
        },
    );
    assert!(out.contains("fleet's keys and firewall need root"), "{out}");
    let out = call(
        &member,
        "join",
        jib::protocol::Request::Join {
            server: stored.clone(),
            export_key: true,
        },
    );
    assert!(out.contains("fleet's keys and firewall need root"), "{out}");
    let g = nix::unistd::Group::from_name("jib").unwrap().unwrap();
    assert!(!g.mem.iter().any(|m| m == "jibstranger"));
    // The agent never runs `serve` (or anything but a verb) for a user.
    let out = Command::new("setpriv")
        .arg(format!("--reuid={}", member.uid))
        .arg(format!("--regid={}", member.gid))
        .arg("--init-groups")
        .arg(&agent)
        .args(["serve", "--root"])
        .arg(&w.root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The stranger is still refused even calling the binary directly.
    let out = call(
        &stranger,
        "list",
        jib::protocol::Request::List { server: stored },
    );
    assert!(out.contains("not in the group jib"), "{out}");
}

#[test]
fn doctor_explains_what_a_deploy_user_lacks() {
    let w = world_for_deploy_user();
    // Its own user, out of the group whatever an earlier run left.
    ensure_user("jibdoctor", false);
    let _ = Command::new("gpasswd")
        .args(["-d", "jibdoctor", "jib"])
        .output();
    let cfg = ssh_config_for(&w, "jibdoctor");
    let check = |out: &Output, name: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)));
        v.as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} check: {v}"))
    };
    // Before setup: no agent, and the user cannot install one; it says how to get there.
    let out = jib_as(&w, &cfg, &["doctor", "--json"]);
    let agent = check(&out, "agent");
    assert_eq!(agent["status"], "fail", "{agent}");
    assert!(agent.to_string().contains("--root-script"), "{agent}");
    assert!(agent.to_string().contains("not root"), "{agent}");

    // After setup (by root), but not in the group: refused, with the fix.
    w.jib_ok(&["setup"]);
    let out = jib_as(&w, &cfg, &["doctor", "--json"]);
    let access = check(&out, "access");
    assert_ne!(access["status"], "ok", "{access}");
    assert!(
        access.to_string().contains("usermod -aG jib jibdoctor"),
        "{access}"
    );

    // In the group but not granted this root (the group is the whole server's): refused.
    {
        let lock = std::fs::File::create("/tmp/jib-test-useradd.lock").unwrap();
        lock.lock().unwrap();
        admin(Command::new("usermod").args(["-aG", "jib", "jibdoctor"]));
    }
    let out = jib_as(&w, &cfg, &["doctor", "--json"]);
    let access = check(&out, "access");
    assert_ne!(access["status"], "ok", "{access}");
    assert!(access.to_string().contains("may not deploy to"), "{access}");
    // Granted this root (what `jib setup` through sudo writes): it reaches the root agent.
    std::fs::write(w.root.join(".jib/users"), "jibdoctor\n").unwrap();
    let out = jib_as(&w, &cfg, &["doctor", "--json"]);
    let access = check(&out, "access");
    assert_eq!(access["status"], "ok", "{access}");
    assert!(
        access
            .to_string()
            .contains("jibdoctor deploys through the root agent"),
        "{access}"
    );
    assert_eq!(check(&out, "serve")["status"], "ok");
}

#[test]
fn a_deploy_user_gets_a_shell_follows_logs_and_promotes_without_dropping_requests() {
    let mut w = world_for_deploy_user();
    w.add_prod(false, "run_as = \"nobody\"\n");
    // Its own user: another test takes jibdeploy's sudo rights away.
    ensure_user("jibops", true);
    let cfg = ssh_config_for(&w, "jibops");
    ok(jib_as(&w, &cfg, &["setup", "--yes"]), "setup dev");
    ok(
        jib_as(&w, &cfg, &["setup", "-e", "prod", "--yes"]),
        "setup prod",
    );
    ok(jib_as(&w, &cfg, &["push", "main"]), "push");

    // A shell in a real terminal, as run_as, with Ctrl-C reaching it.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jib"));
    cmd.args(["shell", "main", "--bash"])
        .current_dir(&w.repo)
        .env("TERM", "dumb")
        .env("JIB_SSH_CONFIG", &cfg);
    use expectrl::{ControlCode, Expect};
    let mut p = expectrl::Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(30)));
    p.send_line("echo uid=$(id -u)").unwrap();
    p.expect(format!("uid={}", nobody()).as_str()).unwrap();
    p.send_line("sleep 30; echo not-interrupted").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send(ControlCode::EndOfText).unwrap();
    p.send_line("echo after-ctrl-c").unwrap();
    p.expect("after-ctrl-c").unwrap();
    p.send_line("exit 3").unwrap();
    match p.get_process_mut().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, code) => assert_eq!(code, 3),
        other => panic!("jib shell did not exit normally: {other:?}"),
    }

    // logs -f streams what the app logs.
    let mut child = w
        .jib_cmd(&["logs", "main", "-f", "-n", "0"])
        .env("JIB_SSH_CONFIG", &cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    let seen = (0..40).any(|_| {
        let _ = w.get("main", "/followed-by-deploy-user");
        rx.recv_timeout(std::time::Duration::from_millis(500))
            .is_ok_and(|l| l.contains("followed-by-deploy-user"))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "jib logs -f showed no request");

    // Promote under load: zero failed requests.
    ok(
        jib_as(&w, &cfg, &["promote", "main", "--yes"]),
        "first promote",
    );
    w.write(
        "hello.py",
        &std::fs::read_to_string(w.repo.join("hello.py"))
            .unwrap()
            .replace("uid=", "v2 uid="),
    );
    w.commit("v2");
    ok(jib_as(&w, &cfg, &["push", "main"]), "push v2");
    let load = Load::start(w.port, PROD_NAME, 4);
    let out = jib_as(&w, &cfg, &["promote", "main", "--yes"]);
    let r = load.stop();
    ok(out, "promote under load");
    assert_eq!(
        r.bad, 0,
        "failed requests during the promote: {:?}",
        r.bodies
    );
    assert!(r.ok > 0);
    assert_eq!(w.get_prod("/"), (200, format!("v2 uid={} -\n", nobody())));
    ok(jib_as(&w, &cfg, &["rollback", "prod"]), "rollback");
    assert_eq!(w.get_prod("/"), (200, format!("uid={} -\n", nobody())));
}

#[test]
fn sudo_asks_for_the_password_on_the_local_terminal() {
    let w = world_for_deploy_user();
    let user = ensure_user("jibpw", false);
    // sudo with a password (and a fresh timestamp: no cached credentials).
    let rule = "jibpw ALL=(root) ALL\nDefaults:jibpw timestamp_timeout=0\n";
    let path = "/etc/sudoers.d/jib-test-jibpw";
    std::fs::write(path, rule).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o440)).unwrap();
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(b"jibpw:correct horse\n")
        .unwrap();
    assert!(chpasswd.wait().unwrap().success());
    let cfg = ssh_config_for(&w, "jibpw");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jib"));
    cmd.arg("setup")
        .current_dir(&w.repo)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .env("JIB_SSH_CONFIG", &cfg);
    use expectrl::Expect;
    let mut p = expectrl::Session::spawn(cmd).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    p.expect("[sudo] password for jibpw").unwrap();
    p.send_line("correct horse").unwrap();
    p.expect("is ready").unwrap();
    match p.get_process_mut().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, code) => assert_eq!(code, 0),
        other => panic!("jib setup did not exit normally: {other:?}"),
    }
    // Setup ran as root (the password reached sudo on its stdin: `Remote::call_program`).
    let agent = std::fs::metadata(w.root.join(".jib/bin/jib-agent")).unwrap();
    assert_eq!(agent.uid(), 0);
    ok(
        jib_as(&w, &cfg, &["push", "main"]),
        "push after a password setup",
    );
    let _ = user;
}
