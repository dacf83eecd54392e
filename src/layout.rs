//! Where things live under an environment's root on the server. Every path the agent touches
//! is built here, from a root the config validated and an app name `slug` validated.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Unix socket paths are cut at 108 bytes (102 on some systems); leave room for the name:
/// an instance's (`<app>~<gen>`).
const MAX_SOCK_DIR: usize =
    102 - 1 - crate::slug::MAX_LEN - crate::emperor::GEN_MAX_LEN - ".sock".len() - 2;

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    /// Agent state: `<root>/.jib`.
    pub fn state(&self) -> PathBuf {
        self.root.join(".jib")
    }
    pub fn agent_bin(&self) -> PathBuf {
        self.state().join("bin").join("jib-agent")
    }
    pub fn server_json(&self) -> PathBuf {
        self.state().join("server.json")
    }
    pub fn template(&self) -> PathBuf {
        self.state().join("template.ini")
    }
    /// Runs an app's `[processes]` and `[cron]` (a uWSGI attached daemon of its vassal).
    pub fn supervisor(&self) -> PathBuf {
        self.state().join("jib_procs.py")
    }
    pub fn shim(&self) -> PathBuf {
        self.state().join("jib_wsgi.py")
    }
    pub fn nginx_conf(&self) -> PathBuf {
        self.state().join("nginx.conf")
    }
    pub fn repo(&self) -> PathBuf {
        self.state().join("repo.git")
    }
    pub fn venvs(&self) -> PathBuf {
        self.state().join("venvs")
    }
    pub fn cache(&self) -> PathBuf {
        self.state().join("cache")
    }
    /// HOME and working directory of the processes the agent runs as the apps' user (never
    /// root's home: a 0700 /root makes uv fail, and nothing of root's may be inherited).
    pub fn app_home(&self) -> PathBuf {
        self.state().join("home")
    }
    pub fn locks(&self) -> PathBuf {
        self.state().join("locks")
    }
    /// An app's deploy lock. A directory of their own: a branch named `repo` or `venv-<hash>`
    /// must not take the repository's or a venv's lock.
    pub fn app_locks(&self) -> PathBuf {
        self.locks().join("apps")
    }
    pub fn app_lock(&self, app: &str) -> PathBuf {
        self.app_locks().join(format!("{app}.lock"))
    }
    pub fn repo_lock(&self) -> PathBuf {
        self.locks().join("repo.lock")
    }
    pub fn venv_lock(&self, key: &str) -> PathBuf {
        self.locks().join(format!("venv-{key}.lock"))
    }
    pub fn logs(&self) -> PathBuf {
        self.state().join("log")
    }
    /// Who did what, when: JSON lines (see `audit`).
    pub fn audit_log(&self) -> PathBuf {
        self.state().join("audit.log")
    }
    /// The users (besides root) allowed to deploy to this root through its control socket,
    /// one name a line; root's file, written by `jib setup`.
    pub fn users_file(&self) -> PathBuf {
        self.state().join("users")
    }
    /// Written by the Emperor (root): where a rescan signal goes.
    pub fn emperor_pidfile(&self) -> PathBuf {
        self.state().join("emperor.pid")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.state().join("agent.pid")
    }
    /// Sockets nginx reaches (the router's): `<root>/.jib/s` when paths fit in a sockaddr, else
    /// a short per-root directory.
    pub fn sockets(&self) -> PathBuf {
        self.socket_dir("s")
    }
    /// Sockets of the apps and the subscription server: owned by the user apps run as, who
    /// creates them (uWSGI binds after dropping privileges).
    pub fn app_sockets(&self) -> PathBuf {
        self.socket_dir("v")
    }
    fn socket_dir(&self, kind: &str) -> PathBuf {
        let natural = self.state().join(kind);
        if natural.as_os_str().len() <= MAX_SOCK_DIR {
            return natural;
        }
        let digest = Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        PathBuf::from(format!(
            "/tmp/jib-{}-{}-{kind}",
            nix::unistd::getuid(),
            &hex::encode(digest)[..12]
        ))
    }
    /// An app instance's socket (its vassal binds it as the apps' user).
    pub fn app_socket(&self, instance: &str) -> PathBuf {
        self.app_sockets().join(format!("{instance}.sock"))
    }
    pub fn router_socket(&self) -> PathBuf {
        self.sockets().join("router.sock")
    }
    /// The router's subscription server: in a directory root owns (setgid to the apps'
    /// group), never in one the apps' user can write, where root would bind and chmod it.
    pub fn subscriptions(&self) -> PathBuf {
        self.socket_dir("u")
    }
    pub fn subscription_socket(&self) -> PathBuf {
        self.subscriptions().join("sub.sock")
    }
    pub fn notfound_socket(&self) -> PathBuf {
        self.sockets().join("notfound.sock")
    }
    /// The same 404 server, for the router (which is not in nginx's group).
    pub fn notfound_router_socket(&self) -> PathBuf {
        self.subscriptions().join("notfound.sock")
    }
    /// Names of the directories under the root that can be apps, sorted.
    pub fn app_names(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| crate::slug::is_app_name(n))
            .collect();
        out.sort();
        out
    }

    pub fn app(&self, app: &str) -> AppLayout {
        AppLayout {
            dir: self.root.join(app),
            name: app.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppLayout {
    pub dir: PathBuf,
    pub name: String,
}

impl AppLayout {
    /// The vassal config, a symlink to the shared template.
    pub fn ini(&self) -> PathBuf {
        self.dir.join(format!("{}.ini", self.name))
    }
    pub fn releases(&self) -> PathBuf {
        self.dir.join("releases")
    }
    pub fn release(&self, id: &str) -> PathBuf {
        self.releases().join(id)
    }
    pub fn current(&self) -> PathBuf {
        self.dir.join("current")
    }
    /// Where the app's master keeps its FIFO (a directory the app's user owns).
    pub fn fifo(&self) -> PathBuf {
        self.dir.join("run").join("master.fifo")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log").join("uwsgi.log")
    }
    pub fn deploy_log(&self) -> PathBuf {
        self.dir.join("log").join("deploy.log")
    }
    /// The directories the app's own processes write to; everything else under the app's
    /// directory belongs to the agent.
    pub fn writable_dirs(&self) -> [PathBuf; 4] {
        [
            self.dir.join("log"),
            self.dir.join("workers"),
            self.dir.join("run"),
            self.shared(),
        ]
    }
    /// Files kept across releases (uploads, sqlite): the app's to write.
    pub fn shared(&self) -> PathBuf {
        self.dir.join("shared")
    }
    pub fn app_log(&self, name: &str) -> PathBuf {
        self.dir.join("log").join(name)
    }
    pub fn workers(&self) -> PathBuf {
        self.dir.join("workers")
    }
    pub fn env_file(&self) -> PathBuf {
        self.dir.join("env.json")
    }
    /// An instance's vassal config, a link to the template: `<app>~<gen>.ini` for the
    /// blue/green instances of an awake app, `<app>.ini` (`ini`) for an app that scales to zero.
    pub fn instance_ini(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.ini"))
    }
    /// While it exists, the instance does not announce itself to the router (`subscribe2 …
    /// check=`). In the app's directory, which is root's: the app cannot lift it.
    pub fn instance_hold(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.hold"))
    }
    /// The release an instance runs, written by the agent before it starts it (the WSGI shim
    /// reads it): an instance never changes release, whatever `current` does meanwhile.
    pub fn instance_release(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.release"))
    }
    /// An instance master's FIFO (in run/, which the app's user owns).
    pub fn instance_fifo(&self, instance: &str) -> PathBuf {
        self.dir.join("run").join(format!("{instance}.fifo"))
    }
    /// Left by the WSGI shim when the instance could not load the app (app-written).
    pub fn instance_failed(&self, instance: &str) -> PathBuf {
        self.dir.join("run").join(format!("{instance}.failed"))
    }
}

/// The release a `current` link points at, as its directory name.
pub fn link_target_name(link: &Path) -> Option<String> {
    std::fs::read_link(link)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_fit_in_a_sockaddr() {
        for root in [
            "/opt/apps",
            &format!("/home/{}/.local/share/jib/project", "u".repeat(40)),
        ] {
            let l = Layout::new(root);
            let longest = l
                .sockets()
                .join(format!("{}~123456789.sock", "a".repeat(63)));
            assert!(longest.as_os_str().len() <= 102, "{}", longest.display());
        }
        assert_eq!(
            Layout::new("/opt/apps").sockets(),
            PathBuf::from("/opt/apps/.jib/s")
        );
    }
}
