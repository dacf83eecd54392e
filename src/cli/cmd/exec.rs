//! `jib exec <branch> [-i] -- <command>…`: a command in a branch's environment on the server
//! (its venv, env vars, current release); its exit status is jib's.

use std::collections::BTreeMap;

use crate::cli::{Exited, Failure, Global, Project, remote};
use crate::protocol::ExecCommand;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Branch (or app name)
    pub branch: String,
    /// Allocate a terminal, for interactive programs
    #[arg(short = 'i', long = "tty")]
    pub tty: bool,
    /// The command and its arguments, passed exactly as given
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(g: &Global, args: &ExecArgs) -> Result<Exited, Failure> {
    let (project, app) = Project::open_target(g, Some(&args.branch))?;
    let command = ExecCommand::Argv {
        argv: args.command.clone(),
    };
    remote::exec(&project, &app, command, args.tty, BTreeMap::new()).await
}
