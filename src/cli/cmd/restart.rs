//! `jib restart [<branch>]`: a graceful reload of one branch; no request is dropped and other
//! branches are untouched.

use crate::cli::ui::{format_ms, note};
use crate::cli::{Failure, Global, Project, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    pub branch: Option<String>,
}

pub async fn run(g: &Global, args: &RestartArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let t = std::time::Instant::now();
    let req = Request::Restart {
        server: project.server.clone(),
        app: app.clone(),
    };
    if let Reply::Restart { release, .. } = remote::call(&project, req, false).await? {
        note!(
            "✔ {app} restarted on release {release} ({})",
            format_ms(t.elapsed().as_millis() as u64)
        );
    }
    Ok(())
}
