//! The database shell (`mongosh`) on an app's database: jib mongo runs it through exec,
//! destroy --drop-db directly. Its URL (credentials) travels in its environment.

use std::path::Path;

use crate::protocol::RemoteError;

/// Where the database shell finds its URL: a process's argv is readable by every local user
/// (`ps`, `/proc/<pid>/cmdline`), its environment only by its own user and root.
pub const URL_ENV: &str = "JIB_MONGO_URL";

/// The database shell on `$JIB_MONGO_URL`: runs `eval` and exits, or opens the interactive
/// shell there (same prompt as with the URL as an argument).
pub fn shell_argv(shell: &str, eval: Option<&str>) -> Result<Vec<String>, RemoteError> {
    // The legacy shell has no `process.env`: it could only take the URL in argv.
    if Path::new(shell).file_name().is_some_and(|n| n == "mongo") {
        let why = "the legacy `mongo` shell takes the database URL only in its arguments, \
                   where every local user sees it";
        return Err(RemoteError::new("mongo", why).hint(
            "install mongosh on the server (npm install -g mongosh); deploy.toml: [env.<name>.mongo] shell = \"mongosh\"",
        ));
    }
    // `; undefined`: nothing printed for the connection itself.
    let connect = format!("db = connect(process.env.{URL_ENV}); undefined");
    let mut argv = vec![
        shell.to_string(),
        "--nodb".into(),
        "--quiet".into(),
        "--eval".into(),
        connect,
    ];
    match eval {
        Some(js) => argv.extend(["--eval".into(), js.to_string()]),
        None => argv.push("--shell".into()),
    }
    Ok(argv)
}
