//! `jib promote [<branch>]`: ship the exact build a branch runs (its release, code and
//! packages) to prod without rebuilding it: check it is healthy and what was tested, show the
//! plan, ask, send; optionally fast-forward the local mainline to it.

use std::time::Instant;

use anyhow::anyhow;

use crate::cli::output::{self, short};
use crate::cli::remote::{call_failure, send};
use crate::cli::ui::{self, Progress, format_ms, note, sanitize};
use crate::cli::{Exit, Failure, Global, Project, exit, fail, fleet};
use crate::protocol::{
    Artifact, ErrorKind, PromoteRequest, ReleaseState, Reply, Request, ServerConfig,
};
use crate::transport::CallError;

#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    /// Branch whose running release is promoted (default: the current one)
    pub branch: Option<String>,
    /// Environment to promote to (default: the one with `domains`)
    #[arg(long, value_name = "ENV")]
    pub to: Option<String>,
    /// Do not ask for confirmation (needed without a terminal)
    #[arg(long, short)]
    pub yes: bool,
    /// Promote even when the local branch head differs from what the branch runs
    #[arg(long)]
    pub allow_stale: bool,
    /// Afterwards, fast-forward the local main (or master) branch to the promoted commit
    #[arg(long)]
    pub merge: bool,
    /// Seconds to wait when another promote or rollback holds the lock (0: refuse at once)
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub lock_wait: u64,
    /// On several servers: go on without the hosts that cannot be reached (they stay behind until the next promote)
    #[arg(long)]
    pub skip_unreachable: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// Where a promote goes: from the branches' environment to prod.
struct Route {
    from_name: String,
    to_name: String,
    source: Project,
    target: Project,
}

pub async fn run(g: &Global, args: &PromoteArgs) -> Result<(), Failure> {
    let t0 = Instant::now();
    let Route {
        from_name,
        to_name,
        source,
        target,
    } = route(g, args.to.as_deref())?;
    let prod_app = target.env.promoted_app(&to_name);
    let branch = source.branch_or_current(args.branch.as_deref())?;
    let app = source.app_for(Some(&branch))?;

    // 1. What the branch runs: it must be a good release, answering now, of the local head.
    let art = tested_release(&source, &from_name, &branch, &app, args.allow_stale).await?;
    let commit = git2::Oid::from_str(&art.commit).map_err(|e| fail(exit::REMOTE)(e.into()))?;
    let mainline = if args.merge {
        Some(mainline(&source, &target, &branch, &art, commit)?)
    } else {
        None
    };

    // 2. What prod runs now, and what changes. The plan shows unless the output is data or
    // nobody will read it; a question always comes with it.
    let prod = running(&target, &prod_app).await?;
    let asks = !args.yes;
    let quiet_and_sure = ui::quiet() && args.yes;
    if (asks || !args.json) && !quiet_and_sure {
        print_plan(&source, &to_name, &branch, &art, prod.as_ref());
    }

    // 3. Confirmation.
    let prompt = format!(
        "Promote {branch} ({}) to {to_name} at {}?",
        short(&art.commit),
        target.env.domains.join(", ")
    );
    if !ui::confirm(args.yes, &format!("promoting to {to_name}"), &prompt)? {
        note!("nothing promoted");
        return Ok(());
    }

    // 4. Ship it: to the one server, or to every host at once.
    let spec = target.config.build_spec(&to_name, &target.env, &prod_app);
    let request = |server: ServerConfig, release_step: bool, gated: bool| {
        let mut spec = spec.clone();
        if !release_step {
            spec.release = None;
        }
        Request::Promote(Box::new(PromoteRequest {
            server,
            app: prod_app.clone(),
            spec,
            from_env: from_name.clone(),
            artifact: art.clone(),
            same_host: !target.env.is_fleet() && source.env.node_hosts() == target.env.node_hosts(),
            by: source.repo.identity(),
            lock_wait_secs: args.lock_wait,
            gated,
        }))
    };
    let repo = &source.repo;
    let (reply, hosts) = if target.env.is_fleet() {
        let (first, replies) = fleet::deploy(
            &target,
            &prod_app,
            &spec.health_path,
            args.skip_unreachable,
            args.json,
            // The release step (migrations) runs once, on the first host.
            |m, first| request(m.server.clone(), first, true),
            |have| repo.pack_missing(commit, have),
        )
        .await?;
        (first, Some(replies))
    } else {
        let req = request(target.server.clone(), true, false);
        let remote = target.connect().await?;
        let mut progress = Progress::new(args.json);
        let reply = send(remote, &req, &mut progress, |have| {
            repo.pack_missing(commit, have)
        })
        .await?;
        (reply, None)
    };

    // 5. The local mainline follows, when asked.
    let merged = mainline.and_then(|m| match source.repo.fast_forward(&m, commit) {
        Ok(()) => Some(m),
        Err(e) => {
            eprintln!("! promoted, but {m} was not fast-forwarded: {e:#}");
            None
        }
    });
    let ms = t0.elapsed().as_millis() as u64;
    if args.json {
        let mut v = output::to_value(&reply)?;
        v["ms"] = ms.into();
        if let Some(h) = &hosts {
            v["hosts"] = output::hosts_value(h)?;
        }
        v["branch"] = branch.into();
        v["from"] = format!("{from_name}/{}@{}", art.app, art.release).into();
        v["merged"] = merged.into();
        println!("{v}");
        return Ok(());
    }
    if let Reply::Promote { url, .. } = &reply {
        let on = hosts
            .as_ref()
            .map(|h| format!(" on {} host(s)", h.len()))
            .unwrap_or_default();
        note!(
            "✔ {to_name} now serves {} ({branch}) at {url}{on} ({})",
            short(&art.commit),
            format_ms(ms)
        );
        if let Some(m) = merged {
            note!("✔ {m} fast-forwarded to {}", short(&art.commit));
        }
        println!("{}", sanitize(url));
    }
    Ok(())
}

/// The environments a promote goes from and to: `--to`, else the one with `domains`; from
/// deploy.toml's promote_from, else an explicit -e, else dev.
fn route(g: &Global, to: Option<&str>) -> Result<Route, Failure> {
    let first = Project::open(g)?;
    let (to_name, to_env) = first.config.promote_target(to).exit(exit::CONFIG)?;
    let from_name = to_env
        .promote_from
        .clone()
        .or_else(|| g.env.clone().filter(|e| *e != to_name))
        .unwrap_or_else(|| "dev".into());
    if from_name == to_name {
        return Err(fail(exit::USAGE)(anyhow!(
            "cannot promote from {to_name} to itself: name the source with -e <env> (or promote_from in deploy.toml)"
        )));
    }
    let source = Project::open_env(g, &from_name)?;
    let target = Project::open_env(g, &to_name)?;
    Ok(Route {
        from_name,
        to_name,
        source,
        target,
    })
}

/// What `app` runs in the source environment, refused unless it is a good release, answering
/// now, of the local head of `branch` (or `allow_stale`).
async fn tested_release(
    source: &Project,
    from_name: &str,
    branch: &str,
    app: &str,
    allow_stale: bool,
) -> Result<Artifact, Failure> {
    let refuse = |msg: String| fail(exit::REMOTE)(anyhow!(msg));
    let Some(art) = running(source, app).await? else {
        return Err(refuse(format!(
            "{branch} has no release running in {from_name}: push it first (jib push {branch})"
        )));
    };
    if art.state != ReleaseState::Ok || !art.healthy {
        return Err(refuse(format!(
            "{branch}'s current release {} in {from_name} is not healthy (state {}{}): fix it and push again, then promote",
            art.release,
            art.state,
            if art.healthy {
                ""
            } else {
                ", health check failing"
            }
        )));
    }
    if let Ok(head) = source.repo.branch_head(branch)
        && head.to_string() != art.commit
        && !allow_stale
    {
        return Err(refuse(format!(
            "local {branch} is at {} but {from_name} runs {}: push it first (jib push {branch}) so what you promote is what was tested, or pass --allow-stale to promote what runs",
            short(&head.to_string()),
            short(&art.commit)
        )));
    }
    Ok(art)
}

/// The local mainline `--merge` fast-forwards after the promote, checked before it.
fn mainline(
    source: &Project,
    target: &Project,
    branch: &str,
    art: &Artifact,
    commit: git2::Oid,
) -> Result<String, Failure> {
    let m = source
        .repo
        .mainline(target.env.merge_into.as_deref())
        .map_err(fail(exit::CONFIG))?;
    if !source.repo.can_fast_forward(&m, commit).unwrap_or(false) {
        return Err(fail(exit::CONFIG)(anyhow!(
            "{m} cannot be fast-forwarded to {} ({branch}): merge or rebase {branch} onto {m} yourself, push it, then promote",
            short(&art.commit)
        )));
    }
    Ok(m)
}

/// What an environment's app runs now; `None` when nothing runs there yet.
async fn running(project: &Project, app: &str) -> Result<Option<Artifact>, Failure> {
    let req = Request::Artifact {
        server: project.server.clone(),
        app: app.to_string(),
    };
    let remote = project.connect().await?;
    let r = remote.call(&req, |_| {}, |_| Ok(Vec::new())).await;
    let host = remote.host.clone();
    remote.close().await;
    match r {
        Ok(Reply::Artifact(a)) => Ok(Some(a)),
        Ok(other) => Err(fail(exit::REMOTE)(anyhow!("unexpected answer {other:?}"))),
        // No such app, or no release yet: a first promote.
        Err(CallError::Remote(e)) if e.kind == ErrorKind::NotDeployed => Ok(None),
        Err(e) => Err(call_failure(&host, e)),
    }
}

/// What changes in prod: the commits and the dependencies, on stderr.
fn print_plan(
    source: &Project,
    to_name: &str,
    branch: &str,
    art: &Artifact,
    prod: Option<&Artifact>,
) {
    let from = prod.map(|p| short(&p.commit).into_owned());
    eprintln!(
        "  {to_name}: {} → {} ({branch})",
        from.as_deref().unwrap_or("(nothing yet)"),
        short(&art.commit)
    );
    if prod.is_some_and(|p| p.commit == art.commit) {
        eprintln!("    same code as now");
    } else {
        match source
            .repo
            .log_between(prod.map(|p| p.commit.as_str()), &art.commit, 10)
        {
            Some((n, shown)) => {
                eprintln!("    {n} commit(s)");
                for (id, summary) in &shown {
                    eprintln!("    {id} {summary}");
                }
                if n > shown.len() {
                    eprintln!("    … and {} more", n - shown.len());
                }
            }
            None => eprintln!("    (prod's commit is not in this repository: history not shown)"),
        }
    }
    match prod {
        Some(p) if p.lock == art.lock => {
            eprintln!("  dependencies: unchanged ({})", sanitize(&art.deps))
        }
        Some(p) => {
            let changes = crate::venv::lock_changes(&p.lock, &art.lock);
            eprintln!("  dependencies: {} change(s)", changes.len());
            for c in changes.iter().take(20) {
                eprintln!("    {}", sanitize(c));
            }
        }
        None => eprintln!(
            "  dependencies: {} package(s) ({})",
            art.lock.lines().count(),
            sanitize(&art.deps)
        ),
    }
}
