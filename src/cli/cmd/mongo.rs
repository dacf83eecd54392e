//! `jib mongo [<branch>] [--eval JS | --copy-from BRANCH|ENV]`: mongosh on a branch's own
//! database, on the server; `--copy-from` replaces it with a copy of prod's or another
//! branch's.

use std::collections::BTreeMap;

use anyhow::anyhow;

use crate::cli::ui::{confirm, note};
use crate::cli::{Exited, Failure, Global, Project, exit, fail, remote};
use crate::protocol::ExecCommand;

#[derive(clap::Args, Debug)]
pub struct MongoArgs {
    pub branch: Option<String>,
    /// Run this script and print its output instead of an interactive shell
    #[arg(long, value_name = "JS", conflicts_with = "copy_from")]
    pub eval: Option<String>,
    /// Replace this branch's database with a copy of another's: `prod` or a branch
    #[arg(long, value_name = "BRANCH|ENV")]
    pub copy_from: Option<String>,
    /// Do not ask before replacing the database (with --copy-from)
    #[arg(long, short)]
    pub yes: bool,
}

/// Where [`copy_script`] finds the source database's URL (prod's credentials, maybe).
const COPY_SRC_ENV: &str = "JIB_MONGO_SRC_URL";

pub async fn run(g: &Global, args: &MongoArgs) -> Result<Exited, Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let Some(m) = &project.env.mongo else {
        return Err(no_mongo(&project));
    };
    let url = m.url_for(&app);
    // The agent hands `url` to the shell in its environment; a source database's URL travels
    // the same way, never in the shell's argv.
    let mut env = BTreeMap::new();
    let eval = match &args.copy_from {
        None => args.eval.clone(),
        Some(from) => {
            // The source: prod's database, or another branch's in this environment.
            let (src_project, src_app) = Project::open_target(g, Some(from))?;
            let src = src_project
                .env
                .mongo
                .as_ref()
                .ok_or_else(|| no_mongo(&src_project))?
                .url_for(&src_app);
            if src == url {
                return Err(fail(exit::USAGE)(anyhow!(
                    "{app} already uses that database"
                )));
            }
            let db = m.database_for(&app);
            let prompt =
                format!("Replace the database {db} with a copy of {from}'s (its data is lost)?");
            if !confirm(args.yes, &format!("replacing {db}"), &prompt)? {
                note!("nothing copied");
                return Ok(Exited(exit::OK));
            }
            env.insert(COPY_SRC_ENV.to_string(), src);
            Some(copy_script())
        }
    };
    // A script's output is piped back; without one the shell gets the terminal.
    let tty = eval.is_none();
    let cmd = ExecCommand::Mongo {
        shell: m.shell.clone(),
        url,
        eval,
    };
    remote::exec(&project, &app, cmd, tty, env).await
}

fn no_mongo(p: &Project) -> Failure {
    fail(exit::CONFIG)(anyhow!(
        "{} has no MongoDB: add [env.{}.mongo] with url and prefix to deploy.toml",
        p.env_name,
        p.env_name
    ))
}

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
