//! jib: any git branch of a Python web app, live at `<branch>.<domain>` on your own server.
//!
//! The laptop side (`cli`) and the server side (`agent`) share everything else: the config,
//! the wire protocol and the server layout.

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
