//! `jib status [<branch>] [--json]`: one branch in detail, with its processes and releases.

use crate::cli::output::{print_apps, print_json};
use crate::cli::ui::sanitize;
use crate::cli::{Failure, Global, Project, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    pub branch: Option<String>,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &StatusArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let req = Request::Status {
        server: project.server.clone(),
        app,
    };
    let reply = remote::call(&project, req, true).await?;
    if args.json {
        return print_json(&reply);
    }
    let Reply::Status { status, releases } = reply else {
        return Ok(());
    };
    print_apps(std::slice::from_ref(&status));
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
