//! `jib setup`: once per server (and again after changing the environment in deploy.toml).

use super::{Cli, Failure, Project, call_failure, exit, fail, ui::Progress};
use crate::protocol::{Reply, Request};

pub async fn run(cli: &Cli, install_deps: bool) -> Result<(), Failure> {
    let project = Project::open(cli)?;
    let mut progress = Progress::new(false);
    super::ui::note!(
        "Setting up {} on {} ({})",
        project.env_name,
        project.env.host,
        project.server.root.display()
    );
    let remote = project.connect().await?;
    let t = std::time::Instant::now();
    progress.start("agent");
    let installed = remote
        .ensure_agent()
        .await
        .map_err(fail(exit::CONNECTION))?;
    progress.done(
        "agent",
        t.elapsed().as_millis() as u64,
        Some(if installed { "installed" } else { "up to date" }),
    );
    let req = Request::Setup {
        server: project.server.clone(),
        install_deps,
    };
    let reply = remote
        .call(&req, |ev| progress.event(ev), |_| Ok(Vec::new()))
        .await
        .map_err(|e| call_failure(&remote.host, e));
    progress.clear();
    remote.close().await;
    match reply? {
        Reply::Setup { messages } => {
            for m in messages {
                super::ui::note!("  {m}");
            }
            super::ui::note!("✔ {} is ready: jib push <branch>", project.env.host);
            Ok(())
        }
        other => Err(fail(exit::REMOTE)(anyhow::anyhow!(
            "unexpected answer from the agent: {other:?}"
        ))),
    }
}
