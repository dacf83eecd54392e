//! The project a command acts on: its git repository, deploy.toml, and the environment `-e`
//! (or a `<target>` argument) chose, with the server config the agent is sent.

use std::path::PathBuf;

use super::{Exit, Failure, Global, exit, fail};
use crate::config::{Config, Environment};
use crate::git::Repo;
use crate::layout::Layout;
use crate::protocol::ServerConfig;
use crate::transport::Remote;

/// The repository jib runs in (`-C`, else the current directory) and its work tree.
pub fn open_repo(g: &Global) -> Result<(Repo, PathBuf), Failure> {
    let start = match &g.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().exit(exit::CONFIG)?,
    };
    let repo = Repo::discover(&start).exit(exit::CONFIG)?;
    let dir = repo.workdir().exit(exit::CONFIG)?;
    Ok((repo, dir))
}

/// The project: its repository, deploy.toml and the chosen environment.
pub struct Project {
    pub repo: Repo,
    pub dir: PathBuf,
    pub config: Config,
    pub env_name: String,
    pub env: Environment,
    pub server: ServerConfig,
    /// `--host`: the one machine of the environment a command acts on.
    pub only: Option<String>,
}

impl Project {
    pub fn open(g: &Global) -> Result<Project, Failure> {
        Self::open_env(g, g.env())
    }

    /// The project, acting on environment `env_name`.
    pub fn open_env(g: &Global, env_name: &str) -> Result<Project, Failure> {
        let p = Self::open_any_host(g, env_name)?;
        p.check_host()?;
        Ok(p)
    }

    /// `--host` names a machine of the environment.
    fn check_host(&self) -> Result<(), Failure> {
        match &self.only {
            Some(h) if !self.env.machines().contains(&h.as_str()) => {
                Err(fail(exit::USAGE)(anyhow::anyhow!(
                    "--host {h}: {} runs on {}",
                    self.env_name,
                    self.env.machines().join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    fn open_any_host(g: &Global, env_name: &str) -> Result<Project, Failure> {
        let (repo, dir) = open_repo(g)?;
        let config = Config::load(&dir.join(crate::config::FILE_NAME)).exit(exit::CONFIG)?;
        let env = config.environment(env_name).exit(exit::CONFIG)?.clone();
        let project = config.project_name(&dir);
        let mut server = env
            .server_config(env_name, &config.app, || local_root(&project, env_name))
            .exit(exit::CONFIG)?;
        server.supervise = !config.processes.is_empty() || !config.cron.is_empty();
        // On several servers, what acts on one acts on the first host (`fleet` acts on all),
        // or on the one `--host` names.
        let one = g
            .host
            .as_deref()
            .filter(|h| env.machines().contains(h))
            .unwrap_or(env.node_hosts()[0]);
        let server = env.member_config(&server, one);
        Ok(Project {
            repo,
            dir,
            config,
            env_name: env_name.to_string(),
            env,
            server,
            only: g.host.clone(),
        })
    }

    /// The project and app a `<target>` argument names: `prod` (an environment with `domains`)
    /// means that environment's one app; anything else is a branch (or app name) of `-e`'s
    /// environment, the current branch when omitted.
    pub fn open_target(g: &Global, arg: Option<&str>) -> Result<(Project, String), Failure> {
        // `--host` is checked against the environment the target turns out to be in.
        let mut p = Project::open_any_host(g, g.env())?;
        if let Some(a) = arg
            && a != g.env()
            && p.config.env.get(a).is_some_and(|e| e.is_promote_target())
        {
            p = Project::open_env(g, a)?;
            let app = p.env.promoted_app(a);
            return Ok((p, app));
        }
        p.check_host()?;
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

    /// The branch an optional `<branch>` argument names: itself, else the current one.
    pub fn branch_or_current(&self, arg: Option<&str>) -> Result<String, Failure> {
        match arg {
            Some(b) => Ok(b.to_string()),
            None => self.repo.current_branch().exit(exit::CONFIG),
        }
    }

    /// The app a `<branch>` argument names: a local branch's app, or an app name as it is.
    pub fn app_for(&self, arg: Option<&str>) -> Result<String, Failure> {
        let branch = self.branch_or_current(arg)?;
        if self.repo.branches().exit(exit::CONFIG)?.contains(&branch)
            || !crate::slug::is_app_name(&branch)
        {
            return crate::slug::app_name(&branch).exit(exit::CONFIG);
        }
        Ok(branch)
    }

    /// Production: what destroy and prune refuse to touch (without `--force`, or at all).
    pub fn is_prod(&self) -> bool {
        self.env.is_promote_target() || self.env_name == "prod"
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.server.root)
    }

    /// The host's agent; on several servers, the first that can be reached (its
    /// configuration then is `server_for` it: every host's is the same but for its role).
    pub async fn connect(&self) -> Result<Remote, Failure> {
        if let Some(h) = &self.only {
            return self.connect_to(h).await;
        }
        let hosts = self.env.node_hosts();
        let mut first_error = None;
        for h in &hosts {
            match self.connect_to(h).await {
                Ok(r) => return Ok(r),
                Err(e) if hosts.len() > 1 => {
                    super::ui::debug(&format!("{h} cannot be reached: {:#}", e.error));
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_error.unwrap_or_else(|| fail(exit::CONNECTION)(anyhow::anyhow!("no host"))))
    }

    /// The agent on `machine`, one of the environment's.
    pub async fn connect_to(&self, machine: &str) -> Result<Remote, Failure> {
        let mut r = Remote::connect(machine, self.layout().agent_bin())
            .await
            .map_err(fail(exit::CONNECTION))?;
        r.by = self.repo.identity();
        Ok(r)
    }

    /// `machine`'s configuration: the environment's, with its part in a fleet.
    pub fn server_for(&self, machine: &str) -> ServerConfig {
        self.env.member_config(&self.server, machine)
    }

    /// Where the environment runs, for messages: its host, or its hosts.
    pub fn hosts_text(&self) -> String {
        self.env.node_hosts().join(", ")
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
