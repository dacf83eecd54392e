//! `jib destroy <branch> [--yes] [--force] [--drop-db]`: stop a branch and remove its releases,
//! the venvs no one else uses, its env and routing; its database only when asked.

use anyhow::anyhow;

use crate::cli::ui::{confirm, note};
use crate::cli::{Failure, Global, Project, exit, fail, fleet, remote};
use crate::protocol::{DropDb, Reply, Request};

#[derive(clap::Args, Debug)]
pub struct DestroyArgs {
    pub branch: String,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Allow destroying in the prod environment
    #[arg(long)]
    pub force: bool,
    /// Also drop the app's MongoDB database (asks again unless --yes)
    #[arg(long)]
    pub drop_db: bool,
}

pub async fn run(g: &Global, args: &DestroyArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, Some(&args.branch))?;
    // The database outlives the app unless asked for; asking for it where there is none is an
    // error before anything else.
    let mongo = match (args.drop_db, &project.env.mongo) {
        (false, _) => None,
        (true, Some(m)) => Some(m),
        (true, None) => {
            return Err(fail(exit::CONFIG)(anyhow!(
                "--drop-db: {} has no [env.{}.mongo] in deploy.toml",
                project.env_name,
                project.env_name
            )));
        }
    };
    if project.is_prod() && !args.force {
        return Err(fail(exit::CONFIG)(anyhow!(
            "refusing to destroy {app} in {}; pass --force if you really mean it",
            project.env_name
        )));
    }
    let prompt = format!(
        "Destroy {app} on {} (its releases and environment)?",
        project.hosts_text()
    );
    if !confirm(args.yes, &format!("destroying {app}"), &prompt)? {
        note!("nothing destroyed");
        return Ok(());
    }
    // Dropping the database has its own confirmation.
    let drop = match mongo {
        None => None,
        Some(m) => {
            let db = m.database_for(&app);
            let prompt = format!("Also drop the database {db} (all its data, for good)?");
            if !confirm(args.yes, &format!("dropping {db}"), &prompt)? {
                note!("nothing destroyed");
                return Ok(());
            }
            Some(DropDb {
                shell: m.shell.clone(),
                url: m.url_for(&app),
            })
        }
    };
    let request = |server, drop_db| Request::Destroy {
        server,
        app: app.clone(),
        drop_db,
    };
    let reply = if project.env.is_fleet() {
        // The app goes from every host; the database (shared) is dropped once.
        let done = fleet::on_every_host(&project, false, |m| {
            let first = m.host == project.env.node_hosts()[0];
            request(m.server.clone(), drop.clone().filter(|_| first))
        })
        .await?;
        let freed: u64 = done
            .iter()
            .filter_map(|(_, r)| match r {
                Reply::Destroy { freed_bytes, .. } => Some(*freed_bytes),
                _ => None,
            })
            .sum();
        Reply::Destroy {
            app: app.clone(),
            freed_bytes: freed,
        }
    } else {
        remote::call(
            &project,
            request(project.server.clone(), drop.clone()),
            false,
        )
        .await?
    };
    if let Reply::Destroy { freed_bytes, .. } = reply {
        note!(
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
