//! `jib rollback [prod | <branch>] [--to RELEASE]`: switch back to the previous good release,
//! or to the one named.

use std::time::Instant;

use crate::cli::output::{self, short};
use crate::cli::ui::{format_ms, note};
use crate::cli::{Failure, Global, Project, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// `prod` (an environment with `domains`) or a branch
    pub target: Option<String>,
    /// Release id, or a prefix of its id or commit, to switch to
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
    /// Seconds to wait when a deploy holds the lock (0: refuse at once)
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub lock_wait: u64,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &RollbackArgs) -> Result<(), Failure> {
    let t0 = Instant::now();
    let (project, app) = Project::open_target(g, args.target.as_deref())?;
    let req = Request::Rollback {
        server: project.server.clone(),
        app: app.clone(),
        to: args.to.clone(),
        lock_wait_secs: args.lock_wait,
        health_timeout_secs: project.config.app.health_timeout,
        gated: false,
    };
    let reply = remote::call(&project, req, args.json).await?;
    let ms = t0.elapsed().as_millis() as u64;
    if args.json {
        let mut v = output::to_value(&reply)?;
        v["ms"] = ms.into();
        println!("{v}");
    } else if let Reply::Rollback {
        from, to, commit, ..
    } = reply
    {
        note!(
            "✔ {app} in {} rolled back: {from} → {to} ({}) ({})",
            project.env_name,
            short(&commit),
            format_ms(ms)
        );
    }
    Ok(())
}
