//! `jib-agent doctor`: the server's half of `jib doctor`. Every check runs (one failure does
//! not hide the next) and every failure says how to fix it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};

use super::setup::{missing_prerequisites, router_ready, running_serve};
use crate::layout::Layout;
use crate::protocol::{Check, Reply, RouterKind, ServerConfig};

pub(super) fn doctor(server: &ServerConfig, python: &str) -> Reply {
    let layout = Layout::new(&server.root);
    let mut checks = vec![Check::ok("agent", crate::protocol::version_line())];
    checks.push(match super::ctl::access(&layout) {
        (true, what, _) => Check::ok("access", what),
        (false, what, fix) => Check::fail("access", what, fix),
    });

    checks.push(packages_check(server));
    checks.push(match super::ctx::check_server(server) {
        Ok(_) => Check::ok("setup", server.root.display().to_string()),
        Err(e) => Check::fail(
            "setup",
            e.message,
            e.hint.unwrap_or_else(|| "run `jib setup`".into()),
        ),
    });
    checks.extend(serve_checks(server, &layout));

    let routes = server.fleet.as_ref().is_none_or(|f| f.router);
    if server.router == RouterKind::Nginx && routes {
        checks.push(nginx_check(server));
        checks.push(socket_check(server, &layout));
        if let Some(st) = crate::acme::status(server, &layout, None) {
            checks.push(certificate_check(&st, &layout));
        }
        if crate::acme::per_branch(server) {
            checks.push(branch_certificates_check(
                &crate::acme::branch_statuses(server, &layout),
                &layout,
            ));
        }
    }
    if let Some(role) = &server.fleet {
        checks.push(fleet_check(role, &layout));
    }
    checks.push(disk_check(&layout));
    checks.push(match crate::venv::find_python(python) {
        Ok(p) => Check::ok("python", format!("{} ({python:?})", p.path.display())),
        Err(e) => Check::fail(
            "python",
            e.message,
            e.hint.unwrap_or_else(|| "install it".into()),
        ),
    });
    checks.push(match crate::programs::which("uv") {
        Some(uv) => Check::ok("uv", uv.display().to_string()),
        None => Check::warn(
            "uv",
            "not installed: venvs are built with venv + pip (slower)",
            "pip install uv (or: curl -LsSf https://astral.sh/uv/install.sh | sh)",
        ),
    });
    Reply::Doctor { checks }
}

/// uWSGI, its Python plugin, nginx (when it routes) and venv support.
fn packages_check(server: &ServerConfig) -> Check {
    let missing = missing_prerequisites(server);
    if missing.is_empty() {
        return Check::ok(
            "packages",
            if server.router == RouterKind::Nginx {
                "uwsgi, its python3 plugin, nginx, python3-venv"
            } else {
                "uwsgi, its python3 plugin, python3-venv"
            },
        );
    }
    let pkgs: Vec<&str> = missing.iter().map(|m| m.package).collect();
    Check::fail(
        "packages",
        format!(
            "missing: {}",
            missing
                .iter()
                .map(|m| m.what)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "apt-get install {} (or: jib setup --install-deps)",
            pkgs.join(" ")
        ),
    )
}

/// `jib-agent serve` and, when it runs, the emperor and the router it keeps running.
fn serve_checks(server: &ServerConfig, layout: &Layout) -> Vec<Check> {
    let Some(info) = running_serve(layout) else {
        return vec![Check::fail(
            "serve",
            "jib-agent serve is not running: no app is started or routed",
            "run `jib setup` (it starts it under systemd where available)",
        )];
    };
    let procs = processes();
    let root = server.root.display().to_string();
    let emperor = procs
        .iter()
        .find(|(_, c)| c.contains("--emperor") && c.contains(&root));
    let router_sock = layout.router_socket().display().to_string();
    let router = procs.iter().find(|(_, c)| {
        (c.contains("--fastrouter") && c.contains(&router_sock))
            || (c.contains("--http") && c.contains(&server.listen))
    });
    let (node, routes) = server
        .fleet
        .as_ref()
        .map_or((true, true), |f| (f.node, f.router));
    let mut out = vec![Check::ok(
        "serve",
        format!("jib-agent serve, pid {}", info.pid),
    )];
    if node {
        out.push(match emperor {
            Some((pid, _)) => Check::ok("emperor", format!("uWSGI Emperor, pid {pid}")),
            None => Check::fail(
                "emperor",
                "no uWSGI Emperor runs for this root",
                format!("see {}; `jib setup` restarts it", layout.logs().display()),
            ),
        });
    }
    if routes {
        out.push(match (router, router_ready(server, layout)) {
            (Some((pid, _)), true) => Check::ok("router", format!("uWSGI router, pid {pid}")),
            _ => Check::fail(
                "router",
                "the uWSGI router is not running or not accepting",
                format!(
                    "see {}; `jib setup` restarts it",
                    layout.supervised_log("router").display()
                ),
            ),
        });
    }
    out
}

/// A machine of a fleet: its peers, its subscription key (a node) and its firewall.
fn fleet_check(role: &crate::protocol::FleetRole, layout: &Layout) -> Check {
    let peers = match crate::fleet::Peers::load(layout) {
        Ok(p) => p,
        Err(e) => {
            return Check::fail(
                "fleet",
                format!("{e:#}"),
                "run `jib setup` for the environment",
            );
        }
    };
    if role.node {
        let key = std::fs::read_to_string(layout.fleet_key()).ok();
        if key
            .as_deref()
            .and_then(|k| crate::fleet::fingerprint(k).ok())
            .is_none()
        {
            return Check::fail(
                "fleet",
                format!("no subscription key at {}", layout.fleet_key().display()),
                "run `jib setup` for the environment (it gives every host the key)",
            );
        }
    }
    let firewall = std::process::Command::new("nft")
        .args(["list", "table", "inet", "jib"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !firewall {
        return Check::fail(
            "fleet",
            "jib's firewall table (nft table inet jib) is missing: app sockets are open to the whole private network",
            "run `jib setup` for the environment (as root; nftables installed)",
        );
    }
    Check::ok(
        "fleet",
        format!(
            "{} on the private network; {} router(s), {} host(s); firewall in place",
            peers.address,
            peers.routers.len(),
            peers.nodes.len()
        ),
    )
}

/// (pid, command line) of every process.
fn processes() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")))
        })
        .collect()
}

/// `nginx -t` with the same prefix and config the reload command uses.
fn nginx_check(server: &ServerConfig) -> Check {
    let mut cmd: Vec<String> = server.nginx_reload.clone();
    if cmd.len() >= 2 && cmd[cmd.len() - 2] == "-s" {
        cmd.truncate(cmd.len() - 2);
    }
    // `systemctl reload nginx` and the like: test the configuration nginx itself reads.
    if !cmd
        .first()
        .is_some_and(|c| c == "nginx" || c.ends_with("/nginx"))
    {
        cmd = vec!["nginx".into()];
    }
    cmd.push("-t".into());
    // Under /usr/sbin, which an unprivileged user's PATH may lack.
    if !cmd[0].contains('/')
        && let Some(p) = crate::programs::which(&cmd[0])
    {
        cmd[0] = p.display().to_string();
    }
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .output();
    let site_ok = server
        .nginx_site
        .as_ref()
        .is_none_or(|s| std::fs::metadata(s).is_ok());
    match out {
        Ok(o) if o.status.success() && site_ok => {
            Check::ok("nginx", format!("`{}` passes", cmd.join(" ")))
        }
        Ok(o) if o.status.success() => Check::fail(
            "nginx",
            format!(
                "the site {} is missing",
                server
                    .nginx_site
                    .as_ref()
                    .map(|s| s.display().to_string())
                    .unwrap_or_default()
            ),
            "run `jib setup` to write and link it",
        ),
        Ok(o) => Check::fail(
            "nginx",
            format!(
                "`{}` fails: {}",
                cmd.join(" "),
                crate::fsafe::last_lines(&String::from_utf8_lossy(&o.stderr), 2).join(" / ")
            ),
            "fix the configuration nginx names, then `jib setup`",
        ),
        Err(e) => Check::fail(
            "nginx",
            format!("cannot run {}: {e}", cmd[0]),
            "apt-get install nginx-light",
        ),
    }
}

/// The router socket must be reachable by nginx's group and by nobody else.
fn socket_check(server: &ServerConfig, layout: &Layout) -> Check {
    let dir = layout.sockets();
    let Ok(meta) = std::fs::metadata(&dir) else {
        return Check::fail(
            "sockets",
            format!("{} does not exist", dir.display()),
            "run `jib setup`",
        );
    };
    let mode = meta.permissions().mode() & 0o7777;
    let group = server.nginx_group.as_deref().unwrap_or("");
    let gid = nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    if mode & 0o007 != 0 {
        return Check::fail(
            "sockets",
            format!("{} is open to everyone (mode {mode:o})", dir.display()),
            "run `jib setup` (it makes it 2750, group nginx's)",
        );
    }
    if gid.is_some_and(|g| g != meta.gid()) || mode & 0o050 != 0o050 {
        return Check::fail(
            "sockets",
            format!(
                "nginx (group {group}) cannot reach {} (mode {mode:o}, gid {})",
                dir.display(),
                meta.gid()
            ),
            "run `jib setup`; nginx answers 502 until it can",
        );
    }
    Check::ok(
        "sockets",
        format!("{} mode {mode:o}, group {group}", dir.display()),
    )
}

fn disk_check(layout: &Layout) -> Check {
    let path = if layout.root.exists() {
        layout.root.clone()
    } else {
        std::path::PathBuf::from("/")
    };
    match nix::sys::statvfs::statvfs(&path) {
        Ok(st) => {
            let free = st.blocks_available() * st.fragment_size();
            let total = st.blocks() * st.fragment_size();
            let detail = format!(
                "{:.1} GB free of {:.1} GB on {}",
                free as f64 / 1e9,
                total as f64 / 1e9,
                path.display()
            );
            if free < 1_000_000_000 || (total > 0 && free * 20 < total) {
                Check::warn(
                    "disk",
                    detail,
                    "free space: `jib destroy` unused branches; old releases and venvs go with them",
                )
            } else {
                Check::ok("disk", detail)
            }
        }
        Err(e) => Check::warn(
            "disk",
            format!("cannot stat {}: {e}", path.display()),
            "check the root's filesystem",
        ),
    }
}

/// One certificate per branch: every live branch's obtained, its last attempt not failed.
fn branch_certificates_check(
    all: &[(String, crate::protocol::CertStatus)],
    layout: &Layout,
) -> Check {
    let failed: Vec<String> = all
        .iter()
        .filter_map(|(host, st)| {
            let e = st.error.as_deref()?;
            Some(format!(
                "{host}: {} {e} (retried at {})",
                match &st.not_after {
                    Some(t) => format!("renewal failed (serving until {t}):"),
                    None => "none obtained, plain HTTP meanwhile:".into(),
                },
                st.retry_at.as_deref().unwrap_or("?")
            ))
        })
        .collect();
    if !failed.is_empty() {
        return Check::warn(
            "certificates",
            failed.join("; "),
            format!(
                "fix the cause (details in {}); pushing the branch again retries at once",
                layout.agent_log().display()
            ),
        );
    }
    let soonest = all
        .iter()
        .filter_map(|(host, st)| Some((st.not_after.as_deref()?, host)))
        .min();
    Check::ok(
        "certificates",
        match soonest {
            Some((t, host)) => format!(
                "one per branch: {} of {} live branches have theirs; the first to expire: {host}, {t}",
                all.iter().filter(|(_, s)| s.not_after.is_some()).count(),
                all.len()
            ),
            None => format!(
                "one per branch, obtained at each branch's first push ({} live)",
                all.len()
            ),
        },
    )
}

/// The certificate from the ACME server: there, not expired, its last renewal not failed.
fn certificate_check(st: &crate::protocol::CertStatus, layout: &Layout) -> Check {
    let log = layout.agent_log().display().to_string();
    let expired = st.not_after.as_deref().is_some_and(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|t| t < time::OffsetDateTime::now_utc())
    });
    match (&st.not_after, &st.error) {
        (None, Some(e)) => Check::fail(
            "certificate",
            format!("none obtained: {e}"),
            format!("fix the cause (details in {log}), then run `jib setup`"),
        ),
        (None, None) => Check::warn(
            "certificate",
            "not obtained yet",
            "run `jib setup` (it waits for the certificate)",
        ),
        (Some(t), _) if expired => Check::fail(
            "certificate",
            format!(
                "{} EXPIRED at {t}: {}",
                st.names.join(", "),
                st.error.as_deref().unwrap_or("not renewed")
            ),
            format!("fix the cause (details in {log}), then run `jib setup`"),
        ),
        (Some(t), Some(e)) => Check::warn(
            "certificate",
            format!(
                "renewal failed at {}: {e}; the certificate for {} keeps serving until {t}; retried at {}",
                st.attempted.as_deref().unwrap_or("?"),
                st.names.join(", "),
                st.retry_at.as_deref().unwrap_or("?")
            ),
            format!("fix the cause (details in {log}); `jib setup` retries at once"),
        ),
        (Some(t), None) => Check::ok(
            "certificate",
            format!(
                "{} valid until {t}, renewed from {}",
                st.names.join(", "),
                st.renew_at.as_deref().unwrap_or("?")
            ),
        ),
    }
}
