//! `jib push [<branch>]`: the branch's head, live at `<app>.<domain>`. Only the objects the
//! server lacks travel; the agent builds the release, checks it and switches to it.

use std::time::Instant;

use anyhow::anyhow;

use crate::cli::ui::{Progress, format_ms, note, sanitize};
use crate::cli::{Exit, Failure, Global, Project, exit, fail, fleet, output, remote};
use crate::protocol::{DeployRequest, Reply, Request};
use crate::slug;

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Branch to deploy
    pub branch: Option<String>,
    /// Deploy even when the same commit is already live, or replace the app of another branch whose name maps to the same one
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait when another push, promote or rollback of this app holds its lock (0: refuse at once)
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub lock_wait: u64,
    /// On several servers: go on without the hosts that cannot be reached (they stay behind until the next push)
    #[arg(long)]
    pub skip_unreachable: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &PushArgs) -> Result<(), Failure> {
    let t0 = Instant::now();
    let project = Project::open(g)?;
    if project.env.is_promote_target() {
        let from = project.env.promote_from.as_deref().unwrap_or("dev");
        return Err(fail(exit::USAGE)(anyhow!(
            "{} runs what `jib promote <branch>` ships from {from}, not pushes: push to {from} and promote",
            project.env_name,
        )));
    }
    let branch = project.branch_or_current(args.branch.as_deref())?;
    let commit = project.repo.branch_head(&branch).exit(exit::CONFIG)?;
    let app = app_of(&project, &branch)?;
    let mut progress = Progress::new(args.json);
    let dirty = project.repo.dirty_paths().unwrap_or_default();
    if !dirty.is_empty() {
        progress.note(&format!(
            "! {} uncommitted change(s) (e.g. {}): only committed code ships",
            dirty.len(),
            dirty[0]
        ));
    }
    if !args.json {
        note!(
            "Pushing {branch} ({}) to {} as {app}",
            &commit.to_string()[..12],
            project.hosts_text()
        );
    }

    let spec = project
        .config
        .build_spec(&project.env_name, &project.env, &app);
    let request = |server, release_step: bool, gated: bool| {
        let mut spec = spec.clone();
        if !release_step {
            spec.release = None;
        }
        Request::Deploy(Box::new(DeployRequest {
            server,
            app: app.clone(),
            branch: branch.clone(),
            commit: commit.to_string(),
            spec,
            by: project.repo.identity(),
            lock_wait_secs: args.lock_wait,
            force: args.force,
            gated,
        }))
    };
    // Only what the server lacks travels: everything reachable from the commit but not from
    // the commits it says it has.
    let repo = &project.repo;
    if project.env.is_fleet() {
        let (first, replies) = fleet::deploy(
            &project,
            &app,
            &spec.health_path,
            args.skip_unreachable,
            args.json,
            // The release step (migrations) runs once, on the first host.
            |m, first| request(m.server.clone(), first, true),
            |have| repo.pack_missing(commit, have),
        )
        .await?;
        let ms = t0.elapsed().as_millis() as u64;
        if args.json {
            let mut v = output::to_value(&first)?;
            v["ms"] = ms.into();
            v["hosts"] = output::hosts_value(&replies)?;
            println!("{v}");
            return Ok(());
        }
        note!(
            "  on {} host(s): {}",
            replies.len(),
            replies
                .iter()
                .map(|(h, _)| h.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return report(&branch, first, ms, false);
    }

    let t = Instant::now();
    progress.start("connect");
    let remote = project.connect().await?;
    progress.done("connect", t.elapsed().as_millis() as u64, None);
    let req = request(project.server.clone(), true, false);
    let reply = remote::send(remote, &req, &mut progress, |have| {
        repo.pack_missing(commit, have)
    })
    .await?;
    report(&branch, reply, t0.elapsed().as_millis() as u64, args.json)
}

/// The app `branch` deploys as, refused when another local branch would deploy as the same.
fn app_of(project: &Project, branch: &str) -> Result<String, Failure> {
    let app = slug::app_name(branch).exit(exit::CONFIG)?;
    let branches = project.repo.branches().exit(exit::CONFIG)?;
    let clash = slug::collisions(branch, branches.iter().map(String::as_str));
    if !clash.is_empty() {
        return Err(fail(exit::CONFIG)(anyhow!(
            "branch {branch:?} and {} would both be deployed as {app:?}; rename one of them",
            clash
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(app)
}

/// The agent's answer: JSON with the time taken, or a line on stderr and the URL on stdout.
fn report(branch: &str, reply: Reply, ms: u64, json: bool) -> Result<(), Failure> {
    if json {
        let mut v = output::to_value(&reply)?;
        v["ms"] = ms.into();
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
            note!(
                "✔ {branch} already live at {url} (release {release}, nothing changed; --force redeploys) ({})",
                format_ms(ms)
            );
        } else {
            note!("✔ {branch} live at {url} ({})", format_ms(ms));
        }
        // The agent's word for it.
        println!("{}", sanitize(&url));
    }
    Ok(())
}
