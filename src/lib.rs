//! jib: any git branch of a Python web app, live at `<branch>.<domain>` on your own server.
//!
//! The laptop side (`cli`) and the server side (`agent`) share everything else: the config,
//! the wire protocol and the server layout.
//!
//! Map (one line a file):
//! - `bin/jib.rs`, `bin/jib-agent.rs`: the two thin mains.
//! - `cli/`: the laptop's commands, one file a command under `cmd/` (`jib <name>` is
//!   `cmd/<name>.rs`: its clap arguments and its `run`).
//!   - `cli/mod.rs`: global arguments, the list of commands, the dispatch, exit codes, `Failure`.
//!   - `cli/project.rs`: the repository, deploy.toml and the environment a command acts on.
//!   - `cli/remote.rs`: one call to the agent, `exec`'s hand-over, agent failures → exit codes.
//!   - `cli/ui.rs`: stderr — progress, notes, confirmation, errors, sanitizing server text.
//!   - `cli/output.rs`: stdout — JSON, the apps table, short commits.
//!   - `cli/cmd/mod.rs`: the list of command modules.
//!   - `cli/cmd/init.rs`: detect the framework and dependency file, write deploy.toml.
//!   - `cli/cmd/setup.rs`: prepare a server, as root or through sudo / a root script.
//!   - `cli/cmd/push.rs`: deploy a branch's head, sending only the objects the server lacks.
//!   - `cli/cmd/exec.rs`: a command in a branch's environment on the server.
//!   - `cli/cmd/shell.rs`: a Python (or login) shell there.
//!   - `cli/cmd/logs.rs`: a branch's uWSGI, deploy or process log.
//!   - `cli/cmd/restart.rs`: graceful reload of one branch.
//!   - `cli/cmd/env.rs`: a branch's own variables (list, set, unset).
//!   - `cli/cmd/list.rs`: every app of the environment.
//!   - `cli/cmd/status.rs`: one app with its processes and releases.
//!   - `cli/cmd/destroy.rs`: remove an app (and, when asked, its database).
//!   - `cli/cmd/mongo.rs`: mongosh on a branch's database; copy another's into it.
//!   - `cli/cmd/open.rs`: a branch's URL, opened in a browser when there is a display.
//!   - `cli/cmd/prune.rs`: destroy merged, deleted or unvisited branch apps.
//!   - `cli/cmd/promote.rs`: ship the release a branch runs to prod, after a plan and a question.
//!   - `cli/cmd/rollback.rs`: back to the previous good release, or a named one.
//!   - `cli/cmd/releases.rs`: the releases kept and which is current.
//!   - `cli/cmd/audit.rs`: who did what, and when.
//!   - `cli/cmd/config.rs`: the effective configuration, secrets redacted.
//!   - `cli/cmd/doctor.rs`: checks from the laptop to the server, with fixes.
//!   - `cli/cmd/man.rs`: man pages.
//!   - `cli/cmd/completions.rs`: shell completions.
//! - `agent/`: the server's side, a file a verb and what they share:
//!   - `mod.rs`: one request in, events out; who may ask what (a deploy user); dispatch.
//!   - `ctx`: the app a request acts on: its lock, user, sandbox, switch, wait until live, restore.
//!   - `pipeline`: what push and promote share: target, objects, lock, export, venv, record.
//!   - `activate`: import check, release step, switch, health check; the previous one back.
//!   - `objects`: the server's repository: objects from the CLI or another root, `refs/jib/`.
//!   - `emit`: the events a verb sends, and their copy in the app's deploy log.
//!   - `deploy`: push a commit as a release (unless it already runs).
//!   - `promote`: ship the build another environment runs, never its files.
//!   - `artifact`: what an app runs (release, venv, exact packages), for promote.
//!   - `rollback`: back to an earlier good release.
//!   - `list`: every app of the root.
//!   - `status`: one app (state, workers, memory, processes) and its releases.
//!   - `restart`: chain-reload one app, wait until every worker is back.
//!   - `logs`: an app's logs, followed until the CLI goes away.
//!   - `env`: the app's own environment (`env.json`).
//!   - `destroy`: stop an app and remove it (and its database, asked to).
//!   - `exec`: become a command in the app's environment (shell, mongo, exec).
//!   - `stash`: keep a terminal exec's request on the server, out of argv.
//!   - `audit`: the root's trail, and the entry each changing request leaves.
//!   - `setup`: prerequisites, the root's layout, the agent installed, serve started.
//!   - `doctor`: the server's half of `jib doctor`.
//!   - `serve`: keeps the Emperor and router running, writes their files, the 404 page and
//!     the branch index's answers.
//!   - `ctl`: the control socket unprivileged ssh users reach the root agent through.
//! - `protocol`: every message between `jib` and `jib-agent`.
//! - `config`: deploy.toml, checked one section at a time.
//! - `transport`: ssh master connection and local mode.
//! - `git`: the laptop's repository.
//! - `layout`: every path under a root (and taken apart).
//! - `release`: releases, export, `current`, retention.
//! - `venv`: venvs by hash, sealed.
//! - `sandbox`: how app-controlled code runs (`run_as`), and waiting with a time limit.
//! - `fsafe`: file access in app-writable trees (and a file's last lines).
//! - `identity`: the apps' user.
//! - `programs`: programs on this machine (`which`).
//! - `mongo`: the database shell and where it finds its URL.
//! - `emperor`: the uWSGI Emperor, its vassal template, reloads and workers.
//! - `router`: the front door (nginx site, uWSGI routers), the 404 page.
//! - `index`: the branch index: the page of every app of an environment, its JSON twin.
//! - `fleet`: several servers per environment: peers, signed subscriptions, firewall.
//! - `health`: health checks through the front door.
//! - `lock`: per-app and per-venv locks, naming their holder.
//! - `audit`: the root's audit log.
//! - `slug`: branch names to app names.
//! - `acme`: certificates from an ACME server: obtained, installed, renewed by serve.
//! - `dns`: DNS-01's TXT records by RFC 2136 update, TSIG-signed.
//! - `failpoint`: where the fault-injection tests stop a verb (debug builds only).

pub mod acme;
pub mod agent;
pub mod audit;
pub mod cli;
pub mod config;
pub mod dns;
pub mod emperor;
pub mod failpoint;
pub mod fleet;
pub mod fsafe;
pub mod git;
pub mod health;
pub mod identity;
pub mod index;
pub mod layout;
pub mod lock;
pub mod mongo;
pub mod programs;
pub mod protocol;
pub mod release;
pub mod router;
pub mod sandbox;
pub mod slug;
pub mod transport;
pub mod venv;
