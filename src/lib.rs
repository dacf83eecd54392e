//! jib: any git branch of a Python web app, live at `<branch>.<domain>` on your own server.
//!
//! The laptop side (`cli`) and the server side (`agent`) share everything else: the config,
//! the wire protocol and the server layout.
//!
//! Map (one line a file):
//! - `bin/jib.rs`, `bin/jib-agent.rs`: the two thin mains.
//! - `cli/`: the laptop's commands — `mod.rs` (clap definition, dispatch, exit codes), `push`,
//!   `promote` (promote, rollback, releases, audit), `manage` (logs, exec, shell, env, list,
//!   status, destroy, mongo, open), `setup`, `init`, `config`, `doctor`, `prune`, `ui`.
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
//!   - `serve`: keeps the Emperor and router running, writes their files, the 404 page.
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
//! - `health`: health checks through the front door.
//! - `lock`: per-app and per-venv locks, naming their holder.
//! - `audit`: the root's audit log.
//! - `slug`: branch names to app names.

pub mod agent;
pub mod audit;
pub mod cli;
pub mod config;
pub mod emperor;
pub mod fsafe;
pub mod git;
pub mod health;
pub mod identity;
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
