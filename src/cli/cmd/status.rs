//! `jib status [<branch>] [--json]`: one branch in detail, with its processes and releases.

use crate::cli::output::{print_apps, print_json};
use crate::cli::ui::sanitize;
use crate::cli::{Failure, Global, Project, exit, fleet, output, remote};
use crate::protocol::{AppStatus, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    pub branch: Option<String>,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &StatusArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    if project.env.is_fleet() {
        return fleet_status(&project, &app, args.json).await;
    }
    let req = Request::Status {
        server: project.server.clone(),
        app,
    };
    let reply = remote::call(&project, req, true).await?;
    if args.json {
        return print_json(&reply);
    }
    let Reply::Status {
        status,
        releases,
        certificate,
    } = reply
    else {
        return Ok(());
    };
    print_apps(std::slice::from_ref(&status));
    if let Some(c) = &certificate {
        println!("\ncertificate:\n  {}", sanitize(&certificate_line(c)));
    }
    if !status.processes.is_empty() {
        println!("\nprocesses:");
        for (name, state) in &status.processes {
            let line = format!("  {name:<16} {state}");
            println!("{}", sanitize(&line));
        }
    }
    println!("\nreleases:");
    for r in releases {
        let line = format!(
            "  {} {}  {}  {}  {}  by {}",
            if r.current { "*" } else { " " },
            r.id,
            r.commit.get(..12).unwrap_or(&r.commit),
            r.state,
            r.created,
            r.by
        );
        println!("{}", sanitize(&line));
    }
    Ok(())
}

/// On several servers: a row per host (its release, workers, memory), unreachable ones
/// included, and which hosts run another commit than the newest release of the fleet.
async fn fleet_status(project: &Project, app: &str, json: bool) -> Result<(), Failure> {
    let answers = fleet::ask_hosts(project, |m| Request::Status {
        server: m.server.clone(),
        app: app.to_string(),
    })
    .await;
    let statuses: Vec<(&str, Option<&AppStatus>)> = answers
        .iter()
        .map(|(h, r)| match r {
            Ok(Reply::Status { status, .. }) => (h.as_str(), Some(status)),
            _ => (h.as_str(), None),
        })
        .collect();
    // The fleet's release: the commit of the newest deploy any host has.
    let newest = statuses
        .iter()
        .filter_map(|(_, s)| *s)
        .max_by(|a, b| a.deployed_at.cmp(&b.deployed_at))
        .map(|s| s.commit.clone());
    let behind = |s: &AppStatus| newest.as_ref().is_some_and(|c| *c != s.commit);
    if json {
        let mut hosts = Vec::new();
        for (host, r) in &answers {
            let v = match r {
                Ok(reply @ Reply::Status { status, .. }) => {
                    let mut v = output::to_value(reply)?;
                    v["reachable"] = true.into();
                    v["behind"] = behind(status).into();
                    v
                }
                Ok(other) => output::to_value(other)?,
                Err(e) => serde_json::json!({
                    "reachable": !matches!(e.code, exit::CONNECTION),
                    "error": format!("{:#}", e.error),
                }),
            };
            let mut v = v;
            v["host"] = host.clone().into();
            hosts.push(v);
        }
        return print_json(&serde_json::json!({ "app": app, "hosts": hosts }));
    }
    println!(
        "{}",
        sanitize(&format!(
            "{:<12} {:<10} {:<28} {:<12} {:>7} {:>9}",
            "HOST", "STATE", "RELEASE", "COMMIT", "WORKERS", "MEMORY"
        ))
    );
    for (host, r) in &answers {
        let line = match r {
            Ok(Reply::Status { status: s, .. }) => format!(
                "{host:<12} {:<10} {:<28} {:<12} {:>7} {:>7} MB{}",
                s.state,
                s.release,
                s.commit.get(..12).unwrap_or(&s.commit),
                s.workers,
                s.rss_bytes / 1_000_000,
                if behind(s) {
                    "  behind: next deploy brings it along"
                } else {
                    ""
                }
            ),
            Ok(_) => format!("{host:<12} ?"),
            Err(e) if e.code == exit::CONNECTION => {
                format!("{host:<12} unreachable  {:#}", e.error)
            }
            Err(e) => format!("{host:<12} {:#}", e.error),
        };
        println!("{}", sanitize(&line));
    }
    Ok(())
}

/// The environment's ACME certificate in one line: what it covers, until when, and a failed
/// attempt with its retry.
pub fn certificate_line(c: &crate::protocol::CertStatus) -> String {
    let mut line = match &c.not_after {
        Some(t) => format!(
            "{} valid until {t}, renewed from {}",
            c.names.join(", "),
            c.renew_at.as_deref().unwrap_or("?")
        ),
        None => "none obtained yet".to_string(),
    };
    if let Some(e) = &c.error {
        line.push_str(&format!(
            "; last attempt FAILED at {}: {e} (retry at {})",
            c.attempted.as_deref().unwrap_or("?"),
            c.retry_at.as_deref().unwrap_or("?")
        ));
    }
    line
}
