//! `jib env <branch> [list | set KEY=VALUE… | unset KEY…]`: a branch's own environment
//! variables, masked unless `--reveal`; a change reloads the app unless `--no-restart`.

use std::collections::BTreeMap;

use anyhow::anyhow;

use crate::cli::ui::{note, sanitize};
use crate::cli::{Failure, Global, Project, exit, fail, fleet, remote};
use crate::protocol::{EnvOp, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    pub branch: String,
    #[command(subcommand)]
    pub op: Option<EnvCmd>,
    /// Do not reload the app after a change (it applies on the next reload)
    #[arg(long, global = true)]
    pub no_restart: bool,
    /// Show values (they are masked by default)
    #[arg(long, global = true)]
    pub reveal: bool,
    /// Print as JSON
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum EnvCmd {
    /// Show the variables (values masked unless --reveal)
    List,
    /// Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove variables
    Unset {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

pub async fn run(g: &Global, args: &EnvArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, Some(&args.branch))?;
    let op = match &args.op {
        None | Some(EnvCmd::List) => EnvOp::List,
        Some(EnvCmd::Set { pairs }) => EnvOp::Set {
            vars: parse_pairs(pairs)?,
        },
        Some(EnvCmd::Unset { keys }) => EnvOp::Unset { keys: keys.clone() },
    };
    let request = |server| Request::Env {
        server,
        app: app.clone(),
        op: op.clone(),
        restart: !args.no_restart,
    };
    let changes = !matches!(op, EnvOp::List);
    let reply = if project.env.is_fleet() && changes && g.host.is_none() {
        // Every host gets the same variables (and restarts with them).
        let done = fleet::on_every_host(&project, args.json, |m| request(m.server.clone())).await?;
        done.into_iter()
            .next()
            .map(|(_, r)| r)
            .ok_or_else(|| fail(exit::REMOTE)(anyhow!("no host answered")))?
    } else {
        remote::call(&project, request(project.server.clone()), args.json).await?
    };
    let Reply::Env { vars, restarted } = reply else {
        return Ok(());
    };
    let shown: BTreeMap<String, String> = vars
        .into_iter()
        .map(|(k, v)| {
            let v = if args.reveal { v } else { mask(&v) };
            (k, v)
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "app": app, "vars": shown, "restarted": restarted })
        );
    } else {
        // Read back from the server's env.json, which the app's user can write.
        for (k, v) in &shown {
            println!("{}", sanitize(&format!("{k}={v}")));
        }
        if restarted {
            note!("✔ {app} reloaded with the new environment");
        }
    }
    Ok(())
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
