//! `jib list [--json]`: every branch deployed in the environment.

use crate::cli::output::{print_apps, print_json};
use crate::cli::ui::note;
use crate::cli::{Failure, Global, Project, exit, fleet, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &ListArgs) -> Result<(), Failure> {
    let project = Project::open(g)?;
    if project.env.is_fleet() {
        return fleet_list(&project, args.json).await;
    }
    let req = Request::List {
        server: project.server.clone(),
    };
    if let Reply::List { apps } = remote::call(&project, req, true).await? {
        if args.json {
            print_json(&apps)?;
        } else if apps.is_empty() {
            note!(
                "nothing is deployed in {} yet: jib push <branch>",
                project.env_name
            );
        } else {
            print_apps(&apps);
        }
    }
    Ok(())
}

/// On several servers: every host's apps, under the host (an unreachable host says so).
async fn fleet_list(project: &Project, json: bool) -> Result<(), Failure> {
    let answers = fleet::ask_hosts(project, |m| Request::List {
        server: m.server.clone(),
    })
    .await;
    if json {
        let hosts: Vec<serde_json::Value> = answers
            .iter()
            .map(|(host, r)| match r {
                Ok(Reply::List { apps }) => {
                    serde_json::json!({ "host": host, "reachable": true, "apps": apps })
                }
                Ok(_) => serde_json::json!({ "host": host, "reachable": true }),
                Err(e) => serde_json::json!({
                    "host": host,
                    "reachable": e.code != exit::CONNECTION,
                    "error": format!("{:#}", e.error),
                }),
            })
            .collect();
        return print_json(&serde_json::json!({ "hosts": hosts }));
    }
    for (host, r) in &answers {
        match r {
            Ok(Reply::List { apps }) => {
                println!("{host}:");
                print_apps(apps);
            }
            Ok(_) => println!("{host}: ?"),
            Err(e) => println!("{host}: unreachable: {:#}", e.error),
        }
    }
    Ok(())
}
