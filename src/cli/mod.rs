//! The laptop CLI, `jib`. Every command is one file under `cmd/`, named after it (`jib logs`
//! is `cmd/logs.rs`, with its arguments `LogsArgs` and its `run`). This file: the global
//! arguments, the list of commands, the dispatch, exit codes and [`Failure`]. What several
//! commands share: `project` (the repository, deploy.toml and the chosen environment),
//! `remote` (a call to the agent, `jib exec`'s hand-over, an agent failure's message and exit
//! code), `ui` (stderr: progress, notes, questions, errors), `output` (stdout: JSON, tables).

mod cmd;
pub mod fleet;
mod output;
mod project;
mod remote;
mod ui;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use project::Project;

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// A remote step failed (deploy, health check …).
    pub const REMOTE: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// deploy.toml or the repository is unusable.
    pub const CONFIG: i32 = 3;
    /// Could not reach the host or its agent.
    pub const CONNECTION: i32 = 4;
    /// Another deploy holds the lock.
    pub const LOCKED: i32 = 5;
}

#[derive(Parser, Debug)]
#[command(
    name = "jib",
    version,
    about = "Deploy any git branch of a Python web app to <branch>.<domain> on your own servers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

// What every command accepts (no doc comment: on a flattened struct it would become jib's
// `about`).
#[derive(clap::Args, Debug)]
pub struct Global {
    /// Run as if jib was started in this directory
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Environment from deploy.toml to act on [default: dev]
    #[arg(short, long, global = true, value_name = "ENV")]
    pub env: Option<String>,
    /// On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)
    #[arg(long, global = true, value_name = "HOST")]
    pub host: Option<String>,
    /// Only print results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also show the connection, the agent's version and each remote step's timing
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl Global {
    /// The environment `-e` names, `dev` by default.
    pub fn env(&self) -> &str {
        self.env.as_deref().unwrap_or("dev")
    }
}

/// One variant a command, in the order `jib --help` lists them; each variant's doc comment is
/// its line there.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)
    Init(cmd::init::InitArgs),
    /// Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site
    Setup(cmd::setup::SetupArgs),
    /// Deploy a branch (default: the current one) to <branch>.<domain>
    Push(cmd::push::PushArgs),
    /// Run a command in a branch's environment (its venv, env vars, current release)
    Exec(cmd::exec::ExecArgs),
    /// Interactive Python shell in a branch's environment (manage.py shell for Django)
    Shell(cmd::shell::ShellArgs),
    /// Show a branch's uWSGI log
    Logs(cmd::logs::LogsArgs),
    /// Graceful reload of one branch (no request dropped; other branches untouched)
    Restart(cmd::restart::RestartArgs),
    /// A branch's own environment variables: list, set KEY=VALUE…, unset KEY…
    Env(cmd::env::EnvArgs),
    /// Every branch deployed in the environment
    List(cmd::list::ListArgs),
    /// One branch in detail, with its releases
    Status(cmd::status::StatusArgs),
    /// Stop a branch and remove its releases, venvs no one else uses, env and routing
    Destroy(cmd::destroy::DestroyArgs),
    /// MongoDB shell on a branch's own database, on the server (mongosh); --eval runs one script
    Mongo(cmd::mongo::MongoArgs),
    /// Print a branch's URL (and open it in a browser when there is a display)
    Open(cmd::open::OpenArgs),
    /// Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk
    Prune(cmd::prune::PruneArgs),
    /// Ship the exact build a branch runs (code and packages) to prod, with zero downtime
    Promote(cmd::promote::PromoteArgs),
    /// Switch back to the previous good release (of prod, or of a branch)
    Rollback(cmd::rollback::RollbackArgs),
    /// Releases kept for prod or a branch: which is current, when, by whom, from which branch
    Releases(cmd::releases::ReleasesArgs),
    /// Who pushed, promoted, rolled back, restarted or destroyed what, and when
    Audit(cmd::audit::AuditArgs),
    /// Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted
    Config(cmd::config::ConfigArgs),
    /// Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS
    Doctor(cmd::doctor::DoctorArgs),
    /// Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1
    Man(cmd::man::ManArgs),
    /// Print shell completions
    Completions(cmd::completions::CompletionsArgs),
}

/// An error with the exit code it deserves.
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

/// Gives an error its exit code where it arises, like `.context()`: there is no blanket
/// conversion, so every `?` in the CLI says what kind of failure it is.
pub trait Exit<T> {
    fn exit(self, code: i32) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> Exit<T> for Result<T, E> {
    fn exit(self, code: i32) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            code,
            error: e.into(),
        })
    }
}

pub fn fail(code: i32) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

/// How a command that handed the terminal to a program on the server ends: with that
/// program's exit status, which becomes jib's.
pub struct Exited(pub i32);

pub fn main() -> i32 {
    let cli = Cli::parse();
    let g = &cli.global;
    ui::set_level(g.quiet, g.verbose);
    crate::failpoint::arm_cli();
    let result = match &cli.command {
        Command::Init(a) => cmd::init::run(g, a),
        Command::Setup(a) => block_on(cmd::setup::run(g, a)),
        Command::Push(a) => block_on(cmd::push::run(g, a)),
        Command::Exec(a) => block_on_exited(cmd::exec::run(g, a)),
        Command::Shell(a) => block_on_exited(cmd::shell::run(g, a)),
        Command::Logs(a) => block_on(cmd::logs::run(g, a)),
        Command::Restart(a) => block_on(cmd::restart::run(g, a)),
        Command::Env(a) => block_on(cmd::env::run(g, a)),
        Command::List(a) => block_on(cmd::list::run(g, a)),
        Command::Status(a) => block_on(cmd::status::run(g, a)),
        Command::Destroy(a) => block_on(cmd::destroy::run(g, a)),
        Command::Mongo(a) => block_on_exited(cmd::mongo::run(g, a)),
        Command::Open(a) => cmd::open::run(g, a),
        Command::Prune(a) => block_on(cmd::prune::run(g, a)),
        Command::Promote(a) => block_on(cmd::promote::run(g, a)),
        Command::Rollback(a) => block_on(cmd::rollback::run(g, a)),
        Command::Releases(a) => block_on(cmd::releases::run(g, a)),
        Command::Audit(a) => block_on(cmd::audit::run(g, a)),
        Command::Config(a) => cmd::config::run(g, a),
        Command::Doctor(a) => block_on(cmd::doctor::run(g, a)),
        Command::Man(a) => cmd::man::run(a),
        Command::Completions(a) => cmd::completions::run(a),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            ui::error(&f.error);
            f.code
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(exit::CONFIG)(e.into()))
}

fn block_on(command: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    runtime()?.block_on(command)
}

/// Runs a command that hands the terminal to a program on the server, then exits with the
/// program's status at once, runtime and all: a blocked read of our terminal (stdin
/// forwarding) must not keep jib waiting after the program is done, and dropping the runtime
/// would wait for it.
fn block_on_exited(command: impl Future<Output = Result<Exited, Failure>>) -> Result<(), Failure> {
    let rt = runtime()?;
    let Exited(code) = rt.block_on(command)?;
    std::process::exit(code)
}
