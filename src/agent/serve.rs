//! `jib-agent serve --root <root>`: keeps the uWSGI emperor and router running (restarting
//! them when they die), writes the vassal template and the nginx site, answers hosts nobody
//! serves with a 404 page, and on SIGTERM/SIGINT stops everything it started.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use super::setup::{ServeInfo, write_if_changed};
use crate::layout::Layout;
use crate::protocol::{RouterKind, ServerConfig};
use crate::{emperor, router};

fn log(msg: impl AsRef<str>) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "{} jib-agent serve: {}",
        crate::release::utc_now(),
        msg.as_ref()
    );
}

pub fn serve(root: &Path) -> Result<()> {
    let layout = Layout::new(root);
    let server: ServerConfig =
        serde_json::from_slice(&std::fs::read(layout.server_json()).with_context(|| {
            format!("{} has not been set up: run `jib setup`", root.display())
        })?)?;
    let pidfile = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(layout.pidfile())?;
    // A probe (`running_serve`) holds the lock for an instant to ask whether serve runs; only
    // a lock still held after a moment means another serve.
    let mut tries = 0;
    while pidfile.try_lock().is_err() {
        tries += 1;
        if tries < 40 {
            std::thread::sleep(Duration::from_millis(25));
            continue;
        }
        bail!(
            "another jib-agent serve is already running for {}",
            root.display()
        );
    }
    pidfile.set_len(0)?;
    writeln!(&pidfile, "{}", std::process::id())?;

    // Never start apps or the router as root because the apps' user cannot be looked up now
    // (a directory service not up yet, a renamed user): refuse, and let systemd retry.
    if nix::unistd::geteuid().is_root() {
        super::setup::check_ancestors(root).map_err(anyhow::Error::msg)?;
    }
    if server.run_as.is_some() && nix::unistd::geteuid().is_root() {
        crate::identity::of_server(&server)?
            .context("run_as names no user that can be resolved; not starting apps as root")?;
    }
    // A fleet machine's firewall first: after a reboot nothing may listen unprotected.
    crate::fleet::apply_for(&layout, &server)
        .context("cannot put the fleet's firewall in place; not starting the apps")?;
    write_files(&server, &layout)?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(supervise(&server, &layout));
    let _ = std::fs::remove_file(layout.serve_info());
    drop(pidfile);
    result
}

/// A deploy that died between its cut and its verdict (agent killed, machine rebooted) left
/// `current` on a `pending` release nobody checked. Before the emperor starts anything (it
/// dies with serve, and its vassals with it), the last good release goes back, so a reboot
/// never serves an unverified release; without one, the app stays stopped.
fn recover_at_rest(app: &crate::layout::AppLayout, server: &ServerConfig, layout: &Layout) {
    use crate::release::{self, ReleaseState};
    let Some(mut cur) = release::current(app) else {
        return;
    };
    if cur.state != ReleaseState::Pending {
        return;
    }
    cur.state = ReleaseState::Failed;
    let _ = release::write_meta(&app.release(&cur.id), &cur);
    let good = release::list(app)
        .into_iter()
        .rev()
        .find(|r| r.state == ReleaseState::Ok);
    log(format!(
        "{}: an interrupted deploy left release {} unverified; {}",
        app.name,
        cur.id,
        match &good {
            Some(g) => format!("back to release {}", g.id),
            None => "no good release to go back to: the app stays stopped".into(),
        }
    ));
    // The instances of the unverified release go (all of them when nothing good is left).
    for i in emperor::instances(app) {
        let pinned =
            crate::fsafe::read_to_string(&app.instance_release(&i), 256).unwrap_or_default();
        if good.is_none() || pinned.trim() == cur.id {
            for f in [
                app.instance_ini(&i),
                app.instance_hold(&i),
                app.instance_release(&i),
            ] {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    let Some(good) = good else {
        let _ = std::fs::remove_file(app.current());
        return;
    };
    if let Err(e) = release::make_current(app, &good.id) {
        log(format!(
            "{}: cannot put release {} back: {e:#}",
            app.name, good.id
        ));
        return;
    }
    // An awake app whose only live instance ran the unverified release gets one of the good
    // release, announcing itself once it is up (held instances are tidied away next).
    let held = |i: &String| std::fs::symlink_metadata(app.instance_hold(i)).is_ok();
    if server.idle_secs.is_none() && emperor::instances(app).iter().all(held) {
        match emperor::start_instance(app, layout, server, &good.id) {
            Ok(i) => {
                let _ = std::fs::remove_file(app.instance_hold(&i));
            }
            Err(e) => log(format!(
                "{}: cannot start release {}: {e:#}",
                app.name, good.id
            )),
        }
    }
}

/// A deploy whose agent died (SIGKILL, the OOM killer, a lost session's hangup) leaves what
/// it was in the middle of with nobody holding the app's lock: `current` on a release nobody
/// checked, or an instance held back from the router (a new one staged, an old one withdrawn)
/// next to the live one. serve puts the last good release back and stops the held instance
/// within seconds, as the app's next deploy would, rather than leave it until somebody deploys.
fn repair_interrupted(server: &ServerConfig, layout: &Layout) {
    use crate::release::{self, ReleaseState};
    let pending = |app: &crate::layout::AppLayout| {
        release::current(app).is_some_and(|c| c.state == ReleaseState::Pending)
    };
    let stray = |app: &crate::layout::AppLayout| {
        let all = emperor::instances(app);
        let held = |i: &String| std::fs::symlink_metadata(app.instance_hold(i)).is_ok();
        all.iter().any(held) && !all.iter().all(held)
    };
    for name in emperor::apps(layout) {
        let app = layout.app(&name);
        if !pending(&app) && !stray(&app) {
            continue;
        }
        let em = super::emit::Emitter::log_only();
        let ctx = super::ctx::Ctx::new(server, layout.clone(), &name, "jib-agent serve", &em);
        // Held: a deploy, restart or fleet switch is in the middle of it, which is its business.
        let Ok(_lock) = ctx.lock("putting back what an interrupted deploy left".into(), 0) else {
            continue;
        };
        em.tee(&ctx.app.deploy_log());
        if pending(&ctx.app) {
            log(format!(
                "{name}: a deploy died before its verdict; putting the last good release back"
            ));
            ctx.recover_interrupted();
        }
        if stray(&ctx.app) {
            log(format!(
                "{name}: stopping an instance a dead deploy held back from the router"
            ));
        }
        // (Also what recover_interrupted ends with; here for a dead deploy that left only that.)
        if emperor::tidy(&ctx.app) {
            emperor::rescan(layout);
        }
    }
}

/// Template, WSGI shim and nginx site. A changed template is applied to every app by touching
/// its link (the emperor watches the links themselves).
fn write_files(server: &ServerConfig, layout: &Layout) -> Result<()> {
    // They may sit in /tmp (long roots), emptied at boot: never bind in one someone else made.
    check_socket_dirs(server, layout)?;
    write_if_changed(&layout.shim(), include_bytes!("../assets/jib_wsgi.py"))?;
    write_if_changed(
        &layout.supervisor(),
        include_bytes!("../assets/jib_procs.py"),
    )?;
    if write_if_changed(
        &layout.template(),
        emperor::template(server, layout).as_bytes(),
    )? {
        for app in emperor::apps(layout) {
            let app = layout.app(&app);
            for i in emperor::instances(&app) {
                let _ = emperor::touch_link(&app.instance_ini(&i));
            }
        }
    }
    for app in emperor::apps(layout) {
        let app = layout.app(&app);
        recover_at_rest(&app, server, layout);
        emperor::tidy(&app);
        for i in emperor::instances(&app) {
            let _ = emperor::prepare_dirs(&app, server)
                .and_then(|()| emperor::own_link(&app.instance_ini(&i), server));
        }
    }
    if server.router == RouterKind::Nginx
        && is_router(server)
        && write_site(server, layout)?
        && !server.nginx_reload.is_empty()
    {
        reload_nginx(server);
    }
    Ok(())
}

/// The nginx site and its link; true when either changed (then nginx must reload: a graceful
/// reload, old workers finish their requests).
pub(super) fn write_site(server: &ServerConfig, layout: &Layout) -> Result<bool> {
    let conf = layout.nginx_conf();
    let changed = write_if_changed(&conf, router::nginx_site(server, layout).as_bytes())?;
    let mut linked = false;
    if let Some(site) = &server.nginx_site
        && std::fs::read_link(site).ok().as_deref() != Some(conf.as_path())
    {
        if let Some(d) = site.parent() {
            std::fs::create_dir_all(d).ok();
        }
        // Replace only our own link, never someone's real configuration.
        if std::fs::symlink_metadata(site).is_ok_and(|m| !m.file_type().is_symlink()) {
            anyhow::bail!(
                "{} exists and is not jib's link; move it away or set nginx.site in deploy.toml",
                site.display()
            );
        }
        let _ = std::fs::remove_file(site);
        std::os::unix::fs::symlink(&conf, site)
            .with_context(|| format!("cannot link the nginx site at {}", site.display()))?;
        linked = true;
    }
    Ok(changed || linked)
}

fn reload_nginx(server: &ServerConfig) {
    let st = std::process::Command::new(&server.nginx_reload[0])
        .args(&server.nginx_reload[1..])
        .status();
    match st {
        Ok(s) if s.success() => log("nginx reloaded"),
        other => log(format!(
            "reloading nginx ({}) failed: {other:?}",
            server.nginx_reload.join(" ")
        )),
    }
}

/// The socket directories as `jib setup` made them (see `setup::socket_dir_problem`).
fn check_socket_dirs(server: &ServerConfig, layout: &Layout) -> Result<()> {
    let app = crate::identity::of_server(server)?.map(|(u, _)| u.uid.as_raw());
    for (d, app_may_own) in super::setup::socket_dirs(layout) {
        if !d.is_dir() {
            bail!("{} is missing: run `jib setup`", d.display());
        }
        if let Some(why) = super::setup::socket_dir_problem(&d, app_may_own, app) {
            bail!("{why}; remove it and run `jib setup`");
        }
    }
    Ok(())
}

struct Supervised {
    name: &'static str,
    child: Option<Child>,
    make: Box<dyn Fn() -> std::process::Command>,
    failures: u32,
}

impl Supervised {
    fn start(&mut self, layout: &Layout) -> Result<()> {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(layout.supervised_log(self.name))?;
        let mut cmd = (self.make)();
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf);
        // If the agent is killed outright, uWSGI must not outlive it (SIGINT = stop for uWSGI).
        unsafe {
            cmd.pre_exec(|| {
                nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGINT);
                // The subscription socket (which uWSGI never chmods) must let the apps'
                // group announce: its directory gives the group, this the mode.
                nix::libc::umask(0o007);
                Ok(())
            });
        }
        let child = Command::from(cmd)
            .spawn()
            .with_context(|| format!("cannot start the {} (is uwsgi installed?)", self.name))?;
        log(format!(
            "started {} (pid {})",
            self.name,
            child.id().unwrap_or(0)
        ));
        self.child = Some(child);
        Ok(())
    }

    async fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if let Some(pid) = c.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        if tokio::time::timeout(Duration::from_secs(15), c.wait())
            .await
            .is_err()
        {
            log(format!("{} did not stop in 15 s; killing it", self.name));
            let _ = c.kill().await;
        }
    }
}

async fn supervise(server: &ServerConfig, layout: &Layout) -> Result<()> {
    // nginx (the sockets directory's group) connects to it directly when apps scale to zero;
    // the router, which runs as the apps' user, through the subscriptions directory.
    for sock in [layout.notfound_socket(), layout.notfound_router_socket()] {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock)?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660))?;
        tokio::spawn(not_found_server(
            listener,
            server.domain.clone(),
            layout.clone(),
        ));
    }
    tokio::spawn(announce_not_found(layout.clone(), server.fleet.is_some()));
    if server.index.is_some() && server.router == RouterKind::Nginx && is_router(server) {
        use std::os::unix::fs::PermissionsExt;
        let sock = layout.index_socket();
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock)?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660))?;
        tokio::spawn(index_server(listener, server.clone(), layout.clone()));
    }
    if server.fleet.is_some() && is_node(server) {
        // The apps' instances, announced to the routers by root: the key stays root's.
        let (l, s) = (layout.clone(), server.clone());
        std::thread::spawn(move || announce_instances(&l, &s));
    }
    // Certificates from an ACME server: obtained now if missing, renewed when due. A new one
    // is a new file behind the same path: the site may change (the HTTPS server appears with
    // the first one), and nginx re-reads the file only when reloaded.
    if is_router(server) && server.router == RouterKind::Nginx {
        let (s, l) = (server.clone(), layout.clone());
        tokio::spawn(crate::acme::keep(
            server.clone(),
            layout.clone(),
            log,
            move || {
                // Reloaded even when the site is the same: the file behind it is new.
                if let Err(e) = write_site(&s, &l) {
                    log(format!("cannot write the nginx site: {e:#}"));
                }
                if !s.nginx_reload.is_empty() {
                    reload_nginx(&s);
                }
            },
        ));
    }
    // Unprivileged deploy users reach this root's agent through its control socket.
    if nix::unistd::geteuid().is_root() {
        super::ctl::listen(layout)?;
    }

    let (s1, l1) = (server.clone(), layout.clone());
    let (s2, l2) = (server.clone(), layout.clone());
    let mut procs = vec![
        Supervised {
            name: "emperor",
            child: None,
            make: Box::new(move || emperor::command(&l1, &s1)),
            failures: 0,
        },
        Supervised {
            name: "router",
            child: None,
            make: Box::new(move || {
                let mut c = router::command(&s2, &l2);
                // The router process connects to whatever address an app subscribes: never as
                // root. Its master (root) binds the sockets; the router itself drops to the
                // apps' user, with no supplementary groups of root's left.
                if let Ok(Some((u, g))) = crate::identity::of_server(&s2) {
                    let kind = match s2.router {
                        RouterKind::Nginx => "fastrouter",
                        RouterKind::Http => "http",
                    };
                    c.arg(format!("--{kind}-uid"))
                        .arg(u.uid.to_string())
                        .arg(format!("--{kind}-gid"))
                        .arg(g.gid.to_string());
                    // SAFETY: only async-signal-safe calls between fork and exec.
                    unsafe {
                        c.pre_exec(|| nix::unistd::setgroups(&[]).map_err(Into::into));
                    }
                }
                c
            }),
            failures: 0,
        },
    ];
    // A fleet machine runs what its role needs: the apps, the front door, or both.
    procs.retain(|p| match p.name {
        "emperor" => is_node(server),
        _ => is_router(server),
    });
    for p in procs.iter_mut() {
        p.start(layout)?;
    }
    let info = ServeInfo {
        pid: std::process::id(),
        version: crate::protocol::version_line(),
        config: server.clone(),
    };
    write_if_changed(&layout.serve_info(), &serde_json::to_vec_pretty(&info)?)?;
    if is_node(server) {
        let (s, l) = (server.clone(), layout.clone());
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(2));
                crate::sandbox::Sandbox::kill_orphaned_groups(s.run_as.as_deref(), &l);
                repair_interrupted(&s, &l);
            }
        });
    }

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => {
                for p in procs.iter_mut() {
                    let exited = match p.child.as_mut().map(|c| c.try_wait()) {
                        Some(Ok(Some(status))) => Some(status),
                        _ => None,
                    };
                    if let Some(status) = exited {
                        p.failures += 1;
                        let backoff = Duration::from_millis(250 * u64::from(p.failures.min(20)));
                        log(format!("{} exited ({status}); restarting in {backoff:?}", p.name));
                        p.child = None;
                        tokio::time::sleep(backoff).await;
                        if let Err(e) = p.start(layout) {
                            log(format!("{e:#}"));
                        }
                    }
                }
            }
        }
    }
    log("stopping");
    // Router first, so nothing new is accepted while the apps stop.
    for p in procs.iter_mut().rev() {
        p.stop().await;
    }
    let _ = std::fs::remove_file(layout.notfound_socket());
    let _ = std::fs::remove_file(layout.notfound_router_socket());
    let _ = std::fs::remove_file(layout.index_socket());
    let _ = std::fs::remove_file(layout.control_socket());
    log("stopped");
    Ok(())
}

/// A fleet node's announces, every second (routers forget a host after 3 s of silence). A
/// failure is logged once, and retried.
fn announce_instances(layout: &Layout, server: &ServerConfig) {
    let mut last_error = String::new();
    loop {
        match crate::fleet::announce_live(layout, server) {
            Ok(_) => last_error.clear(),
            Err(e) => {
                let msg = format!("cannot announce the apps to the routers: {e:#}");
                if msg != last_error {
                    log(&msg);
                    last_error = msg;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs the apps: every machine but a fleet's router-only ones.
fn is_node(server: &ServerConfig) -> bool {
    server.fleet.as_ref().is_none_or(|f| f.node)
}

/// Is a front door: every machine but a fleet's host-only ones.
pub(super) fn is_router(server: &ServerConfig) -> bool {
    server.fleet.as_ref().is_none_or(|f| f.router)
}

/// Keeps the 404 server subscribed under the router's fallback key (subscriptions expire
/// unless renewed, and the router may have restarted).
async fn announce_not_found(layout: Layout, signed: bool) {
    let address = layout
        .notfound_router_socket()
        .to_string_lossy()
        .into_owned();
    // A fleet's router checks every announce, this one too: signed with its own key, anew
    // each time (a signature carries its time).
    let own_key = signed
        .then(|| std::fs::read_to_string(layout.router_key()).ok())
        .flatten();
    let packet = move || match &own_key {
        Some(k) => crate::fleet::signed_packet(router::NOT_FOUND_KEY, &address, false, k).ok(),
        None => Some(router::subscription_packet(router::NOT_FOUND_KEY, &address)),
    };
    let Ok(sock) = tokio::net::UnixDatagram::unbound() else {
        return;
    };
    // Often at first (the router may not be listening yet), then at a relaxed pace.
    for n in 0u32.. {
        if let Some(p) = packet() {
            let _ = sock.send_to(&p, layout.subscription_socket()).await;
        }
        // A fleet's router forgets a node after a few seconds without an announce.
        let pause = if n < 40 {
            250
        } else if signed {
            1000
        } else {
            5000
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// A uwsgi request's header and vars (nginx's, the router's, or anyone's who can connect):
/// 5 seconds to say what it wants.
async fn read_request(s: &mut tokio::net::UnixStream) -> Option<Vec<u8>> {
    let read = async {
        let mut buf = vec![0u8; 4];
        s.read_exact(&mut buf).await?;
        let size = u16::from_le_bytes([buf[1], buf[2]]) as usize;
        buf.resize(4 + size, 0);
        s.read_exact(&mut buf[4..]).await?;
        Ok::<_, std::io::Error>(buf)
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()?
        .ok()
}

/// Answers the router's fallback traffic (hosts with no app) with a 404 page.
async fn not_found_server(listener: tokio::net::UnixListener, domain: String, layout: Layout) {
    loop {
        // An error (out of descriptors, say) must not end the 404 server for good.
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (domain, layout) = (domain.clone(), layout.clone());
        tokio::spawn(async move {
            let Some(buf) = read_request(&mut s).await else {
                return;
            };
            let host = router::uwsgi_host(&buf).unwrap_or_default();
            // HTTP-01: nginx sends /.well-known/acme-challenge/ here for every name.
            let answer =
                router::uwsgi_path(&buf).and_then(|p| crate::acme::challenge_answer(&layout, &p));
            let resp = match answer {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => {
                    let body = router::not_found_page(&host, &domain);
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
            };
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}

/// Answers the branch index for nginx (the bare domain, or `/.jib/` of a promotion target's
/// names) from what `jib list` shows. No app code runs: serve reads the root as `jib list`
/// does, a few requests at a time (a page nobody logs into can be asked for by anyone).
async fn index_server(listener: tokio::net::UnixListener, server: ServerConfig, layout: Layout) {
    let busy = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (server, layout, busy) = (server.clone(), layout.clone(), busy.clone());
        tokio::spawn(async move {
            let Some(buf) = read_request(&mut s).await else {
                return;
            };
            let vars = router::uwsgi_vars(&buf).unwrap_or_default();
            let var = |name: &[u8]| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            // PATH_INFO is nginx's `$document_uri`: decoded, without the query.
            let (method, path) = (var(b"REQUEST_METHOD"), var(b"PATH_INFO"));
            let Ok(_turn) = busy.acquire_owned().await else {
                return;
            };
            let head = method == "HEAD";
            let Ok(a) = tokio::task::spawn_blocking(move || {
                crate::index::answer(&server, &method, &path, || {
                    super::list::apps(&server, &layout)
                })
            })
            .await
            else {
                return;
            };
            let mut resp = format!(
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
                 X-Content-Type-Options: nosniff\r\nX-Robots-Tag: noindex, nofollow\r\nReferrer-Policy: no-referrer\r\n\
                 Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'\r\n\
                 Connection: close\r\n\r\n",
                a.status,
                a.content_type,
                a.body.len()
            )
            .into_bytes();
            if !head {
                resp.extend(a.body);
            }
            let _ = s.write_all(&resp).await;
            let _ = s.shutdown().await;
        });
    }
}
