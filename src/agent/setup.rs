//! `jib-agent setup`: check what the server lacks (and install it when allowed), lay out the
//! root, write the server config and (re)start `jib-agent serve` — under systemd where it runs,
//! else detached. Safe to run any number of times.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::emit::Emitter;
use crate::layout::Layout;
use crate::programs::which;
use crate::protocol::{FleetRole, FleetSetup, RemoteError, Reply, RouterKind, ServerConfig};

/// A missing prerequisite and the Debian package that provides it.
pub(super) struct Missing {
    pub what: &'static str,
    pub package: &'static str,
}

pub(super) fn missing_prerequisites(server: &ServerConfig) -> Vec<Missing> {
    let mut out = Vec::new();
    if which("uwsgi").is_none() {
        out.push(Missing {
            what: "uwsgi",
            package: "uwsgi-core",
        });
    }
    let plugin_dirs = ["/usr/lib/uwsgi/plugins", "/usr/local/lib/uwsgi/plugins"];
    let has_python_plugin = plugin_dirs.iter().any(|d| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("python3") && n.ends_with("_plugin.so")
            })
    });
    if !has_python_plugin {
        out.push(Missing {
            what: "uWSGI's python3 plugin",
            package: "uwsgi-plugin-python3",
        });
    }
    if server.router == RouterKind::Nginx && which("nginx").is_none() {
        out.push(Missing {
            what: "nginx",
            package: "nginx-light",
        });
    }
    if server.fleet.is_some() && which("nft").is_none() {
        out.push(Missing {
            what: "nft (the firewall that keeps a host's app sockets to the routers)",
            package: "nftables",
        });
    }
    let venv_ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !venv_ok {
        out.push(Missing {
            what: "python3 with venv",
            package: "python3-venv",
        });
    }
    out
}

/// Puts this very binary at `<root>/.jib/bin/jib-agent`, root's, where systemd starts it and
/// where ssh users find it (a setup through sudo runs a copy the ssh user uploaded).
fn install_self(layout: &Layout) -> Result<String, RemoteError> {
    let err = |m: String| RemoteError::new("agent", m);
    let me = std::env::current_exe().map_err(|e| err(e.to_string()))?;
    let dest = layout.agent_bin();
    if me == dest {
        return Ok("in place".into());
    }
    let bin = dest
        .parent()
        .ok_or_else(|| err("no bin directory".into()))?;
    crate::fsafe::ensure_dir(bin, 0o755, Some((0, 0))).map_err(|e| err(e.to_string()))?;
    let bytes = std::fs::read(&me).map_err(|e| err(format!("{}: {e}", me.display())))?;
    let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(|e| err(format!("{}: {e}", tmp.display())))?;
    std::io::Write::write_all(&mut f, &bytes).map_err(|e| err(e.to_string()))?;
    drop(f);
    std::fs::rename(&tmp, &dest).map_err(|e| err(format!("{}: {e}", dest.display())))?;
    Ok(format!("installed {}", dest.display()))
}

/// Creates the `jib` group when missing and adds `user` to it.
fn grant_access(user: &str, server: &ServerConfig, layout: &Layout) -> Result<(), RemoteError> {
    let err = |m: String| RemoteError::new("access", m);
    crate::config::check_user_name(user).map_err(err)?;
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| err(format!("no user {user} on this server")))?;
    if u.uid.is_root() {
        return Ok(());
    }
    let group = super::ctl::GROUP;
    if nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .is_none()
    {
        run_admin(&["groupadd", "--system", group]).map_err(err)?;
    }
    let g = nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .ok_or_else(|| err(format!("the group {group} could not be created")))?;
    if !g.mem.iter().any(|m| m == user) && u.gid != g.gid {
        run_admin(&["usermod", "-aG", group, user]).map_err(err)?;
    }
    if server.run_as.as_deref() == Some(user) {
        return Err(err(format!(
            "{user} is also run_as: the apps' own code could then deploy (give apps a user of their own)"
        )));
    }
    // This root only: the group is the whole server's.
    let mut users = super::ctl::allowed_users(layout);
    if !users.iter().any(|u| u == user) {
        users.push(user.to_string());
        let text: String = users.iter().map(|u| format!("{u}\n")).collect();
        write_if_changed(&layout.users_file(), text.as_bytes())
            .map_err(|e| err(format!("{}: {e}", layout.users_file().display())))?;
    }
    Ok(())
}

/// Every directory above the root: root's and not writable by others (unless sticky, like
/// /tmp) — whoever can rename the root's directory can replace what root runs from it.
pub(super) fn check_ancestors(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    for dir in root.ancestors() {
        let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let sticky = m.mode() & 0o1000 != 0;
        if m.uid() != 0 || (m.mode() & 0o022 != 0 && !sticky) || m.file_type().is_symlink() {
            return Err(format!(
                "{} (above or at the root) belongs to uid {} with mode {:o}: whoever can write it could replace what the root agent runs",
                dir.display(),
                m.uid(),
                m.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

fn run_admin(argv: &[&str]) -> Result<(), String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn can_sudo() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub(super) fn setup(
    server: &ServerConfig,
    install_deps: bool,
    grant: Option<&str>,
    fleet: Option<&FleetSetup>,
    em: &Emitter,
) -> Result<Reply, RemoteError> {
    // Before anything is written from it (the site, the unit, the ini template).
    server.check().map_err(|m| RemoteError::new("request", m))?;
    let mut messages = Vec::new();
    let root_user = nix::unistd::geteuid().is_root();
    em.step("prerequisites", || {
        Ok(((), install_prerequisites(server, install_deps, root_user)?))
    })?;
    if which("uv").is_none() {
        messages.push("uv is not installed: venvs are built with python -m venv + pip (slower); `pip install uv` or see https://docs.astral.sh/uv/".to_string());
    }

    match crate::identity::of_server(server) {
        Err(e) => return Err(RemoteError::new("setup", format!("{e:#}"))),
        Ok(None) if root_user => messages.push(
            "the agent runs as root and run_as is not set: apps run as root; set run_as in deploy.toml's environment to an unprivileged user".into(),
        ),
        Ok(_) => {}
    }
    let layout = Layout::new(&server.root);
    em.step("layout", || {
        prepare_root(server, &layout)?;
        Ok(((), Some(server.root.display().to_string())))
    })?;

    if root_user && super::ctl::Peer::current().is_none() {
        em.step("agent", || {
            let detail = install_self(&layout)?;
            Ok(((), Some(detail)))
        })?;
        if let Some(user) = grant {
            messages.push(grant_step(user, server, &layout, em)?);
        }
    }
    let mut peers_changed = false;
    if let Some(role) = &server.fleet {
        let Some(f) = fleet else {
            return Err(RemoteError::new(
                "fleet",
                "this environment is on several servers: run `jib setup` for all of them at once",
            ));
        };
        peers_changed = em.step("fleet", || {
            let (changed, detail) = setup_fleet(server, role, f, &layout, root_user)?;
            Ok((changed, Some(detail)))
        })?;
    }
    let before = std::time::SystemTime::now();
    let restarted = em.step("service", || {
        if peers_changed && let Some(info) = running_serve(&layout) {
            // Its template names the routers: a new set means a new serve.
            stop_serve(&layout, info.pid);
        }
        let (started, how) = start_service(server, &layout)?;
        Ok((started, Some(how)))
    })?;
    if let Some(index) = &server.index {
        messages.push(format!(
            "the branch index is at {}{}",
            crate::config::index_url(server),
            match &index.users_file {
                Some(f) => format!(", for the users in {}", f.display()),
                None => ", for anyone who can reach it".into(),
            }
        ));
        // nginx opens it at each request: missing, every visitor gets a 500.
        if let Some(f) = index.users_file.as_ref().filter(|f| !f.is_file()) {
            messages.push(format!(
                "{} does not exist: nginx refuses the index until it does; create it with `htpasswd -c {} <user>` (apache2-utils), readable by nginx",
                f.display(),
                f.display()
            ));
        }
    }
    let front_door = super::serve::is_router(server);
    // One certificate per branch: each branch's first push waits for its own.
    let env_slot = server
        .tls
        .as_ref()
        .and_then(|t| t.acme.as_ref())
        .filter(|_| front_door && !crate::acme::per_branch(server))
        .map(|a| crate::acme::env_slot(server, a, &layout));
    if let Some(slot) = env_slot {
        em.step("certificate", || {
            // A serve that kept running may be waiting out a failure's backoff: ask it to try
            // again now.
            if !restarted
                && crate::acme::status(server, &layout, None).is_some_and(|s| s.error.is_some())
            {
                let _ = std::fs::write(layout.acme_retry(), b"");
            }
            let started = Instant::now();
            let c = crate::acme::wait_obtained(&slot, before, Duration::from_secs(180))
                .map_err(|e| {
                    RemoteError::new("certificate", format!("{e:#}")).hint(format!(
                        "jib-agent serve retries with backoff (see {} and `jib doctor`); fix the cause and run `jib setup` again to retry now",
                        layout.agent_log().display()
                    ))
                })?;
            let fresh = started.elapsed() > Duration::from_millis(50);
            Ok((
                (),
                Some(format!(
                    "{} {}, valid until {}",
                    c.names.join(", "),
                    if fresh { "obtained" } else { "installed" },
                    c.not_after.date()
                )),
            ))
        })?;
    }
    messages.push(format!(
        "{} ready: apps will answer at {} ({})",
        server.root.display(),
        crate::config::app_url("<branch>", server),
        match server.router {
            RouterKind::Nginx => format!("nginx on {}", server.listen),
            RouterKind::Http => format!("uWSGI HTTP router on {}", server.listen),
        }
    ));
    Ok(Reply::Setup { messages })
}

/// The `fleet` step: this machine's peers, its keys and its firewall. Whether serve must
/// start again (the routers or its address changed), and the step's detail.
fn setup_fleet(
    server: &ServerConfig,
    role: &FleetRole,
    f: &FleetSetup,
    layout: &Layout,
    root_user: bool,
) -> Result<(bool, String), RemoteError> {
    use crate::fleet;
    let err = |m: String| RemoteError::new("fleet", m);
    if !root_user {
        // The firewall and root-only keys are what keep the fleet's sockets safe.
        return Err(err(
            "setting up a machine of a fleet needs root (its firewall, its keys)".into(),
        )
        .hint("run `jib setup` as root, or through sudo"));
    }
    let address = fleet::private_address(&role.private).map_err(|e| err(format!("{e:#}")))?;
    let peers = fleet::Peers {
        address,
        routers: f.routers.clone(),
        nodes: f.nodes.clone(),
        cron: f.cron,
    };
    // Whom the firewall lets in must be on the private network.
    let net = fleet::Cidr::parse(&role.private).map_err(|why| err(format!("private {why}")))?;
    if let Some(a) = peers
        .routers
        .iter()
        .chain(&peers.nodes)
        .chain(&peers.cron)
        .find(|a| !net.contains(**a))
    {
        return Err(err(format!("{a} is not on the private network {net}")));
    }
    let dir = layout.fleet_dir();
    crate::fsafe::ensure_dir(&dir, 0o755, Some((0, 0)))
        .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
    fn io(p: &Path) -> impl Fn(anyhow::Error) -> RemoteError + '_ {
        move |e| RemoteError::new("fleet", format!("{}: {e:#}", p.display()))
    }
    let mut detail = vec![format!("{address}")];
    if role.node {
        let key = f
            .key
            .as_deref()
            .ok_or_else(|| err("no subscription key was sent for this node".into()))?;
        fleet::fingerprint(key).map_err(|e| err(format!("{e:#}")))?;
        // Root's alone: serve signs the announces, the apps never see it. Written every
        // time, so its owner and mode are always these.
        let path = layout.fleet_key();
        fleet::write_secret(&path, key).map_err(io(&path))?;
        // The instances' ports are the agent's to hand out, never an outgoing connection's.
        let _ = std::fs::write(
            "/proc/sys/net/ipv4/ip_local_reserved_ports",
            format!(
                "{}-{}\n",
                fleet::NODE_PORTS.start(),
                fleet::NODE_PORTS.end()
            ),
        );
        detail.push(format!("node, {} router(s)", peers.routers.len()));
    }
    if role.router {
        let public = f
            .public_key
            .as_deref()
            .ok_or_else(|| err("no public key was sent for this router".into()))?;
        let keys = layout.sign_check_dir();
        crate::fsafe::ensure_dir(&keys, 0o755, Some((0, 0)))
            .map_err(|e| err(format!("cannot create {}: {e}", keys.display())))?;
        let pubf = layout.fleet_public_key();
        super::join::write_public(&pubf, public.as_bytes())
            .map_err(|e| err(format!("{}: {e}", pubf.display())))?;
        // Its own 404 server announces itself under the router's own key, made here once.
        let own = layout.router_key();
        if !own.is_file() {
            let k = fleet::generate_key().map_err(|e| err(format!("{e:#}")))?;
            fleet::write_secret(&own, &k).map_err(io(&own))?;
        }
        let own_key =
            std::fs::read_to_string(&own).map_err(|e| err(format!("{}: {e}", own.display())))?;
        let own_pub = fleet::public_pem(&own_key).map_err(|e| err(format!("{e:#}")))?;
        let f404 = super::join::sign_check_file(layout, crate::router::NOT_FOUND_KEY);
        super::join::write_public(&f404, own_pub.as_bytes())
            .map_err(|e| err(format!("{}: {e}", f404.display())))?;
        if let Some(app) = &server.app {
            super::join::admit(layout, server, app)?;
        }
        // A host that is gone must fail to connect at once, not after the kernel's minutes
        // of SYN retries (DESIGN.md §7): the router then tries another host.
        let _ = std::fs::write("/proc/sys/net/ipv4/tcp_syn_retries", "1\n");
        detail.push(format!("router, {} host(s)", peers.nodes.len()));
    }
    // What serve's processes were started with: this machine's address and the routers
    // (a host joining or leaving changes only firewalls).
    let restart = fleet::Peers::load(layout)
        .map(|old| {
            old.address != peers.address
                || old.routers != peers.routers
                || old.runs_cron() != peers.runs_cron()
        })
        .unwrap_or(true);
    let json = serde_json::to_vec_pretty(&peers).map_err(|e| err(e.to_string()))?;
    write_if_changed(&layout.fleet_json(), &json)
        .map_err(|e| err(format!("{}: {e}", layout.fleet_json().display())))?;
    fleet::apply_for(layout, server)
        .map_err(|e| err(format!("{e:#}")).hint("apt-get install nftables"))?;
    detail.push("firewall".into());
    Ok((restart, detail.join(", ")))
}

/// What the server lacks, installed when allowed (`--install-deps`, as root or with sudo);
/// the step's detail.
fn install_prerequisites(
    server: &ServerConfig,
    install_deps: bool,
    root_user: bool,
) -> Result<Option<String>, RemoteError> {
    let missing = missing_prerequisites(server);
    if missing.is_empty() {
        return Ok(None);
    }
    let pkgs: Vec<&str> = missing.iter().map(|m| m.package).collect();
    let what: Vec<&str> = missing.iter().map(|m| m.what).collect();
    let line = format!("apt-get install -y {}", pkgs.join(" "));
    if !(install_deps && (root_user || can_sudo())) {
        return Err(RemoteError::new(
            "prerequisites",
            format!("missing on this server: {}", what.join(", ")),
        )
        .hint(format!(
            "install them: sudo {line}   (or run `jib setup --install-deps` as a user with sudo)"
        )));
    }
    let mut cmd = if root_user {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    let out = cmd
        .args(["install", "-y", "-q"])
        .args(&pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| RemoteError::new("prerequisites", format!("cannot run apt-get: {e}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        return Err(
            RemoteError::new("prerequisites", format!("`{line}` failed"))
                .log_tail(crate::fsafe::last_lines(&text, 10)),
        );
    }
    Ok(Some(format!("installed {}", pkgs.join(" "))))
}

/// The `access` step: lets `user` deploy to this root through the root agent. Its message.
fn grant_step(
    user: &str,
    server: &ServerConfig,
    layout: &Layout,
    em: &Emitter,
) -> Result<String, RemoteError> {
    // Every call of that user would be refused: say so now, not at the first push.
    if server.run_as.is_none() {
        return Err(RemoteError::new(
            "access",
            format!("{user} is to deploy here, but the environment sets no run_as: its apps would run as root"),
        )
        .hint("add run_as = \"<an unprivileged user>\" to the environment in deploy.toml (create it: sudo useradd --system --user-group jibapps) and run `jib setup` again"));
    }
    em.step("access", || {
        grant_access(user, server, layout)?;
        Ok((
            (),
            Some(format!("{user} may deploy (group {})", super::ctl::GROUP)),
        ))
    })?;
    Ok(format!(
        "{user} deploys through the root agent (group {}): it can run code as {} and nothing as root",
        super::ctl::GROUP,
        server.run_as.as_deref().unwrap_or("the apps' user")
    ))
}

fn prepare_root(server: &ServerConfig, layout: &Layout) -> Result<(), RemoteError> {
    let err = |p: &Path, e: std::io::Error| {
        RemoteError::new("layout", format!("cannot create {}: {e}", p.display())).hint(format!(
            "run `jib setup` as root, or as a user with sudo (it runs the root steps through sudo, or prints them: --root-script); don't give the ssh user the root itself ({0})",
            server.root.display()
        ))
    };
    std::fs::create_dir_all(&server.root).map_err(|e| err(&server.root, e))?;
    if nix::unistd::geteuid().is_root() {
        // Whoever owns the root, or a directory above it, can swap `.jib` and so choose what
        // root runs.
        check_ancestors(&server.root).map_err(|m| {
            RemoteError::new("layout", m).hint(format!(
                "make {} and the directories above it root's and not writable by others (sudo chown root: <dir> && sudo chmod go-w <dir>); deploy users get in through the group jib instead",
                server.root.display()
            ))
        })?;
    }
    let who = crate::identity::of_server(server)
        .map_err(|e| RemoteError::new("layout", format!("{e:#}")))?;
    let app = who.as_ref().map(|(u, g)| (u.uid.as_raw(), g.gid.as_raw()));
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    // Socket directories may sit in /tmp (long roots): someone else's must never be used, and
    // the ones root binds in (s/, u/) must be root's from the start.
    for (d, app_may_own) in socket_dirs(layout) {
        if let Some(why) = socket_dir_problem(&d, app_may_own, app.map(|a| a.0)) {
            return Err(RemoteError::new("layout", why)
                .hint("remove it, or choose a shorter root so sockets live under it"));
        }
    }
    let nginx_gid = server
        .nginx_group
        .as_deref()
        .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
        .map(|g| g.gid.as_raw());
    let with_group = |gid: Option<u32>| Some((me.0, gid.unwrap_or(me.1)));
    // The agent's state: everything root (the agent's user) owns and the apps can only read;
    // the apps' user owns just its home, the package caches and its own sockets.
    let dirs = [
        (layout.state(), 0o755, Some(me)),
        (layout.logs(), 0o700, Some(me)),
        (layout.locks(), 0o700, Some(me)),
        (layout.venvs(), 0o755, Some(me)),
        (layout.cache(), 0o700, app.or(Some(me))),
        (layout.app_home(), 0o700, app.or(Some(me))),
        // Sockets can load arbitrary Python (uWSGI #2491): only us and nginx's group get in.
        // setgid: sockets created inside belong to that group, so `chmod-socket = 660` suffices.
        (layout.sockets(), 0o2750, with_group(nginx_gid)),
        // The apps' own sockets: the router reaches them as the apps' user.
        (layout.app_sockets(), 0o700, app.or(Some(me))),
        // The subscription server: the apps' group may announce, never replace it.
        (layout.subscriptions(), 0o2750, with_group(app.map(|a| a.1))),
    ];
    for (d, mode, owner) in dirs {
        if let Some(parent) = d.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        }
        crate::fsafe::ensure_dir(&d, mode, owner).map_err(|e| err(&d, e))?;
    }
    crate::venv::seal_legacy(layout, app.map(|a| a.0));
    let json =
        serde_json::to_vec_pretty(server).map_err(|e| RemoteError::new("layout", e.to_string()))?;
    write_if_changed(&layout.server_json(), &json).map_err(|e| err(&layout.server_json(), e))?;
    Ok(())
}

/// The socket directories, and whether the apps' user may own each (its own sockets, v/);
/// root binds in the others.
pub(super) fn socket_dirs(layout: &Layout) -> [(PathBuf, bool); 3] {
    [
        (layout.sockets(), false),
        (layout.app_sockets(), true),
        (layout.subscriptions(), false),
    ]
}

/// What is wrong with an existing socket directory: not a real directory, someone else's,
/// or writable by anyone. `None` when it is missing or fine.
pub(super) fn socket_dir_problem(
    d: &Path,
    app_may_own: bool,
    app_uid: Option<u32>,
) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(d).ok()?;
    let me = nix::unistd::geteuid().as_raw();
    let owner_ok = m.uid() == me || (app_may_own && Some(m.uid()) == app_uid);
    (!m.is_dir() || !owner_ok || m.mode() & 0o002 != 0).then(|| {
        format!(
            "{} is not a directory jib made (owner uid {}, mode {:o})",
            d.display(),
            m.uid(),
            m.mode() & 0o7777
        )
    })
}

/// Writes `path` only when its content differs; returns whether it did.
pub(super) fn write_if_changed(path: &Path, content: &[u8]) -> std::io::Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

/// What the running `serve` wrote about itself.
#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
pub(super) struct ServeInfo {
    pub pid: u32,
    pub version: String,
    pub config: ServerConfig,
}

/// The running serve process, if its pidfile is locked (held for its whole life). The probe
/// itself takes the lock for an instant when free, which a starting serve waits out.
pub(super) fn running_serve(layout: &Layout) -> Option<ServeInfo> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(layout.pidfile())
        .ok()?;
    if f.try_lock().is_ok() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(layout.serve_info()).ok()?).ok()
}

fn systemd_unit_name(layout: &Layout) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(layout.root.as_os_str().as_encoded_bytes());
    format!("jib-agent-{}.service", &hex::encode(h)[..8])
}

/// Starts serve unless this very version and configuration runs; true when it started one.
fn start_service(server: &ServerConfig, layout: &Layout) -> Result<(bool, String), RemoteError> {
    let err = |m: String| RemoteError::new("service", m);
    if let Some(info) = running_serve(layout) {
        if info.version == crate::protocol::version_line() && &info.config == server {
            return Ok((false, format!("already running (pid {})", info.pid)));
        }
        stop_serve(layout, info.pid);
    }
    let agent = layout.agent_bin();
    let agent = if agent.exists() {
        agent
    } else {
        std::env::current_exe().map_err(|e| err(e.to_string()))?
    };
    let use_systemd = Path::new("/run/systemd/system").is_dir()
        && nix::unistd::geteuid().is_root()
        && std::env::var_os("JIB_NO_SYSTEMD").is_none();
    let how = if use_systemd {
        let unit = systemd_unit_name(layout);
        let text = format!(
            "[Unit]\nDescription=jib agent for {root}\nAfter=network.target\n\n[Service]\n\
             ExecStart={agent} serve --root {root}\nKillSignal=SIGTERM\nRestart=always\nRestartSec=2\n\n\
             [Install]\nWantedBy=multi-user.target\n",
            root = server.root.display(),
            agent = agent.display()
        );
        let path = Path::new("/etc/systemd/system").join(&unit);
        write_if_changed(&path, text.as_bytes())
            .map_err(|e| err(format!("cannot write {}: {e}", path.display())))?;
        for args in [
            vec!["daemon-reload"],
            vec!["enable", &unit],
            vec!["restart", &unit],
        ] {
            let st = Command::new("systemctl")
                .args(&args)
                .status()
                .map_err(|e| err(e.to_string()))?;
            if !st.success() {
                return Err(err(format!("systemctl {} failed", args.join(" ")))
                    .hint(format!("see: journalctl -u {unit}")));
            }
        }
        format!("systemd unit {unit}")
    } else {
        let log = layout.agent_log();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| err(format!("cannot open {}: {e}", log.display())))?;
        let mut cmd = Command::new(&agent);
        // serve's environment reaches everything it starts: none of this call's.
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8");
        cmd.arg("serve")
            .arg("--root")
            .arg(&server.root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| err(e.to_string()))?)
            .stderr(out);
        // Its own session: it outlives this ssh command and the CLI.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        cmd.spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", agent.display())))?;
        "started in the background (no systemd)".to_string()
    };
    // Ready when serve has written its info and its router socket/port exists.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(info) = running_serve(layout)
            && info.version == crate::protocol::version_line()
            && router_ready(server, layout)
        {
            return Ok((true, format!("{how}, pid {}", info.pid)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(
        err("jib-agent serve did not become ready within 15 s".into())
            .log_tail(crate::fsafe::tail(&layout.agent_log(), 15))
            .hint(format!("see {}", layout.logs().display())),
    )
}

pub(super) fn router_ready(server: &ServerConfig, layout: &Layout) -> bool {
    if server.fleet.as_ref().is_some_and(|f| !f.router) {
        // A fleet's host: the front door is on the routers.
        return true;
    }
    match server.router {
        RouterKind::Nginx => layout.router_socket().exists(),
        RouterKind::Http => crate::health::local_addr(&server.listen)
            .ok()
            .is_some_and(|a| {
                std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
            }),
    }
}

/// Stops a running serve (SIGTERM: it stops its emperor and router first).
fn stop_serve(layout: &Layout, pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let start = Instant::now();
    while running_serve(layout).is_some() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
}
