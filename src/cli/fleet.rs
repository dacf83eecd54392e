//! An environment on several servers, from the laptop (DESIGN.md §7): one ssh master per
//! machine, opened in parallel; `jib setup` of every machine at once; deploys in two phases —
//! every host prepares (objects, venv, import check, its new instance healthy on its own
//! socket), then, only when all are ready, all switch, then every router checks through its
//! front door; a failure anywhere puts every host back on what it served.

use std::collections::BTreeMap;

use anyhow::anyhow;
use futures::future::join_all;
use tokio::sync::watch;

use super::ui::{self, sanitize};
use super::{Failure, Project, exit, fail, remote};
use crate::protocol::{ErrorKind, Event, FleetSetup, Phase, Reply, Request, ServerConfig};
use crate::transport::{Gate, Remote};

/// One machine of the environment, connected or not.
pub struct Machine {
    pub host: String,
    /// Its configuration (the environment's, with its role).
    pub server: ServerConfig,
    pub remote: Result<Remote, Failure>,
}

impl Machine {
    pub fn reachable(&self) -> bool {
        self.remote.is_ok()
    }
}

/// Opens a master to each of `hosts` at once.
pub async fn connect_all(project: &Project, hosts: &[&str]) -> Vec<Machine> {
    join_all(hosts.iter().map(|h| async move {
        Machine {
            host: h.to_string(),
            server: project.server_for(h),
            remote: project.connect_to(h).await,
        }
    }))
    .await
}

/// Closes every master.
pub async fn close_all(machines: Vec<Machine>) {
    join_all(
        machines
            .into_iter()
            .filter_map(|m| m.remote.ok())
            .map(|r| r.close()),
    )
    .await;
}

/// One request to one machine, its events shown as `host: step` lines.
pub async fn call_one(
    m: &Machine,
    req: &Request,
    quiet: bool,
    gate: Option<&dyn Gate>,
    objects: impl FnMut(&[String]) -> anyhow::Result<Vec<u8>>,
) -> Result<Reply, Failure> {
    let remote = match &m.remote {
        Ok(r) => r,
        Err(e) => {
            return Err(fail(exit::CONNECTION)(anyhow!(
                "{} is unreachable: {:#}",
                m.host,
                e.error
            )));
        }
    };
    let host = m.host.clone();
    remote
        .call_gated(req, |ev| show(&host, ev, quiet), objects, gate)
        .await
        .map_err(|e| remote::call_failure(&m.host, e))
}

/// A host's step, prefixed with the host.
fn show(host: &str, ev: &Event, quiet: bool) {
    if quiet || ui::quiet() {
        if let Event::StepDone { step, ms, .. } = ev {
            ui::debug(&format!("{host}: {step} {ms} ms"));
        }
        return;
    }
    match ev {
        Event::StepDone { step, ms, detail } => {
            let detail = detail
                .as_deref()
                .map(|d| format!("  {d}"))
                .unwrap_or_default();
            eprintln!(
                "{}",
                sanitize(&format!(
                    "  ✔ {host:<10} {step:<13} {:>7}{detail}",
                    ui::format_ms(*ms)
                ))
            );
        }
        Event::Warning { message } if !message.is_empty() => {
            eprintln!("{}", sanitize(&format!("  ! {host}: {message}")))
        }
        Event::Waiting { holder } => eprintln!(
            "{}",
            sanitize(&format!(
                "  … {host}: waiting, this app is being deployed by {holder}"
            ))
        ),
        Event::Ready { phase, .. } => ui::debug(&format!("{host}: {phase}")),
        _ => {}
    }
}

/// `request` to each of `machines` at once: each one's answer, or why there is none.
async fn call_every(
    machines: &[Machine],
    quiet: bool,
    request: impl Fn(&Machine) -> Request,
) -> Vec<(String, Result<Reply, Failure>)> {
    join_all(machines.iter().map(|m| {
        let req = request(m);
        async move {
            let r = call_one(m, &req, quiet, None, |_| Ok(Vec::new())).await;
            (m.host.clone(), r)
        }
    }))
    .await
}

/// The same question to every host at once (list, status): each host's answer, or why
/// there is none (an unreachable host is a row, not a failure).
pub async fn ask_hosts(
    project: &Project,
    request: impl Fn(&Machine) -> Request,
) -> Vec<(String, Result<Reply, Failure>)> {
    let hosts = match &project.only {
        Some(h) => vec![h.as_str()],
        None => project.env.node_hosts(),
    };
    let machines = connect_all(project, &hosts).await;
    let answers = call_every(&machines, true, request).await;
    close_all(machines).await;
    answers
}

/// The same change on every host at once (restart, env, destroy): refused while a host
/// cannot be reached (it would be left different), each host's answer, or the first
/// failure (naming its host) once all have answered.
pub async fn on_every_host(
    project: &Project,
    quiet: bool,
    request: impl Fn(&Machine) -> Request,
) -> Result<Vec<(String, Reply)>, Failure> {
    let machines = connect_all(project, &project.env.node_hosts()).await;
    let result = async {
        refuse_unreachable(&machines, "change every host")?;
        let answers = call_every(&machines, quiet, request).await;
        answers
            .into_iter()
            .map(|(host, r)| r.map(|r| (host, r)))
            .collect()
    }
    .await;
    close_all(machines).await;
    result
}

/// Follows (or reads) a log on every host at once, each line prefixed with its host.
pub async fn logs(project: &Project, request: impl Fn(&Machine) -> Request) -> Result<(), Failure> {
    let machines = connect_all(project, &project.env.node_hosts()).await;
    let width = machines.iter().map(|m| m.host.len()).max().unwrap_or(0);
    let results = join_all(machines.iter().map(|m| {
        let req = request(m);
        async move {
            let Ok(remote) = &m.remote else {
                eprintln!("{:>width$}| unreachable", m.host);
                return Ok(());
            };
            let host = m.host.clone();
            remote
                .call(
                    &req,
                    |ev| {
                        if let Event::Log { line } = ev {
                            use std::io::Write;
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "{:>width$}| {}", host, sanitize(line));
                            let _ = out.flush();
                        }
                    },
                    |_| Ok(Vec::new()),
                )
                .await
                .map(|_| ())
                .map_err(|e| remote::call_failure(&m.host, e))
        }
    }))
    .await;
    close_all(machines).await;
    results.into_iter().collect()
}

/// `jib setup` of a fleet: every machine says where it is on the private network and which
/// subscription key it holds; the nodes get one key (theirs if one of them has it, else a
/// new one), the routers its public half; then every machine is set up at once.
pub async fn setup(
    project: &Project,
    install_deps: bool,
    quiet: bool,
) -> Result<Vec<(String, Vec<String>)>, Failure> {
    let env = &project.env;
    let machines = connect_all(project, &env.machines()).await;
    let result = setup_machines(&machines, install_deps, quiet).await;
    close_all(machines).await;
    result
}

async fn setup_machines<'a>(
    machines: &'a [Machine],
    install_deps: bool,
    quiet: bool,
) -> Result<Vec<(String, Vec<String>)>, Failure> {
    refuse_unreachable(machines, "set up")?;
    let joined = join_all(machines.iter().map(|m| async move {
        let req = Request::Join {
            server: m.server.clone(),
            export_key: false,
        };
        (m, call_one(m, &req, quiet, None, |_| Ok(Vec::new())).await)
    }))
    .await;
    let mut addresses = BTreeMap::new();
    let mut holder = None;
    for (m, r) in joined {
        match r? {
            Reply::Join { address, key, .. } => {
                addresses.insert(m.host.clone(), address);
                if key.is_some() && holder.is_none() && is_node(m) {
                    holder = Some(m);
                }
            }
            other => return Err(unexpected(&m.host, &other)),
        }
    }
    let key = match holder {
        // The key the nodes already sign with: changing it would cut them off the routers.
        Some(m) => {
            let req = Request::Join {
                server: m.server.clone(),
                export_key: true,
            };
            match call_one(m, &req, true, None, |_| Ok(Vec::new())).await? {
                Reply::Join {
                    private_key: Some(k),
                    ..
                } => k,
                other => return Err(unexpected(&m.host, &other)),
            }
        }
        None => crate::fleet::generate_key().map_err(fail(exit::REMOTE))?,
    };
    let public = crate::fleet::public_pem(&key).map_err(fail(exit::REMOTE))?;
    let of = |pred: fn(&Machine) -> bool| {
        machines
            .iter()
            .filter(|m| pred(m))
            .filter_map(|m| addresses.get(&m.host).copied())
            .collect::<Vec<_>>()
    };
    let (routers, nodes) = (of(is_router), of(is_node));
    // Two names for one machine would set it up twice, with two roles.
    let mut seen = BTreeMap::new();
    for (host, a) in &addresses {
        if let Some(other) = seen.insert(*a, host) {
            return Err(fail(exit::CONFIG)(anyhow!(
                "{other} and {host} are the same machine ({a}): list it once"
            )));
        }
    }
    // [cron] runs on the first host.
    let cron = machines
        .iter()
        .find(|m| is_node(m))
        .and_then(|m| addresses.get(&m.host).copied());
    let setup = |m: &'a Machine| {
        let fleet = FleetSetup {
            routers: routers.clone(),
            nodes: nodes.clone(),
            cron,
            key: is_node(m).then(|| key.clone()),
            public_key: is_router(m).then(|| public.clone()),
        };
        let req = Request::Setup {
            server: m.server.clone(),
            install_deps,
            grant: None,
            fleet: Some(fleet),
        };
        async move { (m, call_one(m, &req, quiet, None, |_| Ok(Vec::new())).await) }
    };
    // The routers (and hosts that are routers) at once; then the other hosts one at a
    // time: a host whose serve starts again (new routers) is out of the pool for a moment,
    // and the others carry its traffic.
    let mut done = join_all(machines.iter().filter(|m| is_router(m)).map(setup)).await;
    for m in machines.iter().filter(|m| !is_router(m)) {
        done.push(setup(m).await);
    }
    let mut out = Vec::new();
    let mut first_error = None;
    for (m, r) in done {
        match r {
            Ok(Reply::Setup { messages }) => out.push((m.host.clone(), messages)),
            Ok(other) => return Err(unexpected(&m.host, &other)),
            Err(e) => {
                if !quiet {
                    eprintln!("  ✘ {}: {:#}", m.host, e.error);
                }
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn is_node(m: &Machine) -> bool {
    m.server.fleet.as_ref().is_some_and(|f| f.node)
}

fn is_router(m: &Machine) -> bool {
    m.server.fleet.as_ref().is_some_and(|f| f.router)
}

fn unexpected(host: &str, reply: &Reply) -> Failure {
    fail(exit::REMOTE)(anyhow!("unexpected answer from {host}: {reply:?}"))
}

/// Refuses to go on while a machine cannot be reached, naming them.
pub fn refuse_unreachable(machines: &[Machine], what: &str) -> Result<(), Failure> {
    let down: Vec<&Machine> = machines.iter().filter(|m| !m.reachable()).collect();
    if down.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = down
        .iter()
        .map(|m| match &m.remote {
            Err(e) => format!("{} ({:#})", m.host, e.error),
            Ok(_) => m.host.clone(),
        })
        .collect();
    Err(fail(exit::CONNECTION)(anyhow!(
        "cannot {what}: unreachable: {}; nothing was changed on any host (--skip-unreachable goes on without them)",
        names.join("; ")
    )))
}

/// A release into service on every host of the environment at once (push, promote,
/// rollback): `request` is each host's (`first`: the one that runs the release step).
/// Unreachable hosts refuse it, or with `skip_unreachable` are left out (and say so).
/// Returns the first host's answer and each host's, or the failure that stopped the switch
/// everywhere.
#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    project: &Project,
    app: &str,
    path: &str,
    skip_unreachable: bool,
    quiet: bool,
    request: impl Fn(&Machine, bool) -> Request,
    objects: impl Fn(&[String]) -> anyhow::Result<Vec<u8>>,
) -> Result<(Reply, Vec<(String, Reply)>), Failure> {
    let env = &project.env;
    let machines = connect_all(project, &env.machines()).await;
    let result = async {
        if skip_unreachable {
            let hosts_up = machines
                .iter()
                .filter(|m| is_node(m) && m.reachable())
                .count();
            for m in machines.iter().filter(|m| !m.reachable()) {
                if !quiet {
                    eprintln!("  ! {}: unreachable, left out (--skip-unreachable)", m.host);
                }
            }
            if hosts_up == 0 || !machines.iter().any(|m| is_router(m) && m.reachable()) {
                return Err(fail(exit::CONNECTION)(anyhow!(
                    "no host or no router of {} can be reached",
                    project.env_name
                )));
            }
        } else {
            refuse_unreachable(&machines, "switch every host")?;
        }
        let hosts: Vec<&Machine> = machines
            .iter()
            .filter(|m| is_node(m) && m.reachable())
            .collect();
        let routers: Vec<&Machine> = machines
            .iter()
            .filter(|m| is_router(m) && m.reachable())
            .collect();
        let requests = hosts
            .iter()
            .enumerate()
            .map(|(i, m)| request(m, i == 0))
            .collect();
        let check = FrontDoor {
            app,
            path,
            timeout_secs: route_timeout(project.config.app.health_timeout),
        };
        let outcome = switch_all(&hosts, &routers, requests, &check, quiet, objects).await;
        let replies: Vec<(String, Reply)> = outcome
            .replies
            .iter()
            .filter_map(|(h, r)| r.as_ref().ok().map(|r| (h.clone(), r.clone())))
            .collect();
        if let Some(e) = outcome.failure() {
            return Err(e);
        }
        let first = replies.first().map(|(_, r)| r.clone());
        let first = first.ok_or_else(|| fail(exit::REMOTE)(anyhow!("no host answered")))?;
        Ok((first, replies))
    }
    .await;
    close_all(machines).await;
    result
}

/// Where a fleet-wide switch stands: which host reached which phase (and with which
/// release), which have finished, and the word for each phase once it is decided.
#[derive(Default, Clone)]
struct Round {
    /// Per host: how many phases it reached, and the release it reported.
    reached: Vec<(usize, String)>,
    finished: Vec<bool>,
    /// Per host that finished without switching (it already ran that commit): what it serves.
    serving: Vec<Option<String>>,
    failed: bool,
    verdict: [Option<bool>; 2],
}

fn index(phase: Phase) -> usize {
    match phase {
        Phase::Prepared => 0,
        Phase::Switched => 1,
    }
}

/// The coordinator's view for one host.
struct HostGate<'a> {
    round: &'a watch::Sender<Round>,
    host: usize,
}

impl Gate for HostGate<'_> {
    fn reached<'a>(
        &'a self,
        phase: Phase,
        release: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let i = index(phase);
            let mut rx = self.round.subscribe();
            self.round.send_modify(|r| {
                r.reached[self.host] = (i + 1, release.to_string());
            });
            match rx.wait_for(|r| r.verdict[i].is_some()).await {
                Ok(r) => r.verdict[i] == Some(true),
                Err(_) => false,
            }
        })
    }
}

/// What the routers check through the front door after a switch: `path` of `app`, for up
/// to `timeout_secs`.
#[derive(Clone, Copy)]
pub struct FrontDoor<'a> {
    pub app: &'a str,
    pub path: &'a str,
    pub timeout_secs: u64,
}

/// What a fleet-wide deploy gave: each host's answer, and the routers' check.
pub struct Outcome {
    pub replies: Vec<(String, Result<Reply, Failure>)>,
    pub routers: Result<(), Failure>,
}

impl Outcome {
    /// The failure to report: the one that caused the others (a host that was only held
    /// back is not it), else the routers' check.
    pub fn failure(self) -> Option<Failure> {
        let mut held_back = None;
        for (_, r) in self.replies {
            if let Err(e) = r {
                let secondary = e
                    .error
                    .downcast_ref::<ui::RemoteFailure>()
                    .is_some_and(|f| f.error.kind == ErrorKind::HeldBack);
                if !secondary {
                    return Some(e);
                }
                held_back.get_or_insert(e);
            }
        }
        self.routers.err().or(held_back)
    }
}

/// Sends each host its request (gated) and runs the switch: go once every host has prepared,
/// then the routers' check through the front door (`app`, `path`), then keep or put back.
pub async fn switch_all(
    hosts: &[&Machine],
    routers: &[&Machine],
    requests: Vec<Request>,
    check: &FrontDoor<'_>,
    quiet: bool,
    objects: impl Fn(&[String]) -> anyhow::Result<Vec<u8>>,
) -> Outcome {
    let FrontDoor {
        app,
        path,
        timeout_secs,
    } = *check;
    // The routers take the app's keys before any host announces it.
    if let Err(e) = check_routers(routers, app, path, &[], timeout_secs, quiet).await {
        return Outcome {
            replies: Vec::new(),
            routers: Err(e),
        };
    }
    let n = hosts.len();
    let (round, _keep) = watch::channel(Round {
        reached: vec![(0, String::new()); n],
        finished: vec![false; n],
        serving: vec![None; n],
        ..Round::default()
    });
    let round = &round;
    let objects = &objects;
    let calls = join_all(
        hosts
            .iter()
            .zip(requests)
            .enumerate()
            .map(|(i, (m, req))| async move {
                let gate = HostGate { round, host: i };
                let r = call_one(m, &req, quiet, Some(&gate), |have| objects(have)).await;
                round.send_modify(|s| {
                    s.finished[i] = true;
                    s.failed |= r.is_err();
                    s.serving[i] = r.as_ref().ok().and_then(release_of);
                });
                (m.host.clone(), r)
            }),
    );
    let decide = async {
        // Each phase is decided once every host has reached it or finished (a push of what
        // already runs finishes without a switch), or at the first failure.
        for phase in [Phase::Prepared, Phase::Switched] {
            let i = index(phase);
            let mut rx = round.subscribe();
            let settled = rx
                .wait_for(|r| r.failed || (0..n).all(|h| r.reached[h].0 > i || r.finished[h]))
                .await
                .map(|r| r.clone())
                .unwrap_or_default();
            let mut go = !settled.failed;
            let mut verdict_err = Ok(());
            if go && phase == Phase::Switched {
                let switched: Vec<String> = settled
                    .reached
                    .iter()
                    .filter(|(p, _)| *p > i)
                    .map(|(_, rel)| rel.clone())
                    .collect();
                if !switched.is_empty() {
                    // Hosts that already ran this commit serve their release, rightly.
                    let mut releases = switched;
                    releases.extend(settled.serving.iter().flatten().cloned());
                    verdict_err =
                        check_routers(routers, app, path, &releases, timeout_secs, quiet).await;
                    go = verdict_err.is_ok();
                }
            }
            round.send_modify(|r| {
                r.verdict[i] = Some(go);
                if !go {
                    r.verdict = [Some(r.verdict[0].unwrap_or(false)), Some(false)];
                }
            });
            if !go {
                return verdict_err;
            }
        }
        Ok(())
    };
    let (replies, routers) = tokio::join!(calls, decide);
    Outcome { replies, routers }
}

/// The release a host's answer says it serves.
fn release_of(reply: &Reply) -> Option<String> {
    match reply {
        Reply::Deploy { release, .. } | Reply::Promote { release, .. } => Some(release.clone()),
        Reply::Rollback { to, .. } => Some(to.clone()),
        _ => None,
    }
}

/// Each router takes `app`'s keys and, given `releases`, answers through its front door
/// from them only.
async fn check_routers(
    routers: &[&Machine],
    app: &str,
    path: &str,
    releases: &[String],
    timeout_secs: u64,
    quiet: bool,
) -> Result<(), Failure> {
    let checks = join_all(routers.iter().map(|m| async move {
        let req = Request::Route {
            server: m.server.clone(),
            app: app.to_string(),
            path: path.to_string(),
            releases: releases.to_vec(),
            timeout_secs,
        };
        let t = std::time::Instant::now();
        let r = call_one(m, &req, true, None, |_| Ok(Vec::new())).await;
        if let (Ok(Reply::Route { seen }), false) = (&r, releases.is_empty() || quiet) {
            let spread: Vec<String> = seen.values().map(|n| n.to_string()).collect();
            eprintln!(
                "{}",
                sanitize(&format!(
                    "  ✔ {:<10} {:<13} {:>7}  through the front door, answers spread {}",
                    m.host,
                    "routed",
                    ui::format_ms(t.elapsed().as_millis() as u64),
                    spread.join("/")
                ))
            );
        }
        r
    }))
    .await;
    checks.into_iter().find_map(Result::err).map_or(Ok(()), Err)
}

/// How long a router check may take: the app's health timeout.
pub fn route_timeout(health_timeout_secs: u64) -> u64 {
    health_timeout_secs.max(5)
}
