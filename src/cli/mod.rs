//! The laptop CLI: the clap definition of every command, the dispatch to the file that runs
//! it (push, promote, manage, setup, init, config, doctor, prune), exit codes, and how an
//! agent failure becomes a message and a code (`call_failure`).

mod config;
mod doctor;
mod init;
mod manage;
mod promote;
mod prune;
mod push;
mod setup;
mod ui;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Config, Environment};
use crate::layout::Layout;
use crate::protocol::ServerConfig;
use crate::transport::{CallError, Remote};

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
    /// Run as if jib was started in this directory
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Environment from deploy.toml to act on [default: dev]
    #[arg(short, long, global = true, value_name = "ENV")]
    pub env: Option<String>,
    /// Only print results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also show the connection, the agent's version and each remote step's timing
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The environment `-e` names, `dev` by default.
    pub fn env(&self) -> &str {
        self.env.as_deref().unwrap_or("dev")
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)
    Init(init::InitArgs),
    /// Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site
    Setup {
        /// Install missing system packages (needs root or passwordless sudo on the server)
        #[arg(long)]
        install_deps: bool,
        /// As an unprivileged ssh user: print the one-time root steps as a script for an administrator, instead of running them through sudo
        #[arg(long)]
        root_script: bool,
        /// Don't ask for the sudo password: use `sudo -n` (fails if sudo wants a password)
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Deploy a branch (default: the current one) to <branch>.<domain>
    Push {
        /// Branch to deploy
        branch: Option<String>,
        /// Deploy even when the same commit is already live
        #[arg(long)]
        force: bool,
        /// Seconds to wait when another push, promote or rollback of this app holds its lock (0: refuse at once)
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        lock_wait: u64,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a branch's environment (its venv, env vars, current release)
    Exec {
        /// Branch (or app name)
        branch: String,
        /// Allocate a terminal, for interactive programs
        #[arg(short = 'i', long = "tty")]
        tty: bool,
        /// The command and its arguments, passed exactly as given
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Interactive Python shell in a branch's environment (manage.py shell for Django)
    Shell {
        branch: Option<String>,
        /// A login shell instead of Python
        #[arg(long)]
        bash: bool,
    },
    /// Show a branch's uWSGI log
    Logs {
        branch: Option<String>,
        /// Keep printing new lines (Ctrl-C stops)
        #[arg(short, long)]
        follow: bool,
        /// Lines to show first
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        /// The log of the deploys instead
        #[arg(long, conflicts_with = "process")]
        deploy: bool,
        /// The log of a [processes] entry (or `cron`) instead
        #[arg(long, value_name = "NAME")]
        process: Option<String>,
    },
    /// Graceful reload of one branch (no request dropped; other branches untouched)
    Restart { branch: Option<String> },
    /// A branch's own environment variables: list, set KEY=VALUE…, unset KEY…
    Env {
        branch: String,
        #[command(subcommand)]
        op: Option<EnvCmd>,
        /// Do not reload the app after a change (it applies on the next reload)
        #[arg(long, global = true)]
        no_restart: bool,
        /// Show values (they are masked by default)
        #[arg(long, global = true)]
        reveal: bool,
        /// Print as JSON
        #[arg(long, global = true)]
        json: bool,
    },
    /// Every branch deployed in the environment
    List {
        /// Print as JSON (fields documented in docs/guide.md)
        #[arg(long)]
        json: bool,
    },
    /// One branch in detail, with its releases
    Status {
        branch: Option<String>,
        /// Print as JSON (fields documented in docs/guide.md)
        #[arg(long)]
        json: bool,
    },
    /// Stop a branch and remove its releases, venvs no one else uses, env and routing
    Destroy {
        branch: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
        /// Allow destroying in the prod environment
        #[arg(long)]
        force: bool,
        /// Also drop the app's MongoDB database (asks again unless --yes)
        #[arg(long)]
        drop_db: bool,
    },
    /// MongoDB shell on a branch's own database, on the server (mongosh); --eval runs one script
    Mongo {
        branch: Option<String>,
        /// Run this script and print its output instead of an interactive shell
        #[arg(long, value_name = "JS", conflicts_with = "copy_from")]
        eval: Option<String>,
        /// Replace this branch's database with a copy of another's: `prod` or a branch
        #[arg(long, value_name = "BRANCH|ENV")]
        copy_from: Option<String>,
        /// Do not ask before replacing the database (with --copy-from)
        #[arg(long, short)]
        yes: bool,
    },
    /// Print a branch's URL (and open it in a browser when there is a display)
    Open { branch: Option<String> },
    /// Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk
    Prune {
        /// Branches whose deployed commit is in this branch's history
        #[arg(long, value_name = "BRANCH")]
        merged_into: Option<String>,
        /// Branches deleted here and on every remote
        #[arg(long)]
        gone: bool,
        /// Apps with no request for this long (90m, 14d …)
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Only list what would be destroyed
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (for cron)
        #[arg(long, short)]
        yes: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Ship the exact build a branch runs (code and packages) to prod, with zero downtime
    Promote {
        /// Branch whose running release is promoted (default: the current one)
        branch: Option<String>,
        /// Environment to promote to (default: the one with `domains`)
        #[arg(long, value_name = "ENV")]
        to: Option<String>,
        /// Do not ask for confirmation (needed without a terminal)
        #[arg(long, short)]
        yes: bool,
        /// Promote even when the local branch head differs from what the branch runs
        #[arg(long)]
        allow_stale: bool,
        /// Afterwards, fast-forward the local main (or master) branch to the promoted commit
        #[arg(long)]
        merge: bool,
        /// Seconds to wait when another promote or rollback holds the lock (0: refuse at once)
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        lock_wait: u64,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Switch back to the previous good release (of prod, or of a branch)
    Rollback {
        /// `prod` (an environment with `domains`) or a branch
        target: Option<String>,
        /// Release id, or a prefix of its id or commit, to switch to
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
        /// Seconds to wait when a deploy holds the lock (0: refuse at once)
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        lock_wait: u64,
        /// Print as JSON (fields documented in docs/guide.md)
        #[arg(long)]
        json: bool,
    },
    /// Releases kept for prod or a branch: which is current, when, by whom, from which branch
    Releases {
        /// `prod` (an environment with `domains`) or a branch
        target: Option<String>,
        /// Print as JSON (fields documented in docs/guide.md)
        #[arg(long)]
        json: bool,
    },
    /// Who pushed, promoted, rolled back, restarted or destroyed what, and when
    Audit {
        /// Environment (default: the one -e names)
        #[arg(value_name = "ENV")]
        environment: Option<String>,
        /// Entries to show
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Print as JSON (fields documented in docs/guide.md)
        #[arg(long)]
        json: bool,
    },
    /// Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted
    Config {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS
    Doctor {
        /// Print the checks as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1
    Man {
        /// Write jib.1 and one page per subcommand (jib-push.1 …) into this directory instead
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
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

pub fn main() -> i32 {
    let cli = Cli::parse();
    ui::set_level(cli.quiet, cli.verbose);
    let result = match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "jib", &mut buf);
            print_raw(&buf)
        }
        Command::Man { out_dir: Some(dir) } => clap_mangen::generate_to(Cli::command(), dir)
            .map_err(|e| {
                fail(exit::USAGE)(anyhow::anyhow!(
                    "cannot write man pages to {}: {e}",
                    dir.display()
                ))
            }),
        Command::Man { out_dir: None } => {
            let mut buf = Vec::new();
            // Built as `--out-dir` builds it, so both give the same jib.1.
            let mut cmd = Cli::command().disable_help_subcommand(true);
            cmd.build();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| fail(exit::USAGE)(e.into()))
                .and_then(|()| print_raw(&buf))
        }
        Command::Config { json } => config::run(&cli, *json),
        Command::Prune { .. } => runtime().and_then(|rt| rt.block_on(prune::run(&cli))),
        Command::Init(args) => init::run(&cli, args),
        Command::Doctor { json } => runtime().and_then(|rt| rt.block_on(doctor::run(&cli, *json))),
        Command::Exec { .. }
        | Command::Shell { .. }
        | Command::Logs { .. }
        | Command::Restart { .. }
        | Command::Env { .. }
        | Command::List { .. }
        | Command::Status { .. }
        | Command::Destroy { .. }
        | Command::Mongo { .. }
        | Command::Open { .. } => runtime().and_then(|rt| rt.block_on(manage::run(&cli))),
        Command::Promote { .. }
        | Command::Rollback { .. }
        | Command::Releases { .. }
        | Command::Audit { .. } => runtime().and_then(|rt| rt.block_on(promote::run(&cli))),
        Command::Setup {
            install_deps,
            root_script,
            yes,
        } => runtime().and_then(|rt| {
            rt.block_on(setup::run(
                &cli,
                setup::SetupArgs {
                    install_deps: *install_deps,
                    root_script: *root_script,
                    yes: *yes,
                },
            ))
        }),
        Command::Push {
            branch,
            force,
            lock_wait,
            json,
        } => runtime().and_then(|rt| {
            rt.block_on(push::run(
                &cli,
                branch.as_deref(),
                *force,
                *lock_wait,
                *json,
            ))
        }),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            ui::error(&f.error);
            f.code
        }
    }
}

/// Writes to stdout; a closed pipe (`jib man | head`) is not an error.
fn print_raw(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(fail(exit::USAGE)(e.into())),
        _ => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(exit::CONFIG)(e.into()))
}

/// The project: its repository, deploy.toml and the chosen environment.
pub struct Project {
    pub repo: crate::git::Repo,
    pub dir: PathBuf,
    pub config: Config,
    pub env_name: String,
    pub env: Environment,
    pub server: ServerConfig,
}

impl Project {
    pub fn open(cli: &Cli) -> Result<Project, Failure> {
        Self::open_env(cli, cli.env())
    }

    /// The project, acting on environment `env_name`.
    pub fn open_env(cli: &Cli, env_name: &str) -> Result<Project, Failure> {
        let start = match &cli.dir {
            Some(d) => d.clone(),
            None => std::env::current_dir().exit(exit::CONFIG)?,
        };
        let repo = crate::git::Repo::discover(&start).exit(exit::CONFIG)?;
        let dir = repo.workdir().exit(exit::CONFIG)?;
        let config = Config::load(&dir.join(crate::config::FILE_NAME)).exit(exit::CONFIG)?;
        let env = config.environment(env_name).exit(exit::CONFIG)?.clone();
        let project = config.project_name(&dir);
        let mut server = env
            .server_config(env_name, &config.app, || local_root(&project, env_name))
            .exit(exit::CONFIG)?;
        server.supervise = !config.processes.is_empty() || !config.cron.is_empty();
        Ok(Project {
            repo,
            dir,
            config,
            env_name: env_name.to_string(),
            env,
            server,
        })
    }

    /// The project and app a `<target>` argument names: `prod` (an environment with `domains`)
    /// means that environment's one app; anything else is a branch (or app name) of `-e`'s
    /// environment, the current branch when omitted.
    pub fn open_target(cli: &Cli, arg: Option<&str>) -> Result<(Project, String), Failure> {
        let mut p = Project::open(cli)?;
        if let Some(a) = arg
            && a != cli.env()
            && p.config.env.get(a).is_some_and(|e| e.is_promote_target())
        {
            p = Project::open_env(cli, a)?;
            let app = p.env.promoted_app(a);
            return Ok((p, app));
        }
        if p.env.is_promote_target() {
            let app = p.env.promoted_app(&p.env_name);
            if let Some(a) = arg
                && a != app
                && a != p.env_name
            {
                return Err(fail(exit::USAGE)(anyhow::anyhow!(
                    "{} runs one app, {app:?}, fed by `jib promote`: there is no {a:?} there",
                    p.env_name
                )));
            }
            return Ok((p, app));
        }
        let app = p.app_for(arg)?;
        Ok((p, app))
    }

    /// The app a `<branch>` argument names: a local branch's app, or an app name as it is.
    pub fn app_for(&self, arg: Option<&str>) -> Result<String, Failure> {
        let branch = match arg {
            Some(b) => b.to_string(),
            None => self.repo.current_branch().exit(exit::CONFIG)?,
        };
        if self.repo.branches().exit(exit::CONFIG)?.contains(&branch)
            || !crate::slug::is_app_name(&branch)
        {
            return crate::slug::app_name(&branch).exit(exit::CONFIG);
        }
        Ok(branch)
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.server.root)
    }

    pub async fn connect(&self) -> Result<Remote, Failure> {
        let mut r = Remote::connect(&self.env.host, self.layout().agent_bin())
            .await
            .map_err(fail(exit::CONNECTION))?;
        r.by = self.repo.identity();
        Ok(r)
    }
}

/// Local mode keeps its apps under the user's data directory.
fn local_root(project: &str, env: &str) -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let project: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    base.join("jib").join(format!("{project}-{env}"))
}

/// Sends `req` over `remote` and closes it, rendering the agent's events on `progress`; when
/// the agent asks for objects, `objects` packs what the server lacks.
pub async fn send(
    remote: Remote,
    req: &crate::protocol::Request,
    progress: &mut ui::Progress,
    objects: impl FnMut(&[String]) -> anyhow::Result<Vec<u8>>,
) -> Result<crate::protocol::Reply, Failure> {
    let reply = remote.call(req, |ev| progress.event(ev), objects).await;
    progress.clear();
    let host = remote.host.clone();
    remote.close().await;
    reply.map_err(|e| call_failure(&host, e))
}

/// Maps an agent call failure to the exit code and message it deserves.
pub fn call_failure(host: &str, e: CallError) -> Failure {
    match e {
        CallError::Remote(r) => {
            let code = if r.kind == crate::protocol::ErrorKind::Locked {
                exit::LOCKED
            } else {
                exit::REMOTE
            };
            Failure {
                code,
                error: anyhow::Error::new(ui::RemoteFailure {
                    host: host.to_string(),
                    error: r,
                }),
            }
        }
        CallError::Transport(t) => Failure {
            code: exit::CONNECTION,
            error: t,
        },
    }
}
