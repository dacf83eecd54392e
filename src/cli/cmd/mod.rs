//! One file per command, named after it: `jib <name>` is `<name>.rs`, holding `<Name>Args`
//! (its clap arguments) and `run`, which `cli::main` calls with the global arguments.

pub mod audit;
pub mod completions;
pub mod config;
pub mod destroy;
pub mod doctor;
pub mod env;
pub mod exec;
pub mod init;
pub mod list;
pub mod logs;
pub mod man;
pub mod mongo;
pub mod open;
pub mod promote;
pub mod prune;
pub mod push;
pub mod releases;
pub mod restart;
pub mod rollback;
pub mod setup;
pub mod shell;
pub mod status;
