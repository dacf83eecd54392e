//! `jib shell [<branch>] [--bash]`: an interactive Python shell (manage.py shell for Django),
//! or a login shell, in a branch's environment on the server.

use std::collections::BTreeMap;

use crate::cli::{Exited, Failure, Global, Project, remote};
use crate::protocol::ExecCommand;

#[derive(clap::Args, Debug)]
pub struct ShellArgs {
    pub branch: Option<String>,
    /// A login shell instead of Python
    #[arg(long)]
    pub bash: bool,
}

pub async fn run(g: &Global, args: &ShellArgs) -> Result<Exited, Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let command = if args.bash {
        ExecCommand::LoginShell
    } else {
        ExecCommand::PythonShell
    };
    remote::exec(&project, &app, command, true, BTreeMap::new()).await
}
