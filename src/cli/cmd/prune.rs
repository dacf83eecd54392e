//! `jib prune`: destroy the branch apps nobody needs any more — merged, deleted, or unvisited —
//! after showing them; never in prod. Reports the disk reclaimed.

use anyhow::anyhow;
use serde::Serialize;

use crate::cli::ui::{confirm, note, sanitize};
use crate::cli::{Failure, Global, Project, exit, fail, remote};
use crate::protocol::{AppStatus, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Branches whose deployed commit is in this branch's history
    #[arg(long, value_name = "BRANCH")]
    pub merged_into: Option<String>,
    /// Branches deleted here and on every remote
    #[arg(long)]
    pub gone: bool,
    /// Apps with no request for this long (90m, 14d …)
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Only list what would be destroyed
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (for cron)
    #[arg(long, short)]
    pub yes: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// What makes an app go, parsed and checked before the server is asked.
struct Rules<'a> {
    merged_into: Option<&'a str>,
    gone: bool,
    /// Seconds.
    older_than: Option<u64>,
}

#[derive(Serialize)]
struct Candidate {
    app: String,
    branch: String,
    reason: String,
}

pub async fn run(g: &Global, args: &PruneArgs) -> Result<(), Failure> {
    if args.merged_into.is_none() && !args.gone && args.older_than.is_none() {
        return Err(fail(exit::USAGE)(anyhow!(
            "say what to prune: --merged-into <branch>, --gone and/or --older-than <age>"
        )));
    }
    let rules = Rules {
        merged_into: args.merged_into.as_deref(),
        gone: args.gone,
        older_than: args
            .older_than
            .as_deref()
            .map(crate::config::parse_duration)
            .transpose()
            .map_err(fail(exit::USAGE))?,
    };
    let project = Project::open(g)?;
    if project.is_prod() {
        return Err(fail(exit::CONFIG)(anyhow!(
            "jib prune never touches {}: it prunes branch environments (-e dev)",
            project.env_name
        )));
    }
    if let Some(m) = rules.merged_into {
        project.repo.branch_head(m).map_err(fail(exit::CONFIG))?;
    }
    let req = Request::List {
        server: project.server.clone(),
    };
    let reply = remote::call(&project, req, true).await?;
    let Reply::List { apps } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    let candidates: Vec<Candidate> = apps
        .iter()
        .filter_map(|a| {
            reason(&project, a, &rules).map(|r| Candidate {
                app: a.app.clone(),
                branch: a.branch.clone(),
                reason: r,
            })
        })
        .collect();
    if !args.json {
        if candidates.is_empty() {
            note!(
                "nothing to prune in {} ({} apps kept)",
                project.env_name,
                apps.len()
            );
        }
        for c in &candidates {
            // Names and branches as the server lists them.
            let line = format!("{:<28} {:<28} {}", c.app, c.branch, c.reason);
            println!("{}", sanitize(&line));
        }
    }
    if candidates.is_empty() || args.dry_run {
        if args.json {
            print_result(&candidates, &[], 0);
        }
        return Ok(());
    }
    let prompt = format!(
        "Destroy these {} app(s) on {}?",
        candidates.len(),
        project.hosts_text()
    );
    let what = format!("pruning {} app(s)", candidates.len());
    if !confirm(args.yes, &what, &prompt)? {
        note!("nothing destroyed");
        return Ok(());
    }
    let (destroyed, freed) = destroy(&project, &candidates).await?;
    if args.json {
        print_result(&candidates, &destroyed, freed);
    } else {
        note!(
            "✔ {} app(s) destroyed, {:.1} MB reclaimed",
            destroyed.len(),
            freed as f64 / 1e6
        );
    }
    Ok(())
}

/// Why `a` should go, or `None` to keep it.
fn reason(project: &Project, a: &AppStatus, rules: &Rules) -> Option<String> {
    let repo = &project.repo;
    let branch = if a.branch.is_empty() {
        &a.app
    } else {
        &a.branch
    };
    if let Some(m) = rules.merged_into
        && branch != m
        && !a.commit.is_empty()
        && repo.is_merged(&a.commit, m) == Some(true)
    {
        return Some(format!("merged into {m}"));
    }
    if rules.gone && !repo.branch_exists_anywhere(branch) {
        return Some("branch deleted".into());
    }
    if let Some(secs) = rules.older_than {
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

/// Destroys the candidates one by one (stopping at the first failure): the apps destroyed and
/// the bytes freed.
async fn destroy(
    project: &Project,
    candidates: &[Candidate],
) -> Result<(Vec<String>, u64), Failure> {
    let (mut destroyed, mut freed) = (Vec::new(), 0u64);
    for c in candidates {
        let req = Request::Destroy {
            server: project.server.clone(),
            app: c.app.clone(),
            drop_db: None,
        };
        if let Reply::Destroy { freed_bytes, .. } = remote::call(project, req, true).await? {
            freed += freed_bytes;
            destroyed.push(c.app.clone());
            note!("✔ {} destroyed", c.app);
        }
    }
    Ok((destroyed, freed))
}

fn print_result(candidates: &[Candidate], destroyed: &[String], freed_bytes: u64) {
    println!(
        "{}",
        serde_json::json!({ "candidates": candidates, "destroyed": destroyed, "freed_bytes": freed_bytes })
    );
}
