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
//! - `agent/`: the server's verbs — `mod.rs` (one request in, events out; audit), `deploy`
//!   (the release pipeline: receive, export, venv, import check, switch, health), `promote`,
//!   `apps` (list, status, restart, logs, env, destroy), `exec`, `setup`, `serve` (Emperor,
//!   router, 404 page), `ctl` (the control socket unprivileged ssh users reach root through),
//!   `doctor`.
//! - `protocol`: every message between `jib` and `jib-agent`. `config`: deploy.toml.
//! - `transport`: ssh master connection and local mode. `git`: the laptop's repository.
//! - `layout`: every path under a root. `release`: releases, export, `current`.
//! - `venv`: venvs by hash, sealed. `sandbox`: how app-controlled code runs (`run_as`).
//! - `fsafe`: file access in app-writable trees. `identity`: the apps' user.
//! - `emperor`, `router`, `health`: uWSGI and the front door. `lock`, `audit`, `slug`.

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
