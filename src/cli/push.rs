//! `jib push [<branch>]`: the branch's head, live at `<app>.<domain>`.

use std::time::Instant;

use super::Exit;
use super::{Cli, Failure, Project, exit, fail, ui::Progress};
use crate::protocol::{DeployRequest, Reply, Request};
use crate::slug;

pub async fn run(
    cli: &Cli,
    branch: Option<&str>,
    force: bool,
    lock_wait: u64,
    json: bool,
) -> Result<(), Failure> {
    let t0 = Instant::now();
    let project = Project::open(cli)?;
    if project.env.is_promote_target() {
        return Err(fail(exit::USAGE)(anyhow::anyhow!(
            "{} runs what `jib promote <branch>` ships from {}, not pushes: push to {} and promote",
            project.env_name,
            project.env.promote_from.as_deref().unwrap_or("dev"),
            project.env.promote_from.as_deref().unwrap_or("dev"),
        )));
    }
    let branch = match branch {
        Some(b) => b.to_string(),
        None => project.repo.current_branch().exit(exit::CONFIG)?,
    };
    let commit = project.repo.branch_head(&branch).exit(exit::CONFIG)?;
    let app = slug::app_name(&branch).exit(exit::CONFIG)?;
    let branches = project.repo.branches().exit(exit::CONFIG)?;
    let clash = slug::collisions(&branch, branches.iter().map(String::as_str));
    if !clash.is_empty() {
        return Err(fail(exit::CONFIG)(anyhow::anyhow!(
            "branch {branch:?} and {} would both be deployed as {app:?}; rename one of them",
            clash
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut progress = Progress::new(json);
    let dirty = project.repo.dirty_paths().unwrap_or_default();
    if !dirty.is_empty() {
        progress.note(&format!(
            "! {} uncommitted change(s) (e.g. {}): only committed code ships",
            dirty.len(),
            dirty[0]
        ));
    }
    if !json {
        super::ui::note!(
            "Pushing {branch} ({}) to {} as {app}",
            &commit.to_string()[..12],
            project.env.host
        );
    }

    let t = Instant::now();
    progress.start("connect");
    let remote = project.connect().await?;
    progress.done("connect", t.elapsed().as_millis() as u64, None);

    let req = Request::Deploy(Box::new(DeployRequest {
        server: project.server.clone(),
        app: app.clone(),
        branch: branch.clone(),
        commit: commit.to_string(),
        spec: project
            .config
            .build_spec(&project.env_name, &project.env, &app),
        by: project.repo.identity(),
        lock_wait_secs: lock_wait,
        force,
    }));
    // Only what the server lacks travels: everything reachable from the commit but not from
    // the commits it says it has.
    let repo = &project.repo;
    let reply = super::send(remote, &req, &mut progress, |have| {
        repo.pack_missing(commit, have)
    })
    .await?;
    let elapsed = t0.elapsed().as_millis() as u64;
    if json {
        let mut v = serde_json::to_value(&reply).map_err(|e| fail(exit::REMOTE)(e.into()))?;
        v["ms"] = elapsed.into();
        println!("{v}");
        return Ok(());
    }
    if let Reply::Deploy {
        url,
        unchanged,
        release,
        ..
    } = reply
    {
        if unchanged {
            super::ui::note!(
                "✔ {branch} already live at {url} (release {release}, nothing changed; --force redeploys) ({})",
                super::ui::format_ms(elapsed)
            );
        } else {
            super::ui::note!(
                "✔ {branch} live at {url} ({})",
                super::ui::format_ms(elapsed)
            );
        }
        // The agent's word for it.
        println!("{}", super::ui::sanitize(&url));
    }
    Ok(())
}
