//! `jib restart [<branch>]`: a graceful reload of one branch; no request is dropped and other
//! branches are untouched.

use crate::cli::ui::{format_ms, note};
use crate::cli::{Failure, Global, Project, fleet, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    pub branch: Option<String>,
}

pub async fn run(g: &Global, args: &RestartArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let t = std::time::Instant::now();
    if project.env.is_fleet() && project.only.is_none() {
        // Each host swaps its own instances, all at once: none drops a request.
        let done = fleet::on_every_host(&project, false, |m| Request::Restart {
            server: m.server.clone(),
            app: app.clone(),
        })
        .await?;
        note!(
            "✔ {app} restarted on {} host(s) ({})",
            done.len(),
            format_ms(t.elapsed().as_millis() as u64)
        );
        return Ok(());
    }
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
