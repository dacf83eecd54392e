//! Several "hosts" on this one machine, as Linux namespaces (needs root, `ip`, `nsenter`,
//! `unshare`):
//!
//! ```text
//! Fleet::new(dir, &["lb1", "app1", "app2"]) -> Fleet
//! fleet.ssh_config() -> &Path              JIB_SSH_CONFIG: a `Host <name>` alias per member
//! fleet.ip(name) -> String                 e.g. "10.213.7.11"
//! fleet.prefix_cidr() -> String            e.g. "10.213.7.0/24"
//! fleet.names() -> Vec<String>             members, in the order they were added
//! fleet.run_in(name, argv) -> Output       argv inside the member (net + mount + uts namespaces)
//! fleet.spawn_in(name, argv) -> u32        the same, in the background (stdio to /dev/null); its pid
//! fleet.ssh(name, script) -> Output        system `ssh -F <ssh_config> <name> <script>`
//! fleet.link_down(name) / link_up(name)    pull / plug the member's cable (its bridge port)
//! fleet.add(name)                          one more member, same setup
//! fleet.start_nginx(name) -> FleetNginx    nginx inside the member on <ip>:8080 (8081, ... for more)
//! fleet.bridge() / fleet.namespaces()      what Drop removes (for checks)
//! ```
//!
//! Layout: a bridge `jb<tag>` in the root namespace holds <prefix>.1; member i is network
//! namespace `jb<tag>-<name>` with `eth0` = <prefix>.(10+i), its cable a veth `jv<tag>x<i>` on
//! the bridge. Each member also has its own mount namespace, in which /opt/apps is a bind mount
//! of `<dir>/<name>/apps` (everything else is the shared filesystem, except /etc/hosts, which
//! names every member, and /etc/resolv.conf, whose lookups fail at once: nothing leaves the
//! bridge, no DNS, no internet), and its own UTS namespace (`hostname` answers its name).
//! A real sshd (port 22, ed25519 host key in
//! `<dir>/<name>/ssh/`) runs inside those namespaces, so everything started over ssh (the
//! agent, uWSGI, nginx) is "on" that member. One user key for the whole fleet, in
//! `<dir>/fleet-ssh/` with the ssh_config and a known_hosts listing every member's host key
//! under its IP (host keys are always checked).
//!
//! Drop kills every process in every member (even ones that daemonized), then deletes the
//! veths, namespaces and bridge; a fleet whose test process was killed before its Drop ran
//! is swept by the next `Fleet::new` (owners are recorded in /run/jib-fleet/).

use super::{Nginx, keygen, known_hosts_line, run, ssh_config_block, sshd_config, wait_addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where fleets record their owner (pid and start time) and namespaces, and their lock.
const STATE_DIR: &str = "/run/jib-fleet";

/// Fleets made by this process, for unique names and subnets.
static FLEETS: AtomicUsize = AtomicUsize::new(0);

pub struct Fleet {
    dir: PathBuf,
    /// `<dir>/fleet-ssh`: user_key, authorized_keys, known_hosts, ssh_config.
    keys: PathBuf,
    config: PathBuf,
    tag: String,
    /// Third octet of 10.213.<k>.0/24.
    k: u8,
    members: Vec<Member>,
    /// Created or being created: what Drop removes, even if a member's setup failed midway.
    namespaces: Vec<String>,
    veths: Vec<String>,
    nginxes: Vec<(String, Nginx)>,
    /// Processes started by `spawn_in`, reaped on drop.
    spawned: Vec<Child>,
}

struct Member {
    name: String,
    veth: String,
    ip: String,
    sshd: Child,
}

/// An nginx inside a member: what deploy.toml's nginx section needs.
pub struct FleetNginx {
    pub ip: String,
    pub port: u16,
    /// `<ip>:<port>`.
    pub listen: String,
    pub dir: PathBuf,
    pub sites: PathBuf,
    /// Run by the agent inside the member (hence plain `nginx -p … -s reload`).
    pub reload: Vec<String>,
}

impl Fleet {
    pub fn new(dir: &Path, names: &[&str]) -> Fleet {
        // nginx workers (www-data) must traverse to their config and to sockets.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dir.display()));
        std::fs::create_dir_all("/opt/apps").expect("cannot create /opt/apps (the mount point)");
        std::fs::create_dir_all("/run/sshd").expect("cannot create /run/sshd (sshd's privsep dir)");
        let keys = dir.join("fleet-ssh");
        std::fs::create_dir_all(&keys).expect("cannot create the fleet's ssh dir");
        keygen(&keys.join("user_key"), "fleet user");
        std::fs::copy(keys.join("user_key.pub"), keys.join("authorized_keys"))
            .expect("cannot write authorized_keys");

        let (tag, k) = claim();
        let bridge = format!("jb{tag}");
        let mut fleet = Fleet {
            dir: dir.to_path_buf(),
            config: keys.join("ssh_config"),
            keys,
            tag,
            k,
            members: Vec::new(),
            namespaces: Vec::new(),
            veths: Vec::new(),
            nginxes: Vec::new(),
            spawned: Vec::new(),
        };
        // From here on Drop cleans up, also when a step below panics.
        ip(&format!("link add {bridge} type bridge"));
        ip(&format!("addr add 10.213.{k}.1/24 dev {bridge}"));
        ip(&format!("link set {bridge} up"));
        for name in names {
            fleet.add(name);
        }
        fleet
    }

    pub fn ssh_config(&self) -> &Path {
        &self.config
    }

    pub fn ip(&self, name: &str) -> String {
        self.member(name).ip.clone()
    }

    pub fn prefix_cidr(&self) -> String {
        format!("10.213.{}.0/24", self.k)
    }

    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    pub fn bridge(&self) -> String {
        format!("jb{}", self.tag)
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces.clone()
    }

    /// The command prefix that puts a process inside `name`. The working directory becomes
    /// `/`: entering a mount namespace resets it.
    fn enter(&self, name: &str) -> Vec<String> {
        let pid = self.member(name).sshd.id().to_string();
        ["nsenter", "-t", &pid, "-n", "-m", "-u", "--"]
            .map(String::from)
            .to_vec()
    }

    fn command_in(&self, name: &str, argv: &[&str]) -> Command {
        let prefix = self.enter(name);
        let mut c = Command::new(&prefix[0]);
        c.args(&prefix[1..]).args(argv);
        c
    }

    /// Runs `argv` inside `name`'s namespaces and returns what it did (whatever its status).
    pub fn run_in(&self, name: &str, argv: &[&str]) -> Output {
        let mut c = self.command_in(name, argv);
        c.output()
            .unwrap_or_else(|e| panic!("cannot run {c:?} in {name}: {e}"))
    }

    /// Starts `argv` inside `name` in the background; Drop kills it. Returns its pid.
    pub fn spawn_in(&mut self, name: &str, argv: &[&str]) -> u32 {
        let mut c = self.command_in(name, argv);
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {c:?} in {name}: {e}"));
        let pid = child.id();
        self.spawned.push(child);
        pid
    }

    /// `ssh -F <ssh_config> <name> <script>` (BatchMode: never a prompt).
    pub fn ssh(&self, name: &str, script: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", name, script])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ssh to {name}: {e}"))
    }

    /// The member's bridge port down: nothing in or out, connections hang as with a pulled
    /// cable (no reset), and the member still has its address.
    pub fn link_down(&self, name: &str) {
        ip(&format!("link set {} down", self.member(name).veth));
    }

    pub fn link_up(&self, name: &str) {
        ip(&format!("link set {} up", self.member(name).veth));
    }

    /// One more member, set up as those given to `new`; the ssh_config and known_hosts are
    /// rewritten to include it.
    pub fn add(&mut self, name: &str) {
        assert!(
            self.members.iter().all(|m| m.name != name),
            "fleet member {name} already exists"
        );
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "fleet member names are letters, digits and '-' (a hostname): {name:?}"
        );
        let i = self.members.len();
        assert!(i < 240, "a fleet holds at most 240 members");
        let (k, bridge) = (self.k, self.bridge());
        let ns = format!("jb{}-{name}", self.tag);
        let veth = format!("jv{}x{i}", self.tag);
        let addr = format!("10.213.{k}.{}", 10 + i);
        let home = self.dir.join(name);
        let (apps, sshdir, etc) = (home.join("apps"), home.join("ssh"), home.join("etc"));
        for d in [&apps, &sshdir, &etc] {
            std::fs::create_dir_all(d)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        keygen(&sshdir.join("host_key"), name);
        let cfg = sshdir.join("sshd_config");
        std::fs::write(
            &cfg,
            sshd_config(&sshdir, &addr, 22, &self.keys.join("authorized_keys")),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", cfg.display()));
        // No nameserver is reachable from a member (nothing is forwarded out of the bridge):
        // lookups must fail at once on its own loopback rather than time out (Python's
        // http.server looks up its address, sudo its hostname). Members find each other by
        // name through their own /etc/hosts, written below.
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n")
            .expect("cannot write a member's resolv.conf");
        std::fs::write(etc.join("hosts"), "").expect("cannot write a member's hosts");

        // Recorded before it exists, so that Drop (or a sweep after a crash) removes it too.
        record(&bridge, &ns);
        self.namespaces.push(ns.clone());
        self.veths.push(veth.clone());
        ip(&format!("netns add {ns}"));
        ip(&format!(
            "link add {veth} type veth peer name eth0 netns {ns}"
        ));
        ip(&format!("link set {veth} master {bridge} up"));
        ip(&format!("-n {ns} addr add {addr}/24 dev eth0"));
        ip(&format!("-n {ns} link set eth0 up"));
        ip(&format!("-n {ns} link set lo up"));
        ip(&format!("-n {ns} route add default via 10.213.{k}.1"));

        // unshare and sh exec, so the child's pid is sshd's: `nsenter -t` it to get inside.
        // Propagation slave, not private: the copy of /run/netns inside must still see other
        // fleets' `ip netns del` (a private copy would pin their namespaces alive).
        let log_path = sshdir.join("sshd.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let sshd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args("-- unshare --mount --uts --propagation slave -- sh -c".split(' '))
            .arg(
                r#"mount --bind "$1" /opt/apps && mount --bind "$2/hosts" /etc/hosts &&
                   mount --bind "$2/resolv.conf" /etc/resolv.conf && hostname "$3" &&
                   exec /usr/sbin/sshd -D -e -f "$4""#,
            )
            .arg("sh")
            .arg(&apps)
            .arg(&etc)
            .arg(name)
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start sshd in a namespace (nsenter, unshare, openssh-server)");
        self.members.push(Member {
            name: name.to_string(),
            veth,
            ip: addr.clone(),
            sshd,
        });
        self.write_host_files();
        wait_addr(
            &addr,
            22,
            &format!("sshd of fleet member {name} (log: {})", log_path.display()),
        );
    }

    /// known_hosts and ssh_config for every member, each replaced whole (rename) so that an
    /// ssh reading them meanwhile sees the old or the new file; and every member's /etc/hosts,
    /// rewritten in place since a bind mount holds on to the file, not its name.
    fn write_host_files(&self) {
        let mut known = String::new();
        let mut config = String::new();
        let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for m in &self.members {
            let host_pub = self.dir.join(&m.name).join("ssh/host_key.pub");
            known.push_str(&known_hosts_line(&host_pub, &m.ip, 22));
            config.push_str(&ssh_config_block(&m.name, &m.ip, 22, "root", &self.keys));
            hosts.push_str(&format!("{} {}\n", m.ip, m.name));
        }
        for m in &self.members {
            let path = self.dir.join(&m.name).join("etc/hosts");
            std::fs::write(&path, &hosts)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        for (file, text) in [("known_hosts", known), ("ssh_config", config)] {
            let (tmp, path) = (self.keys.join(format!("{file}.new")), self.keys.join(file));
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }

    /// nginx inside `name` on its address, port 8080 (8081, … for a member's further ones),
    /// with its files in `<dir>/<name>/nginx` (`nginx-<port>` for further ones).
    pub fn start_nginx(&mut self, name: &str) -> FleetNginx {
        let taken = self.nginxes.iter().filter(|(n, _)| n == name).count();
        let port = 8080 + taken as u16;
        let sub = match taken {
            0 => "nginx".to_string(),
            _ => format!("nginx-{port}"),
        };
        let dir = self.dir.join(name).join(sub);
        let nginx = Nginx::start_at(&dir, &self.ip(name), port, &self.enter(name));
        let info = FleetNginx {
            ip: nginx.ip.clone(),
            port,
            listen: format!("{}:{port}", nginx.ip),
            dir: nginx.dir.clone(),
            sites: nginx.dir.join("sites"),
            reload: nginx.reload_command(),
        };
        self.nginxes.push((name.to_string(), nginx));
        info
    }

    fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no fleet member {name} (members: {:?})", self.names()))
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        kill_all_in(&self.namespaces);
        for m in &mut self.members {
            let _ = m.sshd.wait();
        }
        for c in &mut self.spawned {
            let _ = c.wait();
        }
        // Each Nginx's own drop signals its (already dead) master and reaps it.
        self.nginxes.clear();
        remove(&self.bridge(), &self.namespaces, &self.veths);
        let _ = std::fs::remove_file(Path::new(STATE_DIR).join(self.bridge()));
    }
}

/// `ip <args>` (split at spaces), panicking with its error.
fn ip(args: &str) {
    run(Command::new("ip").args(args.split(' ')));
}

/// SIGKILL to every process in these network namespaces until none is left: ones that
/// forked meanwhile are caught by the next round.
fn kill_all_in(namespaces: &[String]) {
    let start = Instant::now();
    loop {
        let mut pids = Vec::new();
        for ns in namespaces {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                pids.extend(
                    String::from_utf8_lossy(&out.stdout)
                        .split_whitespace()
                        .map(String::from),
                );
            }
        }
        if pids.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(10) {
            eprintln!("fleet: processes still in {namespaces:?} after 10 s: {pids:?}");
            return;
        }
        // Some may have exited since they were listed.
        let _ = Command::new("kill")
            .arg("-9")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Deletes veths, namespaces and the bridge, reporting (not panicking on) what fails: this
/// runs in Drop, maybe while a test is already panicking.
fn remove(bridge: &str, namespaces: &[String], veths: &[String]) {
    let exists = |dev: &str| Path::new("/sys/class/net").join(dev).exists();
    let mut steps: Vec<Vec<&str>> = Vec::new();
    for v in veths.iter().filter(|v| exists(v)) {
        steps.push(vec!["link", "del", v]);
    }
    for ns in namespaces
        .iter()
        .filter(|ns| Path::new("/run/netns").join(ns).exists())
    {
        steps.push(vec!["netns", "del", ns]);
    }
    if exists(bridge) {
        steps.push(vec!["link", "del", bridge]);
    }
    for args in steps {
        match Command::new("ip").args(&args).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "fleet: ip {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("fleet: cannot run ip {args:?}: {e}"),
        }
    }
}

/// A process's identity that survives pid reuse: its pid and start time.
fn owner(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces) end with ")"; start time is 22nd.
    let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Picks this fleet's tag (bridge `jb<tag>`) and subnet 10.213.<k>.0/24 under a lock shared by
/// all test processes, first sweeping fleets whose process died before their Drop ran; the
/// state file written here claims both until Drop.
fn claim() -> (String, u8) {
    std::fs::create_dir_all(STATE_DIR).expect("cannot create /run/jib-fleet");
    let lock = std::fs::File::create(Path::new(STATE_DIR).join("lock"))
        .expect("cannot open /run/jib-fleet/lock");
    lock.lock().expect("cannot lock /run/jib-fleet/lock");
    sweep();
    let pid = std::process::id();
    let n = FLEETS.fetch_add(1, Ordering::SeqCst);
    // pid % 10000 and the counter keep names short (interfaces: 15 characters at most); the
    // rare collision with another live process moves on to the next counter value.
    let tag = (n..)
        .map(|n| format!("{}{n}", pid % 10000))
        .find(|t| {
            let b = format!("jb{t}");
            !Path::new("/sys/class/net").join(&b).exists()
                && !Path::new(STATE_DIR).join(&b).exists()
        })
        .expect("a free fleet tag");
    let out = run(Command::new("ip").args(["-4", "-o", "addr", "show"]));
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = (pid as usize * 7 + n * 13) % 254;
    let k = (0..254)
        .map(|j| ((first + j) % 254 + 1) as u8)
        .find(|k| !used.contains(&format!(" 10.213.{k}.")))
        .expect("no free /24 in 10.213.0.0/16 (stale fleets? see `ip -4 addr`)");
    let bridge = format!("jb{tag}");
    let me = owner(pid).expect("own /proc/<pid>/stat");
    std::fs::write(Path::new(STATE_DIR).join(&bridge), format!("{me}\n"))
        .expect("cannot write the fleet's state file");
    (tag, k)
}

/// Appends a namespace to the fleet's state file (for `sweep`).
fn record(bridge: &str, ns: &str) {
    use std::io::Write;
    let path = Path::new(STATE_DIR).join(bridge);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{ns}"))
        .unwrap_or_else(|e| panic!("cannot record {ns} in {}: {e}", path.display()));
}

/// Removes fleets whose owner is gone (a test process killed by a timeout never runs Drop).
fn sweep() {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else {
        return;
    };
    for e in entries.flatten() {
        let bridge = e.file_name().to_string_lossy().into_owned();
        if bridge == "lock" {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut lines = text.lines();
        let who = lines.next().unwrap_or_default();
        let alive = who
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .and_then(owner)
            .is_some_and(|now| now == who);
        if alive {
            continue;
        }
        let namespaces: Vec<String> = lines.map(String::from).collect();
        kill_all_in(&namespaces);
        // The veths go with their namespaces.
        remove(&bridge, &namespaces, &[]);
        let _ = std::fs::remove_file(e.path());
    }
}

// ---- A project whose prod runs on a fleet (tests/fleet.rs, benches) ----

use super::{Load, Mode, World, git, http_get_at};

pub const NAME: &str = "www.fleet.test";

/// The app: it says its version, branch and host. `/health` answers 500 through the router
/// (not to the agent's own probe) on the host named by `SICK_ON`; importing it fails on the
/// host named by `BREAK_ON`.
pub fn app_py(greeting: &str) -> String {
    format!(
        "import os, socket\n\
         HOST = socket.gethostname()\n\
         if os.environ.get('BREAK_ON') == HOST:\n    raise RuntimeError('broken on ' + HOST)\n\n\
         def app(environ, start_response):\n    \
         sick = environ.get('PATH_INFO') == '/health' and os.environ.get('SICK_ON') == HOST and environ.get('REMOTE_ADDR') != '127.0.0.1'\n    \
         body = ('{greeting} from %s on %s\\n' % (os.environ.get('JIB_BRANCH', '?'), HOST)).encode()\n    \
         start_response('500 Sick' if sick else '200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
         return [body]\n"
    )
}

/// dev on the loopback sshd (where branches are pushed), prod on `hosts` behind `lb1`.
pub struct FleetWorld {
    pub w: World,
    pub fleet: Fleet,
    pub lb: FleetNginx,
}

impl FleetWorld {
    pub fn new(hosts: &[&str], extra_members: &[&str]) -> FleetWorld {
        // A host whose cable is pulled is called unreachable after this long, not 15 s.
        // SAFETY: set before any thread of this test starts, the same value by every test.
        unsafe { std::env::set_var("JIB_CONNECT_TIMEOUT", "4") };
        let w = World::new(Mode::Ssh);
        let mut names = vec!["lb1"];
        names.extend(hosts);
        names.extend(extra_members);
        let dir = w.tmp.path().join("fleet");
        std::fs::create_dir_all(&dir).unwrap();
        let mut fleet = Fleet::new(&dir, &names);
        let lb = fleet.start_nginx("lb1");
        // One ssh_config with every machine, as a user would have.
        let main = &w.sshd.as_ref().expect("ssh world").config;
        let mut all = std::fs::read_to_string(main).unwrap();
        all.push_str(&std::fs::read_to_string(fleet.ssh_config()).unwrap());
        std::fs::write(main, all).unwrap();

        w.write(
            "deploy.toml",
            &w.deploy_toml(
                "wsgi = \"hello:app\"\nrequirements = \"requirements.txt\"\nhealth_path = \"/health\"\nhealth_timeout = 8\n",
            ),
        );
        w.write("requirements.txt", "");
        w.write("hello.py", &app_py("v1"));
        git(&w.repo, &["config", "user.email", "tester@example.com"]);
        w.commit("v1");
        let fw = FleetWorld { w, fleet, lb };
        fw.set_prod(hosts, "");
        fw.w.commit("prod");
        fw
    }

    /// dev and prod set up, main pushed to dev and promoted to prod.
    pub fn up(&self) {
        self.w.jib_ok(&["setup"]);
        self.w.jib_ok(&["setup", "-e", "prod"]);
        self.w.jib_ok(&["push", "main"]);
        self.w.jib_ok(&["promote", "main", "--yes"]);
    }

    /// deploy.toml's prod (in the work tree, which is what jib reads): `hosts` behind lb1,
    /// on the fleet's private network.
    pub fn set_prod(&self, hosts: &[&str], extra: &str) {
        let toml = std::fs::read_to_string(self.w.repo.join("deploy.toml")).unwrap();
        let dev = toml.split("\n[env.prod]").next().unwrap().to_string();
        let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        let section = format!(
            "\n[env.prod]\nhosts = [{}]\nrouters = [\"lb1\"]\nprivate = \"{}\"\ndomains = [\"{NAME}\"]\nrun_as = \"nobody\"\n{extra}\n\
             [env.prod.nginx]\nlisten = \"{}\"\nsite = \"{}\"\nreload = {:?}\n",
            hosts.join(", "),
            self.fleet.prefix_cidr(),
            self.lb.listen,
            self.lb.sites.join("jib-prod.conf").display(),
            self.lb.reload,
        );
        self.w.write("deploy.toml", &format!("{dev}{section}"));
    }

    pub fn get(&self) -> (u16, String) {
        http_get_at(&self.lb.ip, self.lb.port, NAME, "/")
    }

    pub fn load(&self) -> Load {
        Load::start_at(&self.lb.ip, self.lb.port, NAME, 4)
    }

    /// Commits `greeting` on a new branch `name`, pushes it to dev.
    pub fn branch(&self, name: &str, greeting: &str) {
        git(&self.w.repo, &["checkout", "-q", "-b", name]);
        self.w.write("hello.py", &app_py(greeting));
        self.w.commit(greeting);
        self.w.jib_ok(&["push"]);
    }

    /// The hosts that answered through the router, by the bodies seen.
    pub fn hosts_in(bodies: &[String], greeting: &str) -> Vec<String> {
        let mut h: Vec<String> = bodies
            .iter()
            .filter(|b| b.starts_with(&format!("{greeting} from")))
            .filter_map(|b| b.trim().rsplit(" on ").next().map(str::to_string))
            .collect();
        h.sort();
        h.dedup();
        h
    }

    /// Asks through the router until every host has answered, and returns what they said.
    pub fn spread(&self, n: usize) -> Vec<String> {
        let mut bodies = Vec::new();
        for _ in 0..n {
            let (status, body) = self.get();
            assert_eq!(status, 200, "{body}");
            bodies.push(body);
        }
        bodies
    }
}
