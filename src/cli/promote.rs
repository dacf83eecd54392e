//! `jib promote`, `jib rollback`, `jib releases`, `jib audit`: shipping what a branch runs to
//! prod without rebuilding it, going back, and seeing what happened.

use std::time::Instant;

use anyhow::anyhow;

use super::Exit;
use super::manage::call;
use super::ui::{Progress, format_ms, sanitize};
use super::{Cli, Command, Failure, Project, call_failure, exit, fail};
use crate::protocol::{Artifact, PromoteRequest, ReleaseInfo, Reply, Request};

pub async fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Promote {
            branch,
            to,
            yes,
            allow_stale,
            merge,
            lock_wait,
            json,
        } => {
            promote(
                cli,
                &Options {
                    branch: branch.as_deref(),
                    to: to.as_deref(),
                    yes: *yes,
                    allow_stale: *allow_stale,
                    merge: *merge,
                    lock_wait: *lock_wait,
                    json: *json,
                },
            )
            .await
        }
        Command::Rollback {
            target,
            to,
            lock_wait,
            json,
        } => rollback(cli, target.as_deref(), to.clone(), *lock_wait, *json).await,
        Command::Releases { target, json } => releases(cli, target.as_deref(), *json).await,
        Command::Audit {
            environment,
            lines,
            json,
        } => audit(cli, environment.as_deref(), *lines, *json).await,
        _ => Err(fail(exit::USAGE)(anyhow!("not a release command"))),
    }
}

struct Options<'a> {
    branch: Option<&'a str>,
    to: Option<&'a str>,
    yes: bool,
    allow_stale: bool,
    merge: bool,
    lock_wait: u64,
    json: bool,
}

/// A commit as the server names it, shortened and made safe to print (`get`: no panic on a
/// string that is not hex).
fn short(c: &str) -> std::borrow::Cow<'_, str> {
    sanitize(c.get(..7).unwrap_or(c))
}

fn as_json(v: &impl serde::Serialize) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(v).map_err(|e| fail(exit::REMOTE)(e.into()))
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
        Err(crate::transport::CallError::Remote(e))
            if e.kind == crate::protocol::ErrorKind::NotDeployed =>
        {
            Ok(None)
        }
        Err(e) => Err(call_failure(&host, e)),
    }
}

async fn promote(cli: &Cli, o: &Options<'_>) -> Result<(), Failure> {
    let t0 = Instant::now();
    let first = Project::open(cli)?;
    let (to_name, to_env) = first.config.promote_target(o.to).exit(exit::CONFIG)?;
    // deploy.toml's promote_from, else an explicit -e, else dev.
    let from_name = to_env
        .promote_from
        .clone()
        .or_else(|| cli.env.clone().filter(|e| *e != to_name))
        .unwrap_or_else(|| "dev".into());
    if from_name == to_name {
        return Err(fail(exit::USAGE)(anyhow!(
            "cannot promote from {to_name} to itself: name the source with -e <env> (or promote_from in deploy.toml)"
        )));
    }
    let source = Project::open_env(cli, &from_name)?;
    let target = Project::open_env(cli, &to_name)?;
    drop(first);
    let prod_app = target.env.promoted_app(&to_name);
    let branch = match o.branch {
        Some(b) => b.to_string(),
        None => source.repo.current_branch().exit(exit::CONFIG)?,
    };
    let app = source.app_for(Some(&branch))?;
    let refuse = |msg: String| fail(exit::REMOTE)(anyhow!(msg));

    // 1. What the branch runs: it must be a good release, answering now, of the local head.
    let Some(art) = running(&source, &app).await? else {
        return Err(refuse(format!(
            "{branch} has no release running in {from_name}: push it first (jib push {branch})"
        )));
    };
    if art.state != crate::protocol::ReleaseState::Ok || !art.healthy {
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
    if let Ok(head) = source.repo.branch_head(&branch)
        && head.to_string() != art.commit
        && !o.allow_stale
    {
        return Err(refuse(format!(
            "local {branch} is at {} but {from_name} runs {}: push it first (jib push {branch}) so what you promote is what was tested, or pass --allow-stale to promote what runs",
            short(&head.to_string()),
            short(&art.commit)
        )));
    }
    let commit = git2::Oid::from_str(&art.commit).map_err(|e| fail(exit::REMOTE)(e.into()))?;
    let mainline = if o.merge {
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
        Some(m)
    } else {
        None
    };

    // 2. What prod runs now, and what changes.
    let prod = running(&target, &prod_app).await?;
    // The plan shows unless the output is data or nobody will read it; a question always
    // comes with it.
    let asks = !o.yes;
    let quiet_and_sure = super::ui::quiet() && o.yes;
    if (asks || !o.json) && !quiet_and_sure {
        print_plan(&source, &to_name, &branch, &art, prod.as_ref());
    }

    // 3. Confirmation.
    let prompt = format!(
        "Promote {branch} ({}) to {to_name} at {}?",
        short(&art.commit),
        target.env.domains.join(", ")
    );
    if !super::ui::confirm(o.yes, &format!("promoting to {to_name}"), &prompt)? {
        super::ui::note!("nothing promoted");
        return Ok(());
    }

    // 4. Ship it.
    let req = Request::Promote(Box::new(PromoteRequest {
        server: target.server.clone(),
        app: prod_app.clone(),
        spec: target.config.build_spec(&to_name, &target.env, &prod_app),
        from_env: from_name.clone(),
        artifact: art.clone(),
        same_host: source.env.host == target.env.host,
        by: source.repo.identity(),
        lock_wait_secs: o.lock_wait,
    }));
    let remote = target.connect().await?;
    let mut progress = Progress::new(o.json);
    let repo = &source.repo;
    let reply = super::send(remote, &req, &mut progress, |have| {
        repo.pack_missing(commit, have)
    })
    .await?;

    // 5. The local mainline follows, when asked.
    let merged = match &mainline {
        Some(m) => match source.repo.fast_forward(m, commit) {
            Ok(()) => Some(m.clone()),
            Err(e) => {
                eprintln!("! promoted, but {m} was not fast-forwarded: {e:#}");
                None
            }
        },
        None => None,
    };
    let ms = t0.elapsed().as_millis() as u64;
    if o.json {
        let mut v = as_json(&reply)?;
        v["ms"] = ms.into();
        v["branch"] = branch.into();
        v["from"] = format!("{from_name}/{}@{}", art.app, art.release).into();
        v["merged"] = merged.into();
        println!("{v}");
        return Ok(());
    }
    if let Reply::Promote { url, .. } = &reply {
        super::ui::note!(
            "✔ {to_name} now serves {} ({branch}) at {url} ({})",
            short(&art.commit),
            format_ms(ms)
        );
        if let Some(m) = merged {
            super::ui::note!("✔ {m} fast-forwarded to {}", short(&art.commit));
        }
        println!("{}", sanitize(url));
    }
    Ok(())
}

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

async fn rollback(
    cli: &Cli,
    target: Option<&str>,
    to: Option<String>,
    lock_wait: u64,
    json: bool,
) -> Result<(), Failure> {
    let t0 = Instant::now();
    let (project, app) = Project::open_target(cli, target)?;
    let req = Request::Rollback {
        server: project.server.clone(),
        app: app.clone(),
        to,
        lock_wait_secs: lock_wait,
        health_timeout_secs: project.config.app.health_timeout,
    };
    let reply = call(&project, req, json).await?;
    let ms = t0.elapsed().as_millis() as u64;
    if json {
        let mut v = as_json(&reply)?;
        v["ms"] = ms.into();
        println!("{v}");
    } else if let Reply::Rollback {
        from, to, commit, ..
    } = reply
    {
        super::ui::note!(
            "✔ {app} in {} rolled back: {from} → {to} ({}) ({})",
            project.env_name,
            short(&commit),
            format_ms(ms)
        );
    }
    Ok(())
}

async fn releases(cli: &Cli, target: Option<&str>, json: bool) -> Result<(), Failure> {
    let (project, app) = Project::open_target(cli, target)?;
    let req = Request::Status {
        server: project.server.clone(),
        app,
    };
    let reply = call(&project, req, true).await?;
    let Reply::Status { releases, .. } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    if json {
        println!("{}", as_json(&releases)?);
    } else {
        print_releases(&releases);
    }
    Ok(())
}

fn print_releases(releases: &[ReleaseInfo]) {
    println!(
        "  {:<32} {:<8} {:<7} {:<21} {:<20} BY",
        "RELEASE", "COMMIT", "STATE", "CREATED", "FROM"
    );
    for r in releases {
        let from = r
            .promoted_from
            .clone()
            .unwrap_or_else(|| format!("branch {}", r.branch));
        let line = format!(
            "{} {:<32} {:<8} {:<7} {:<21} {:<20} {}",
            if r.current { "*" } else { " " },
            r.id,
            short(&r.commit),
            r.state,
            r.created.split('.').next().unwrap_or(""),
            from,
            r.by
        );
        println!("{}", sanitize(&line));
    }
}

async fn audit(cli: &Cli, env: Option<&str>, lines: usize, json: bool) -> Result<(), Failure> {
    let project = Project::open_env(cli, env.unwrap_or(cli.env()))?;
    let req = Request::Audit {
        server: project.server.clone(),
        lines,
    };
    let reply = call(&project, req, true).await?;
    let Reply::Audit { entries } = reply else {
        return Err(fail(exit::REMOTE)(anyhow!("unexpected answer {reply:?}")));
    };
    if json {
        println!("{}", as_json(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        super::ui::note!("nothing recorded in {} yet", project.env_name);
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
