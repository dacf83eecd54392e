//! `jib logs [<branch>] [-f] [-n N] [--deploy | --process NAME]`: a branch's uWSGI log, its
//! deploy log, or one of its processes' logs; the agent streams the lines.

use crate::cli::{Failure, Global, Project, fleet, remote};
use crate::protocol::Request;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    pub branch: Option<String>,
    /// Keep printing new lines (Ctrl-C stops)
    #[arg(short, long)]
    pub follow: bool,
    /// Lines to show first
    #[arg(short = 'n', long, default_value_t = 100)]
    pub lines: usize,
    /// The log of the deploys instead
    #[arg(long, conflicts_with = "process")]
    pub deploy: bool,
    /// The log of a [processes] entry (or `cron`) instead
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
}

pub async fn run(g: &Global, args: &LogsArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let request = |server| Request::Logs {
        server,
        app: app.clone(),
        lines: args.lines,
        follow: args.follow,
        deploy: args.deploy,
        process: args.process.clone().map(Into::into),
    };
    if project.env.is_fleet() && project.only.is_none() {
        // Every host's log, each line prefixed with its host (--host: one host's).
        return fleet::logs(&project, |m| request(m.server.clone())).await;
    }
    let req = request(project.server.clone());
    // The lines arrive as events (printed as they come); the reply itself says nothing more.
    remote::call(&project, req, true).await.map(|_| ())
}
