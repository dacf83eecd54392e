//! `jib doctor [-e ENV] [--json]`: a checklist from the laptop to the app — git, ssh,
//! deploy.toml, reaching the host, the agent, and the server's own checks — each failure with
//! how to fix it.

use std::time::Instant;

use crate::cli::ui::{format_ms, sanitize};
use crate::cli::{Failure, Global, Project, exit, fail, output};
use crate::protocol::{Check, CheckStatus, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &DoctorArgs) -> Result<(), Failure> {
    let (mut checks, project) = local_checks(g);
    // The server is only asked when everything here is right.
    let project = project.filter(|_| !checks.iter().any(is_failure));
    if let Some(p) = &project {
        if p.env.is_fleet() && p.only.is_none() {
            // Every host and router, each check named after its machine.
            let all = futures::future::join_all(
                p.env
                    .machines()
                    .into_iter()
                    .map(|m| async move { (m, remote_checks(p, Some(m)).await) }),
            )
            .await;
            for (m, cs) in all {
                checks.extend(cs.into_iter().map(|mut c| {
                    c.name = format!("{m} {}", c.name);
                    c
                }));
            }
        } else {
            checks.extend(remote_checks(p, None).await);
        }
        checks.push(dns_check(p));
    }
    let failed = checks.iter().filter(|c| is_failure(c)).count();
    if args.json {
        output::print_json(&checks)?;
    } else {
        if let Some(p) = &project {
            println!(
                "jib doctor — environment {} on {}",
                p.env_name,
                p.hosts_text()
            );
        }
        for c in &checks {
            let mark = match c.status {
                CheckStatus::Ok => "✔",
                CheckStatus::Warn => "!",
                CheckStatus::Fail => "✘",
            };
            // The server's checks say what they found there.
            let line = format!("  {mark} {:<10} {}", c.name, c.detail);
            println!("{}", sanitize(&line));
            if let Some(fix) = &c.fix {
                println!("      fix: {}", sanitize(fix));
            }
        }
    }
    if failed > 0 {
        return Err(fail(exit::REMOTE)(anyhow::anyhow!(
            "{failed} check(s) failed; see the fixes above"
        )));
    }
    Ok(())
}

/// The one status that stops doctor asking the server, and makes it exit 1.
fn is_failure(c: &Check) -> bool {
    c.status == CheckStatus::Fail
}

/// git, ssh and deploy.toml on this machine; the project when it opens.
fn local_checks(g: &Global) -> (Vec<Check>, Option<Project>) {
    let mut out = Vec::new();
    // Unlike other commands, doctor reports a bad directory as a failed check.
    let start = g
        .dir
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    match crate::git::Repo::discover(&start) {
        Ok(repo) => {
            let branch = repo
                .current_branch()
                .unwrap_or_else(|_| "(detached)".into());
            out.push(Check::ok(
                "git",
                format!(
                    "{} on {branch}",
                    repo.workdir()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ),
            ));
        }
        Err(e) => {
            out.push(Check::fail(
                "git",
                format!("{e:#}"),
                "run jib inside your project's git checkout (or pass -C <dir>)",
            ));
            return (out, None);
        }
    }
    match std::process::Command::new("ssh").arg("-V").output() {
        Ok(o) => out.push(Check::ok(
            "ssh",
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )),
        Err(_) => out.push(Check::fail(
            "ssh",
            "no ssh client on PATH",
            "install OpenSSH (Debian: apt-get install openssh-client)",
        )),
    }
    match Project::open(g) {
        Ok(p) => {
            out.push(Check::ok(
                "config",
                format!(
                    "{} defines {}",
                    p.dir.join(crate::config::FILE_NAME).display(),
                    p.config.env.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
            (out, Some(p))
        }
        Err(f) => {
            out.push(Check::fail(
                "config",
                format!("{:#}", f.error),
                "fix deploy.toml as the message says (deploy.toml.example documents every key)",
            ));
            (out, None)
        }
    }
}

/// Reaching the host, the agent's version, then the server's own checklist.
async fn remote_checks(p: &Project, machine: Option<&str>) -> Vec<Check> {
    let mut out = Vec::new();
    let t = Instant::now();
    let connected = match machine {
        Some(m) => p.connect_to(m).await,
        None => p.connect().await,
    };
    let host = machine
        .map(str::to_string)
        .unwrap_or_else(|| p.hosts_text());
    let remote = match connected {
        Ok(r) => r,
        Err(f) => {
            out.push(Check::fail(
                "connect",
                format!("{:#}", f.error),
                format!(
                    "make `ssh {host}` work without a password prompt (keys, agent, known_hosts)"
                ),
            ));
            return out;
        }
    };
    out.push(Check::ok(
        "connect",
        format!("{host} in {}", format_ms(t.elapsed().as_millis() as u64)),
    ));
    let req = Request::Doctor {
        server: machine.map_or_else(|| p.server.clone(), |m| p.server_for(m)),
        python: p.config.app.python.clone(),
    };
    match remote.call(&req, |_| {}, |_| Ok(Vec::new())).await {
        Ok(Reply::Doctor { checks }) => out.extend(checks),
        Ok(other) => out.push(Check::fail(
            "agent",
            format!("unexpected answer {other:?}"),
            "run `jib setup` to reinstall the agent",
        )),
        Err(e) => out.push(Check::fail(
            "agent",
            e.to_string(),
            // An unprivileged ssh user cannot install it: the root agent comes first.
            if p.env.is_local() || remote.is_root().await.unwrap_or(true) {
                "run `jib setup` to install the agent".to_string()
            } else {
                format!(
                    "the ssh user is not root: `jib setup` installs the root agent through sudo, \
                     or `jib setup --root-script` prints the steps for an administrator{}",
                    match remote.run_fixed(&["sudo", "-n", "true"]).await {
                        Ok((true, _)) => " (sudo works without a password here)",
                        Ok((false, _)) => " (sudo wants a password here, or is not allowed)",
                        Err(_) => "",
                    }
                )
            },
        )),
    }
    remote.close().await;
    out
}

/// Whether an app's name resolves (wildcard DNS for branches, the exact names for prod).
fn dns_check(p: &Project) -> Check {
    use std::net::ToSocketAddrs;
    let name = if p.env.is_promote_target() {
        p.server.app_host("")
    } else {
        format!("jib-doctor.{}", p.server.domain)
    };
    if p.env.is_local() || name.ends_with(".localhost") || name == "localhost" {
        return Check::ok("dns", format!("{name}: local mode, no DNS needed"));
    }
    match (name.as_str(), 80).to_socket_addrs() {
        Ok(addrs) => {
            let ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            Check::ok("dns", format!("{name} → {}", ips.join(", ")))
        }
        Err(_) => Check::warn(
            "dns",
            format!("{name} does not resolve"),
            if p.env.is_promote_target() {
                format!("point {name} at the server")
            } else {
                format!(
                    "add a wildcard record *.{} pointing at the server",
                    p.server.domain
                )
            },
        ),
    }
}
