//! `jib rollback [prod | <branch>] [--to RELEASE]`: switch back to the previous good release,
//! or to the one named.

use std::time::Instant;

use crate::cli::output::{self, short};
use crate::cli::ui::{format_ms, note};
use crate::cli::{Failure, Global, Project, fleet, remote};
use crate::protocol::{Reply, Request, ServerConfig};

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
    /// On several servers: go on without the hosts that cannot be reached
    #[arg(long)]
    pub skip_unreachable: bool,
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &RollbackArgs) -> Result<(), Failure> {
    let t0 = Instant::now();
    let (project, app) = Project::open_target(g, args.target.as_deref())?;
    let request = |server: ServerConfig, gated: bool| Request::Rollback {
        server,
        app: app.clone(),
        to: args.to.clone(),
        lock_wait_secs: args.lock_wait,
        health_timeout_secs: project.config.app.health_timeout,
        gated,
    };
    let (reply, hosts) = if project.env.is_fleet() {
        // Every host back at once: each to its own previous release (or the one named).
        let (first, replies) = fleet::deploy(
            &project,
            &app,
            &project.config.app.health_path,
            args.skip_unreachable,
            args.json,
            |m, _| request(m.server.clone(), true),
            |_| Ok(Vec::new()),
        )
        .await?;
        (first, Some(replies))
    } else {
        let req = request(project.server.clone(), false);
        (remote::call(&project, req, args.json).await?, None)
    };
    let ms = t0.elapsed().as_millis() as u64;
    if args.json {
        let mut v = output::to_value(&reply)?;
        v["ms"] = ms.into();
        if let Some(h) = &hosts {
            v["hosts"] = output::hosts_value(h)?;
        }
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
