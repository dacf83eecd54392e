//! `jib audit [ENV] [-n N]`: who pushed, promoted, rolled back, restarted or destroyed what,
//! and when, as the environment's agent recorded it.

use anyhow::anyhow;

use crate::cli::output::{self, short};
use crate::cli::ui::{format_ms, note, sanitize};
use crate::cli::{Failure, Global, Project, exit, fail, remote};
use crate::protocol::{Reply, Request};

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
    let req = Request::Audit {
        server: project.server.clone(),
        lines: args.lines,
    };
    let reply = remote::call(&project, req, true).await?;
    let Reply::Audit { entries } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    if args.json {
        println!("{}", output::to_value(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        note!("nothing recorded in {} yet", project.env_name);
    }
    for e in &entries {
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
            "{}  {:<9} {:<20} {:<16} {:<7} {:<9} {:>7}  {}{from}{err}",
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
