//! Driving deployed branches from the laptop: exec, shell, logs, restart, env, list, status,
//! destroy, open.

use std::collections::BTreeMap;

use anyhow::anyhow;

use super::{Cli, Command, EnvCmd, Failure, Project, call_failure, exit, fail, ui::Progress};
use crate::protocol::{AppStatus, EnvOp, ExecCommand, Reply, Request};

/// One request to the environment's agent: connect (or reuse the master), send, render its
/// progress (none when `quiet`), close.
pub(super) async fn call(project: &Project, req: Request, quiet: bool) -> Result<Reply, Failure> {
    let t = std::time::Instant::now();
    let remote = project.connect().await?;
    super::ui::debug(&format!(
        "connected to {} in {}",
        remote.host,
        super::ui::format_ms(t.elapsed().as_millis() as u64)
    ));
    let mut progress = Progress::new(quiet);
    super::send(remote, &req, &mut progress, |_| Ok(Vec::new())).await
}

pub async fn run(cli: &Cli) -> Result<(), Failure> {
    let target = match &cli.command {
        Command::Exec { branch, .. }
        | Command::Env { branch, .. }
        | Command::Destroy { branch, .. } => Some(branch.as_str()),
        Command::Shell { branch, .. }
        | Command::Logs { branch, .. }
        | Command::Restart { branch }
        | Command::Status { branch, .. }
        | Command::Mongo { branch, .. }
        | Command::Open { branch } => branch.as_deref(),
        _ => None,
    };
    let (project, target_app) = if matches!(cli.command, Command::List { .. }) {
        (Project::open(cli)?, String::new())
    } else {
        Project::open_target(cli, target)?
    };
    let server = project.server.clone();
    match &cli.command {
        Command::Exec {
            branch: _,
            tty,
            command,
        } => {
            let app = target_app.clone();
            exec(
                &project,
                &app,
                ExecCommand::Argv {
                    argv: command.clone(),
                },
                *tty,
            )
            .await
        }
        Command::Mongo {
            branch: _,
            eval,
            copy_from,
            yes,
        } => {
            let no_mongo = |p: &Project| {
                fail(exit::CONFIG)(anyhow!(
                    "{} has no MongoDB: add [env.{}.mongo] with url and prefix to deploy.toml",
                    p.env_name,
                    p.env_name
                ))
            };
            let Some(m) = &project.env.mongo else {
                return Err(no_mongo(&project));
            };
            let url = m.url_for(&target_app);
            // The agent hands `url` to the shell in its environment; a source database's URL
            // travels the same way, never in the shell's argv.
            let mut env = BTreeMap::new();
            let eval = match copy_from {
                None => eval.clone(),
                Some(from) => {
                    // The source: prod's database, or another branch's in this environment.
                    let (src_project, src_app) = Project::open_target(cli, Some(from))?;
                    let src = src_project
                        .env
                        .mongo
                        .as_ref()
                        .ok_or_else(|| no_mongo(&src_project))?
                        .url_for(&src_app);
                    if src == url {
                        return Err(fail(exit::USAGE)(anyhow!(
                            "{target_app} already uses that database"
                        )));
                    }
                    let db = m.database_for(&target_app);
                    let prompt = format!(
                        "Replace the database {db} with a copy of {from}'s (its data is lost)?"
                    );
                    if !super::ui::confirm(*yes, &format!("replacing {db}"), &prompt)? {
                        super::ui::note!("nothing copied");
                        return Ok(());
                    }
                    env.insert(COPY_SRC_ENV.to_string(), src);
                    Some(copy_script())
                }
            };
            let cmd = ExecCommand::Mongo {
                shell: m.shell.clone(),
                url,
                eval: eval.clone(),
            };
            // Only piped requests may carry secrets: a terminal's rides in argv.
            let tty = eval.is_none();
            exec_with(&project, &target_app, cmd, tty, env).await
        }
        Command::Shell { branch: _, bash } => {
            let app = target_app.clone();
            let cmd = if *bash {
                ExecCommand::LoginShell
            } else {
                ExecCommand::PythonShell
            };
            exec(&project, &app, cmd, true).await
        }
        Command::Logs {
            branch: _,
            follow,
            lines,
            deploy,
            process,
        } => {
            let app = target_app.clone();
            let req = Request::Logs {
                server,
                app,
                lines: *lines,
                follow: *follow,
                deploy: *deploy,
                process: process.clone().map(Into::into),
            };
            let r = call(&project, req, true).await;
            r.map(|_| ())
        }
        Command::Restart { branch: _ } => {
            let app = target_app.clone();
            let t = std::time::Instant::now();
            let r = call(
                &project,
                Request::Restart {
                    server,
                    app: app.clone(),
                },
                false,
            )
            .await;
            if let Reply::Restart { release, .. } = r? {
                super::ui::note!(
                    "✔ {app} restarted on release {release} ({})",
                    super::ui::format_ms(t.elapsed().as_millis() as u64)
                );
            }
            Ok(())
        }
        Command::Env {
            branch: _,
            op,
            no_restart,
            reveal,
            json,
        } => {
            let app = target_app.clone();
            let op = match op {
                None | Some(EnvCmd::List) => EnvOp::List,
                Some(EnvCmd::Set { pairs }) => EnvOp::Set {
                    vars: parse_pairs(pairs)?,
                },
                Some(EnvCmd::Unset { keys }) => EnvOp::Unset { keys: keys.clone() },
            };
            let req = Request::Env {
                server,
                app: app.clone(),
                op,
                restart: !no_restart,
            };
            let r = call(&project, req, *json).await;
            if let Reply::Env { vars, restarted } = r? {
                let shown: BTreeMap<String, String> = vars
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if *reveal { v } else { mask(&v) };
                        (k, v)
                    })
                    .collect();
                if *json {
                    println!(
                        "{}",
                        serde_json::json!({ "app": app, "vars": shown, "restarted": restarted })
                    );
                } else {
                    // Read back from the server's env.json, which the app's user can write.
                    for (k, v) in &shown {
                        println!("{}", super::ui::sanitize(&format!("{k}={v}")));
                    }
                    if restarted {
                        super::ui::note!("✔ {app} reloaded with the new environment");
                    }
                }
            }
            Ok(())
        }
        Command::List { json } => {
            let r = call(&project, Request::List { server }, true).await;
            if let Reply::List { apps } = r? {
                if *json {
                    println!(
                        "{}",
                        serde_json::to_string(&apps).map_err(|e| fail(exit::REMOTE)(e.into()))?
                    );
                } else if apps.is_empty() {
                    super::ui::note!(
                        "nothing is deployed in {} yet: jib push <branch>",
                        project.env_name
                    );
                } else {
                    print_table(&apps);
                }
            }
            Ok(())
        }
        Command::Status { branch: _, json } => {
            let app = target_app.clone();
            let r = call(&project, Request::Status { server, app }, true).await;
            let reply = r?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string(&reply).map_err(|e| fail(exit::REMOTE)(e.into()))?
                );
            } else if let Reply::Status { status, releases } = reply {
                print_table(std::slice::from_ref(&status));
                if !status.processes.is_empty() {
                    println!("\nprocesses:");
                    for (name, state) in &status.processes {
                        let line = format!("  {name:<16} {state}");
                        println!("{}", super::ui::sanitize(&line));
                    }
                }
                println!("\nreleases:");
                for r in releases {
                    let line = format!(
                        "  {} {}  {}  {}  {}  by {}",
                        if r.current { "*" } else { " " },
                        r.id,
                        r.commit.get(..12).unwrap_or(&r.commit),
                        r.state,
                        r.created,
                        r.by
                    );
                    println!("{}", super::ui::sanitize(&line));
                }
            }
            Ok(())
        }
        Command::Destroy {
            branch: _,
            yes,
            force,
            drop_db,
        } => {
            let app = target_app.clone();
            if *drop_db && project.env.mongo.is_none() {
                return Err(fail(exit::CONFIG)(anyhow!(
                    "--drop-db: {} has no [env.{}.mongo] in deploy.toml",
                    project.env_name,
                    project.env_name
                )));
            }
            if (project.env.is_promote_target() || project.env_name == "prod") && !force {
                return Err(fail(exit::CONFIG)(anyhow!(
                    "refusing to destroy {app} in {}; pass --force if you really mean it",
                    project.env_name
                )));
            }
            let prompt = format!(
                "Destroy {app} on {} (its releases and environment)?",
                project.env.host
            );
            if !super::ui::confirm(*yes, &format!("destroying {app}"), &prompt)? {
                super::ui::note!("nothing destroyed");
                return Ok(());
            }
            // The database outlives the app unless asked for, with its own confirmation.
            let drop = match (drop_db, &project.env.mongo) {
                (false, _) => None,
                (true, None) => {
                    return Err(fail(exit::CONFIG)(anyhow!(
                        "--drop-db: {} has no [env.{}.mongo] in deploy.toml",
                        project.env_name,
                        project.env_name
                    )));
                }
                (true, Some(m)) => {
                    let db = m.database_for(&app);
                    let prompt = format!("Also drop the database {db} (all its data, for good)?");
                    if !super::ui::confirm(*yes, &format!("dropping {db}"), &prompt)? {
                        super::ui::note!("nothing destroyed");
                        return Ok(());
                    }
                    Some(crate::protocol::DropDb {
                        shell: m.shell.clone(),
                        url: m.url_for(&app),
                    })
                }
            };
            let r = call(
                &project,
                Request::Destroy {
                    server,
                    app: app.clone(),
                    drop_db: drop.clone(),
                },
                false,
            )
            .await;
            if let Reply::Destroy { freed_bytes, .. } = r? {
                super::ui::note!(
                    "✔ {app} destroyed ({:.1} MB freed{})",
                    freed_bytes as f64 / 1e6,
                    match (&drop, &project.env.mongo) {
                        (Some(_), _) => ", database dropped",
                        (None, Some(_)) => "; its database is kept (--drop-db drops it)",
                        (None, None) => "",
                    }
                );
            }
            Ok(())
        }
        Command::Open { branch: _ } => {
            let app = target_app.clone();
            let url = crate::config::app_url(&app, &server);
            println!("{url}");
            let display = std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some();
            if display {
                let _ = std::process::Command::new("xdg-open")
                    .arg(&url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            Ok(())
        }
        _ => Err(fail(exit::USAGE)(anyhow!("not a management command"))),
    }
}

/// Where [`copy_script`] finds the source database's URL (prod's credentials, maybe).
const COPY_SRC_ENV: &str = "JIB_MONGO_SRC_URL";

/// A mongosh script that replaces the current database with every collection of the one at
/// `$JIB_MONGO_SRC_URL`.
fn copy_script() -> String {
    format!(
        "const src = connect(process.env.{COPY_SRC_ENV}); db.dropDatabase(); let n = 0; \
         src.getCollectionNames().forEach(function (c) {{ \
           const docs = src.getCollection(c).find().toArray(); \
           if (docs.length) {{ db.getCollection(c).insertMany(docs); }} n += docs.length; }}); \
         print('copied ' + n + ' documents from ' + src.getName() + ' to ' + db.getName());"
    )
}

fn parse_pairs(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            return Err(fail(exit::USAGE)(anyhow!("{p:?} is not KEY=VALUE")));
        };
        if !crate::config::valid_env_name(k) {
            return Err(fail(exit::USAGE)(anyhow!(
                "{k:?} is not a valid variable name (letters, digits, _; not starting with a digit)"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Values are masked in listings: enough to recognise, not to reuse.
fn mask(v: &str) -> String {
    if v.chars().count() <= 4 {
        "****".into()
    } else {
        format!("{}****", v.chars().take(2).collect::<String>())
    }
}

fn print_table(apps: &[AppStatus]) {
    println!(
        "{:<24} {:<9} {:<12} {:>8} {:<22} {:<40} URL",
        "APP", "STATE", "COMMIT", "MEMORY", "DEPLOYED", "BY"
    );
    for a in apps {
        let state = if a.last_deploy_failed {
            format!("{}!", a.state)
        } else {
            a.state.to_string()
        };
        // Every field is the server's word; `get` rather than slicing a string that may not
        // be hex.
        let line = format!(
            "{:<24} {:<9} {:<12} {:>6.0}MB {:<22} {:<40} {}",
            a.app,
            state,
            a.commit.get(..12).unwrap_or(&a.commit),
            a.rss_bytes as f64 / 1e6,
            a.deployed_at.split('.').next().unwrap_or(""),
            a.deployed_by,
            a.url
        );
        println!("{}", super::ui::sanitize(&line));
    }
}

async fn exec(
    project: &Project,
    app: &str,
    command: ExecCommand,
    tty: bool,
) -> Result<(), Failure> {
    exec_with(project, app, command, tty, BTreeMap::new()).await
}

/// [`exec`] with variables added to the command's environment.
async fn exec_with(
    project: &Project,
    app: &str,
    command: ExecCommand,
    tty: bool,
    env: BTreeMap<String, String>,
) -> Result<(), Failure> {
    let remote = project.connect().await?;
    let req = Request::Exec {
        server: project.server.clone(),
        app: app.to_string(),
        command,
        env,
    };
    let code = if tty {
        // The terminal belongs to the command: check the agent first, then hand over.
        match remote.ensure_agent().await {
            Ok(_) => remote.exec_tty(&req).await,
            Err(e) => Err(crate::transport::CallError::Transport(e)),
        }
    } else {
        remote.exec_piped(&req).await
    };
    let host = remote.host.clone();
    remote.close().await;
    // The command's own exit status is jib's. Exit now: a blocked read of our terminal
    // (stdin forwarding) must not keep jib waiting after the command is done.
    let code = code.map_err(|e| call_failure(&host, e))?;
    std::process::exit(code)
}
