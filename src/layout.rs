//! Where things live under an environment's root on the server. Every path the agent touches
//! is built here, from a root the config validated and an app name `slug` validated — and
//! taken apart here too, where the agent reads a name back from a path.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Unix socket paths are cut at 108 bytes (102 on some systems); leave room for the name:
/// an instance's (`<app>~<gen>`).
const MAX_SOCK_DIR: usize =
    102 - 1 - crate::slug::MAX_LEN - crate::emperor::GEN_MAX_LEN - ".sock".len();

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
    /// The root whose agent binary `exe` is (the inverse of [`Layout::agent_bin`]).
    pub fn of_agent_bin(exe: &Path) -> Option<Layout> {
        let bin = exe.parent()?;
        let state = bin.parent()?;
        (bin.file_name()? == "bin" && state.file_name()? == ".jib")
            .then(|| state.parent().map(Layout::new))
            .flatten()
    }
    pub fn server_json(&self) -> PathBuf {
        self.state().join("server.json")
    }
    pub fn template(&self) -> PathBuf {
        self.state().join("template.ini")
    }
    /// A machine of a fleet: its peers' private addresses (see `fleet::Peers`).
    pub fn fleet_json(&self) -> PathBuf {
        self.state().join("fleet.json")
    }
    /// A fleet's keys (0755: the public keys are the router's to read).
    pub fn fleet_dir(&self) -> PathBuf {
        self.state().join("fleet")
    }
    /// A node's copy of the environment's subscription key: root's, readable by the apps'
    /// group (uWSGI signs as the app's user).
    pub fn fleet_key(&self) -> PathBuf {
        self.fleet_dir().join("node.pem")
    }
    /// A router's copy of the public half of the environment's subscription key.
    pub fn fleet_public_key(&self) -> PathBuf {
        self.fleet_dir().join("env.pub.pem")
    }
    /// Held by serve while it announces a fleet node's instances, and by a switch while it
    /// withdraws one: an announce read before the withdrawal never lands after it.
    pub fn announce_lock(&self) -> PathBuf {
        self.locks().join("announce.lock")
    }
    /// A router's own key, for its 404 server's subscription (root only).
    pub fn router_key(&self) -> PathBuf {
        self.fleet_dir().join("router.pem")
    }
    /// A router's public keys, `<subscription key>.pem` each (`subscriptions-sign-check`).
    pub fn sign_check_dir(&self) -> PathBuf {
        self.fleet_dir().join("keys")
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
    /// The venv with this key (see `venv::hash`).
    pub fn venv(&self, key: &str) -> PathBuf {
        self.venvs().join(key)
    }
    /// The install list a venv is being built from: the agent's, beside the venv.
    pub fn venv_requirements(&self, key: &str) -> PathBuf {
        self.venvs().join(format!("{key}.requirements.txt"))
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
    /// Every app lock file there is, with the app it is for (held or not).
    pub fn app_lock_files(&self) -> Vec<(String, PathBuf)> {
        std::fs::read_dir(self.app_locks())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let app = name.strip_suffix(".lock")?.to_string();
                Some((app, e.path()))
            })
            .collect()
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
    /// Where serve writes when no systemd journal takes its output.
    pub fn agent_log(&self) -> PathBuf {
        self.logs().join("agent.log")
    }
    /// The output of a process serve supervises (`emperor`, `router`).
    pub fn supervised_log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
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
    /// What the running serve wrote about itself (pid, version, configuration).
    pub fn serve_info(&self) -> PathBuf {
        self.state().join("serve.json")
    }
    /// Certificates from an ACME server (`acme`): root's alone (0700), every file 0600.
    pub fn acme_dir(&self) -> PathBuf {
        self.state().join("acme")
    }
    /// The ACME account: its key and URL, per directory URL.
    pub fn acme_account(&self) -> PathBuf {
        self.acme_dir().join("account.json")
    }
    /// The certificate chain and its key in one file: nginx reads both from it, so a renewal
    /// replaces them together with one rename.
    pub fn acme_cert(&self) -> PathBuf {
        self.acme_dir().join("cert.pem")
    }
    /// The last attempt to obtain or renew: when, how it went, when it is retried.
    pub fn acme_status(&self) -> PathBuf {
        self.acme_dir().join("status.json")
    }
    /// Left by `jib setup` for serve: retry now, whatever the backoff says.
    pub fn acme_retry(&self) -> PathBuf {
        self.acme_dir().join("retry-now")
    }
    /// A branch environment without `dns`: one certificate per branch host, `<host>.pem`
    /// (chain and key), which nginx picks by the TLS server name at each handshake.
    pub fn acme_branch_certs(&self) -> PathBuf {
        self.acme_dir().join("certs")
    }
    pub fn acme_branch_cert(&self, host: &str) -> PathBuf {
        self.acme_branch_certs().join(format!("{host}.pem"))
    }
    /// serve's record of the branch certificate (next to it; nginx only opens `*.pem`).
    pub fn acme_branch_status(&self, host: &str) -> PathBuf {
        self.acme_branch_certs().join(format!("{host}.status.json"))
    }
    /// HTTP-01 answers (`<token>` → key authorization), served by serve's 404 server.
    pub fn acme_challenges(&self) -> PathBuf {
        self.acme_dir().join("challenges")
    }
    /// The control socket unprivileged ssh users reach the root agent through.
    pub fn control_socket(&self) -> PathBuf {
        self.state().join("agent.sock")
    }
    /// Exec requests stashed for a terminal exec to pick up: root's only.
    pub fn stashed_requests(&self) -> PathBuf {
        self.state().join("requests")
    }
    pub fn stashed_request(&self, token: &str) -> PathBuf {
        self.stashed_requests().join(token)
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
            &hex::encode(digest)[..8]
        ))
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
    /// The branch index (serve's): only nginx's group reaches it, never the apps' user.
    pub fn index_socket(&self) -> PathBuf {
        self.sockets().join("index.sock")
    }
    /// The same 404 server, for the router (which is not in nginx's group).
    pub fn notfound_router_socket(&self) -> PathBuf {
        self.subscriptions().join("notfound.sock")
    }
    /// An app instance's own socket (`%n.sock` in the vassal template), bound by its vassal
    /// as the apps' user.
    pub fn app_socket(&self, instance: &str) -> PathBuf {
        self.app_sockets().join(format!("{instance}.sock"))
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

    /// The root a release's files (`<root>/<app>/releases/<id>/src`, see
    /// [`AppLayout::release_src`]) belong to.
    pub fn of_release_src(src: &Path) -> Option<Layout> {
        src.ancestors().nth(4).map(Layout::new)
    }
}

/// The server repository's refs, one per app: what it holds for the CLI's pack negotiation.
pub const APP_REFS: &str = "refs/jib/*";

/// The ref that keeps an app's deployed commit in the server's repository.
pub fn app_ref(app: &str) -> String {
    format!("refs/jib/{app}")
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
    /// A release's exported code (its working directory).
    pub fn release_src(&self, id: &str) -> PathBuf {
        Self::src_of(&self.release(id))
    }
    /// The exported code in a release directory.
    pub fn src_of(release_dir: &Path) -> PathBuf {
        release_dir.join("src")
    }
    pub fn current(&self) -> PathBuf {
        self.dir.join("current")
    }
    /// What `current` points at for release `id`: relative, so the app directory can move.
    pub fn current_target(id: &str) -> PathBuf {
        Path::new("releases").join(id)
    }
    /// The app's run state: its master's FIFO, its supervisor's records (the app's user's).
    fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    /// Where the app's master keeps its FIFO (a directory the app's user owns).
    pub fn fifo(&self) -> PathBuf {
        self.run_dir().join("master.fifo")
    }
    /// What the supervisor of `[processes]` last recorded of them (written by the app's user).
    pub fn procs_json(&self) -> PathBuf {
        self.run_dir().join("procs.json")
    }
    /// Touched to have the supervisor restart `[processes]`.
    pub fn procs_restart(&self) -> PathBuf {
        self.run_dir().join("restart")
    }
    fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }
    /// What the vassal writes (`logto2` in the template).
    pub fn log(&self) -> PathBuf {
        self.log_dir().join("uwsgi.log")
    }
    pub fn deploy_log(&self) -> PathBuf {
        self.log_dir().join("deploy.log")
    }
    /// The output of venv builds.
    pub fn venv_log(&self) -> PathBuf {
        self.log_dir().join("venv.log")
    }
    /// The output of the last import check.
    pub fn import_check_log(&self) -> PathBuf {
        self.log_dir().join("import-check.log")
    }
    /// The output of `[app] release` steps.
    pub fn release_log(&self) -> PathBuf {
        self.log_dir().join("release.log")
    }
    /// The output of `[cron]` entries (written by the supervisor).
    pub fn cron_log(&self) -> PathBuf {
        self.log_dir().join("cron.log")
    }
    /// The output of the `[processes]` entry `name` (written by the supervisor).
    pub fn process_log(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("proc-{name}.log"))
    }
    /// The directories the app's own processes write to; everything else under the app's
    /// directory belongs to the agent.
    pub fn writable_dirs(&self) -> [PathBuf; 4] {
        [
            self.log_dir(),
            self.workers(),
            self.run_dir(),
            self.shared(),
        ]
    }
    /// Files kept across releases (uploads, sqlite): the app's to write.
    pub fn shared(&self) -> PathBuf {
        self.dir.join("shared")
    }
    /// One file per live worker, named by its pid, holding the release it loaded.
    pub fn workers(&self) -> PathBuf {
        self.dir.join("workers")
    }
    pub fn worker(&self, pid: i32) -> PathBuf {
        self.workers().join(pid.to_string())
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
    /// A fleet node's instance: the private address and port it listens on (the agent's
    /// pick, read by the vassal's config), one line.
    pub fn instance_addr(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.addr"))
    }
    /// The generation of the app's newest instance (base 36): names are never reused.
    pub fn instance_counter(&self) -> PathBuf {
        self.dir.join("instances")
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
            let longest = l.sockets().join(format!("{}~12345.sock", "a".repeat(63)));
            assert!(longest.as_os_str().len() <= 102, "{}", longest.display());
        }
        assert_eq!(
            Layout::new("/opt/apps").sockets(),
            PathBuf::from("/opt/apps/.jib/s")
        );
    }

    #[test]
    fn paths_taken_apart_give_back_their_root() {
        let l = Layout::new("/opt/apps");
        let root = |l: Option<Layout>| l.map(|l| l.root);
        assert_eq!(
            root(Layout::of_agent_bin(&l.agent_bin())),
            Some(l.root.clone())
        );
        assert_eq!(
            root(Layout::of_agent_bin(Path::new("/usr/bin/jib-agent"))),
            None
        );
        let src = l.app("main").release_src("20250101T000000Z-0123456789ab");
        assert_eq!(root(Layout::of_release_src(&src)), Some(l.root.clone()));
        assert_eq!(app_ref("main"), "refs/jib/main");
    }
}
