//! `jib prune`: destroy the branch apps nobody needs any more — merged, deleted, or unvisited —
//! after showing them; never in prod. Reports the disk reclaimed.

use anyhow::anyhow;
use serde::Serialize;

use super::manage::call;
use super::{Cli, Command, Failure, Project, exit, fail};
use crate::protocol::{AppStatus, Reply, Request};

#[derive(Serialize)]
struct Candidate {
    app: String,
    branch: String,
    reason: String,
}

/// Why `a` should go, or `None` to keep it.
fn reason(
    project: &Project,
    a: &AppStatus,
    merged_into: Option<&str>,
    gone: bool,
    older_than: Option<u64>,
) -> Option<String> {
    let repo = &project.repo;
    let branch = if a.branch.is_empty() {
        &a.app
    } else {
        &a.branch
    };
    if let Some(m) = merged_into
        && branch != m
        && !a.commit.is_empty()
        && repo.is_merged(&a.commit, m) == Some(true)
    {
        return Some(format!("merged into {m}"));
    }
    if gone && !repo.branch_exists_anywhere(branch) {
        return Some("branch deleted".into());
    }
    if let Some(secs) = older_than {
        let last = time::OffsetDateTime::parse(
            &a.last_request,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .or_else(|| {
            time::OffsetDateTime::parse(
                &a.deployed_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })?;
        let idle = (time::OffsetDateTime::now_utc() - last).whole_seconds();
        if idle >= secs as i64 {
            return Some(format!("no request for {}", human(idle as u64)));
        }
    }
    None
}

fn human(secs: u64) -> String {
    match secs {
        s if s >= 2 * 86400 => format!("{} days", s / 86400),
        s if s >= 2 * 3600 => format!("{} hours", s / 3600),
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

pub async fn run(cli: &Cli) -> Result<(), Failure> {
    let Command::Prune {
        merged_into,
        gone,
        older_than,
        dry_run,
        yes,
        json,
    } = &cli.command
    else {
        return Err(fail(exit::USAGE)(anyhow!("not prune")));
    };
    if merged_into.is_none() && !gone && older_than.is_none() {
        return Err(fail(exit::USAGE)(anyhow!(
            "say what to prune: --merged-into <branch>, --gone and/or --older-than <age>"
        )));
    }
    let older = older_than
        .as_deref()
        .map(crate::config::parse_duration)
        .transpose()
        .map_err(fail(exit::USAGE))?;
    let project = Project::open(cli)?;
    if project.env.is_promote_target() || project.env_name == "prod" {
        return Err(fail(exit::CONFIG)(anyhow!(
            "jib prune never touches {}: it prunes branch environments (-e dev)",
            project.env_name
        )));
    }
    if let Some(m) = merged_into {
        project.repo.branch_head(m).map_err(fail(exit::CONFIG))?;
    }
    let reply = call(
        &project,
        Request::List {
            server: project.server.clone(),
        },
        true,
    )
    .await?;
    let Reply::List { apps } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    let candidates: Vec<Candidate> = apps
        .iter()
        .filter_map(|a| {
            reason(&project, a, merged_into.as_deref(), *gone, older).map(|r| Candidate {
                app: a.app.clone(),
                branch: a.branch.clone(),
                reason: r,
            })
        })
        .collect();
    if !*json {
        if candidates.is_empty() {
            super::ui::note!(
                "nothing to prune in {} ({} apps kept)",
                project.env_name,
                apps.len()
            );
        }
        for c in &candidates {
            // Names and branches as the server lists them.
            let line = format!("{:<28} {:<28} {}", c.app, c.branch, c.reason);
            println!("{}", super::ui::sanitize(&line));
        }
    }
    if candidates.is_empty() || *dry_run {
        if *json {
            println!(
                "{}",
                serde_json::json!({ "candidates": candidates, "destroyed": [], "freed_bytes": 0 })
            );
        }
        return Ok(());
    }
    let prompt = format!(
        "Destroy these {} app(s) on {}?",
        candidates.len(),
        project.env.host
    );
    let what = format!("pruning {} app(s)", candidates.len());
    if !super::ui::confirm(*yes, &what, &prompt)? {
        super::ui::note!("nothing destroyed");
        return Ok(());
    }
    let (mut freed, mut destroyed) = (0u64, Vec::new());
    for c in &candidates {
        let r = call(
            &project,
            Request::Destroy {
                server: project.server.clone(),
                app: c.app.clone(),
                drop_db: None,
            },
            true,
        )
        .await?;
        if let Reply::Destroy { freed_bytes, .. } = r {
            freed += freed_bytes;
            destroyed.push(c.app.clone());
            super::ui::note!("✔ {} destroyed", c.app);
        }
    }
    if *json {
        println!(
            "{}",
            serde_json::json!({ "candidates": candidates, "destroyed": destroyed, "freed_bytes": freed })
        );
    } else {
        super::ui::note!(
            "✔ {} app(s) destroyed, {:.1} MB reclaimed",
            destroyed.len(),
            freed as f64 / 1e6
        );
    }
    Ok(())
}
