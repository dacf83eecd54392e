//! `jib audit [ENV] [-n N]`: who pushed, promoted, rolled back, restarted or destroyed what,
//! and when, as the environment's agent recorded it.

use anyhow::anyhow;

use crate::cli::output::{self, short};
use crate::cli::ui::{format_ms, note, sanitize};
use crate::cli::{Failure, Global, Project, exit, fail, fleet, remote};
use crate::protocol::{AuditEntry, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Environment (default: the one -e names)
    #[arg(value_name = "ENV")]
    pub environment: Option<String>,
    /// Entries to show
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &AuditArgs) -> Result<(), Failure> {
    let project = Project::open_env(g, args.environment.as_deref().unwrap_or(g.env()))?;
    let (entries, hosts) = if project.env.is_fleet() && project.only.is_none() {
        fleet_trail(&project, args.lines).await?
    } else {
        let req = Request::Audit {
            server: project.server.clone(),
            lines: args.lines,
        };
        let reply = remote::call(&project, req, true).await?;
        let Reply::Audit { entries } = reply else {
            return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
        };
        (entries, Vec::new())
    };
    if args.json {
        let mut v = output::to_value(&entries)?;
        if let Some(list) = v.as_array_mut() {
            for (e, h) in list.iter_mut().zip(&hosts) {
                e["hosts"] = h.clone().into();
            }
        }
        println!("{v}");
        return Ok(());
    }
    if entries.is_empty() {
        note!("nothing recorded in {} yet", project.env_name);
    }
    for (i, e) in entries.iter().enumerate() {
        let on = hosts
            .get(i)
            .map(|h| format!("  on {}", h.join(", ")))
            .unwrap_or_default();
        let from = e
            .from
            .as_deref()
            .map(|f| format!(" from {f}"))
            .unwrap_or_default();
        let err = e
            .error
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let line = format!(
            "{}  {:<9} {:<20} {:<16} {:<7} {:<9} {:>7}  {}{from}{err}{on}",
            e.time.split('.').next().unwrap_or(""),
            e.action,
            e.app,
            e.branch,
            short(&e.commit),
            e.result,
            format_ms(e.ms),
            e.by
        );
        println!("{}", sanitize(&line));
    }
    Ok(())
}

/// One trail for an environment on several servers: every host's entries, one entry for
/// what one command did on several hosts (same who, what, app, commit and result, within a
/// minute), naming the hosts; the newest `lines`.
async fn fleet_trail(
    project: &Project,
    lines: usize,
) -> Result<(Vec<AuditEntry>, Vec<Vec<String>>), Failure> {
    let answers = fleet::ask_hosts(project, |m| Request::Audit {
        server: m.server.clone(),
        lines,
    })
    .await;
    let mut all: Vec<(String, AuditEntry)> = Vec::new();
    for (host, r) in answers {
        match r {
            Ok(Reply::Audit { entries }) => {
                all.extend(entries.into_iter().map(|e| (host.clone(), e)))
            }
            Ok(other) => return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {other:?}"))),
            Err(e) => note!("! {host}: no trail ({:#})", e.error),
        }
    }
    all.sort_by(|a, b| a.1.time.cmp(&b.1.time));
    let secs = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|d| d.unix_timestamp())
            .unwrap_or(0)
    };
    let mut merged: Vec<(AuditEntry, Vec<String>)> = Vec::new();
    for (host, e) in all {
        if let Some((last, hosts)) = merged.last_mut()
            && (
                last.by.as_str(),
                last.action.as_str(),
                last.app.as_str(),
                last.commit.as_str(),
                last.result.as_str(),
            ) == (
                e.by.as_str(),
                e.action.as_str(),
                e.app.as_str(),
                e.commit.as_str(),
                e.result.as_str(),
            )
            && (secs(&e.time) - secs(&last.time)).abs() < 60
            && !hosts.contains(&host)
        {
            hosts.push(host);
            continue;
        }
        merged.push((e, vec![host]));
    }
    let skip = merged.len().saturating_sub(lines);
    Ok(merged.into_iter().skip(skip).unzip())
}
