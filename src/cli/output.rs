//! What commands print on stdout for people and scripts: JSON, the apps table, commits as the
//! server names them. Everything the server said is sanitized before it reaches a terminal.

use std::borrow::Cow;

use super::ui::sanitize;
use super::{Failure, exit, fail};
use crate::protocol::{AppStatus, Reply};

/// `v` as a JSON value, to add fields to (`ms` …) before printing it.
pub fn to_value(v: &impl serde::Serialize) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(v).map_err(|e| fail(exit::REMOTE)(e.into()))
}

/// `v` as one line of JSON on stdout, fields in their declared order.
pub fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let line = serde_json::to_string(v).map_err(|e| fail(exit::REMOTE)(e.into()))?;
    println!("{line}");
    Ok(())
}

/// Writes to stdout; a closed pipe (`jib man | head`) is not an error.
pub fn print_raw(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(fail(exit::USAGE)(e.into())),
        _ => Ok(()),
    }
}

/// A commit as the server names it, shortened and made safe to print (`get`: no panic on a
/// string that is not hex).
pub fn short(c: &str) -> Cow<'_, str> {
    sanitize(c.get(..7).unwrap_or(c))
}

/// `jib list`'s table (and the first lines of `jib status`).
pub fn print_apps(apps: &[AppStatus]) {
    println!(
        "{:<24} {:<9} {:<12} {:>8} {:<22} {:<40} URL",
        "APP", "STATE", "COMMIT", "MEMORY", "DEPLOYED", "BY"
    );
    for a in apps {
        let state = if a.last_deploy_failed {
            format!("{}!", a.state)
        } else {
            a.state.to_string()
        };
        // Every field is the server's word; `get` rather than slicing a string that may not
        // be hex.
        let line = format!(
            "{:<24} {:<9} {:<12} {:>6.0}MB {:<22} {:<40} {}",
            a.app,
            state,
            a.commit.get(..12).unwrap_or(&a.commit),
            a.rss_bytes as f64 / 1e6,
            a.deployed_at.split('.').next().unwrap_or(""),
            a.deployed_by,
            a.url
        );
        println!("{}", sanitize(&line));
    }
}

/// Each host's answer of a fleet-wide command, for `--json`: `[{"host": …, <its answer>}]`.
pub fn hosts_value(replies: &[(String, Reply)]) -> Result<serde_json::Value, Failure> {
    let mut out = Vec::new();
    for (host, r) in replies {
        let mut v = to_value(r)?;
        v["host"] = host.clone().into();
        out.push(v);
    }
    Ok(serde_json::Value::Array(out))
}
