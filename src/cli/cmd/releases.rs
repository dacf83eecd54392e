//! `jib releases [prod | <branch>]`: the releases kept, which is current, when, by whom, from
//! which branch.

use anyhow::anyhow;

use crate::cli::output::{self, short};
use crate::cli::ui::sanitize;
use crate::cli::{Failure, Global, Project, exit, fail, remote};
use crate::protocol::{ReleaseInfo, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct ReleasesArgs {
    /// `prod` (an environment with `domains`) or a branch
    pub target: Option<String>,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &ReleasesArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.target.as_deref())?;
    let req = Request::Status {
        server: project.server.clone(),
        app,
    };
    let reply = remote::call(&project, req, true).await?;
    let Reply::Status { releases, .. } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    if args.json {
        println!("{}", output::to_value(&releases)?);
    } else {
        print_releases(&releases);
    }
    Ok(())
}

fn print_releases(releases: &[ReleaseInfo]) {
    println!(
        "  {:<32} {:<8} {:<7} {:<21} {:<20} BY",
        "RELEASE", "COMMIT", "STATE", "CREATED", "FROM"
    );
    for r in releases {
        let from = r
            .promoted_from
            .clone()
            .unwrap_or_else(|| format!("branch {}", r.branch));
        let line = format!(
            "{} {:<32} {:<8} {:<7} {:<21} {:<20} {}",
            if r.current { "*" } else { " " },
            r.id,
            short(&r.commit),
            r.state,
            r.created.split('.').next().unwrap_or(""),
            from,
            r.by
        );
        println!("{}", sanitize(&line));
    }
}
