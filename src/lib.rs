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
pub mod protocol;
pub mod release;
pub mod router;
pub mod sandbox;
pub mod slug;
pub mod transport;
pub mod venv;
