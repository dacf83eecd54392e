//! `jib list [--json]`: every branch deployed in the environment.

use crate::cli::output::{print_apps, print_json};
use crate::cli::ui::note;
use crate::cli::{Failure, Global, Project, remote};
use crate::protocol::{Reply, Request};

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print as JSON (fields documented in docs/guide.md)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &Global, args: &ListArgs) -> Result<(), Failure> {
    let project = Project::open(g)?;
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
