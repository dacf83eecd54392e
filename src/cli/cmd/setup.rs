//! `jib setup`: once per server (and again after changing the environment in deploy.toml).
//!
//! As root over ssh it does everything itself. As an unprivileged ssh user (`deploy@server`)
//! it says which one-time steps need root and why, then runs them through sudo (asking for the
//! password when sudo wants one), or prints them as a script for an administrator; after that,
//! every command reaches the root agent through its control socket, without sudo.

use std::io::IsTerminal;

use crate::cli::remote::call_failure;
use crate::cli::ui::{Progress, note};
use crate::cli::{Failure, Global, Project, exit, fail};
use crate::protocol::{Envelope, ErrorKind, Reply, Request};
use crate::transport::{CallError, Remote};

#[derive(clap::Args, Debug, Clone, Copy)]
pub struct SetupArgs {
    /// Install missing system packages (needs root or passwordless sudo on the server)
    #[arg(long)]
    pub install_deps: bool,
    /// As an unprivileged ssh user: print the one-time root steps as a script for an administrator, instead of running them through sudo
    #[arg(long)]
    pub root_script: bool,
    /// Don't ask for the sudo password: use `sudo -n` (fails if sudo wants a password)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(g: &Global, args: &SetupArgs) -> Result<(), Failure> {
    let args = *args;
    let project = Project::open(g)?;
    let mut progress = Progress::new(false);
    note!(
        "Setting up {} on {} ({})",
        project.env_name,
        project.hosts_text(),
        project.server.root.display()
    );
    if project.env.is_fleet() {
        return fleet(&project, args).await;
    }
    let remote = project.connect().await?;
    let result =
        if project.env.is_local() || remote.is_root().await.map_err(fail(exit::CONNECTION))? {
            as_root(&project, &remote, args, &mut progress)
                .await
                .map(Some)
        } else {
            unprivileged(&project, &remote, args, &mut progress).await
        };
    progress.clear();
    remote.close().await;
    // None: the root steps were printed for an administrator; nothing is ready yet.
    let Some(messages) = result? else {
        return Ok(());
    };
    for m in messages {
        note!("  {m}");
    }
    note!("✔ {} is ready: jib push <branch>", project.hosts_text());
    Ok(())
}

/// Every host and router at once (as root over ssh: a fleet's firewall and keys are root's).
async fn fleet(project: &Project, args: SetupArgs) -> Result<(), Failure> {
    let env = &project.env;
    note!(
        "  {} host(s): {}; router(s): {}; private network {}",
        env.node_hosts().len(),
        env.node_hosts().join(", "),
        env.router_hosts().join(", "),
        env.private.as_deref().unwrap_or("?")
    );
    let done = crate::cli::fleet::setup(project, args.install_deps, false).await?;
    for (host, messages) in done {
        for m in messages {
            note!("  {host}: {m}");
        }
    }
    note!(
        "✔ {} is ready on {} machine(s): jib promote / jib push",
        project.env_name,
        env.machines().len()
    );
    Ok(())
}

fn request(project: &Project, args: SetupArgs, grant: Option<String>) -> Request {
    Request::Setup {
        server: project.server.clone(),
        install_deps: args.install_deps,
        grant,
        fleet: None,
    }
}

fn messages(reply: Reply) -> Result<Vec<String>, Failure> {
    match reply {
        Reply::Setup { messages } => Ok(messages),
        other => Err(fail(exit::REMOTE)(anyhow::anyhow!(
            "unexpected answer from the agent: {other:?}"
        ))),
    }
}

/// The ssh user is root (or this is local mode): install the agent and set up directly.
async fn as_root(
    project: &Project,
    remote: &Remote,
    args: SetupArgs,
    progress: &mut Progress,
) -> Result<Vec<String>, Failure> {
    let t = std::time::Instant::now();
    progress.start("agent");
    let installed = remote
        .ensure_agent()
        .await
        .map_err(fail(exit::CONNECTION))?;
    progress.done(
        "agent",
        t.elapsed().as_millis() as u64,
        Some(if installed { "installed" } else { "up to date" }),
    );
    let reply = remote
        .call(
            &request(project, args, None),
            |ev| progress.event(ev),
            |_| Ok(Vec::new()),
        )
        .await
        .map_err(|e| call_failure(&remote.host, e))?;
    messages(reply)
}

/// An unprivileged ssh user: the root agent may already be set up for this environment (then
/// nothing needs root); else the one-time root steps, through sudo or a script (`None`).
async fn unprivileged(
    project: &Project,
    remote: &Remote,
    args: SetupArgs,
    progress: &mut Progress,
) -> Result<Option<Vec<String>>, Failure> {
    let user = remote.user_name().await.map_err(fail(exit::CONNECTION))?;
    if !args.root_script && remote.agent_matches().await {
        // Through the control socket: succeeds only when nothing would change.
        match remote
            .call(
                &request(project, args, None),
                |ev| progress.event(ev),
                |_| Ok(Vec::new()),
            )
            .await
        {
            Ok(reply) => return messages(reply).map(Some),
            Err(CallError::Remote(e))
                if matches!(e.kind, ErrorKind::NeedsRoot | ErrorKind::Unreachable) => {}
            Err(e) => return Err(call_failure(&remote.host, e)),
        }
        progress.clear();
    }
    let root = project.server.root.display();
    note!(
        "  {user} is not root on {}: these one-time steps need root:\n    \
         - install jib-agent as {root}/.jib/bin/jib-agent, owned by root (what root runs must not be writable by {user})\n    \
         - create the group {group} and add {user} to it (its members deploy through the root agent, as run_as, never as root)\n    \
         - lay out {root}, write the nginx site and reload nginx\n    \
         - install and start the systemd unit that runs `jib-agent serve` as root\n  \
         after that, every jib command works as {user} without sudo",
        remote.host,
        group = crate::agent::ctl::GROUP,
    );
    let t = std::time::Instant::now();
    progress.start("agent");
    let (staged, sha) = remote.stage_agent().await.map_err(fail(exit::CONNECTION))?;
    progress.done(
        "agent",
        t.elapsed().as_millis() as u64,
        Some("uploaded for the root steps"),
    );
    progress.clear();
    let req = request(project, args, Some(user.clone()));
    if args.root_script {
        print_root_script(remote, &staged, &sha, &req)?;
        return Ok(None);
    }
    let (no_password, _) = remote
        .run_fixed(&["sudo", "-n", "true"])
        .await
        .map_err(fail(exit::CONNECTION))?;
    let password = if no_password {
        None
    } else if args.yes || !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(fail(exit::USAGE)(anyhow::anyhow!(
            "{user} cannot use sudo without a password on {}: run `jib setup` in a terminal to type it, \
             or `jib setup --root-script > setup.sh` and have an administrator run `sudo sh setup.sh` there",
            remote.host
        )));
    } else {
        Some(
            dialoguer::Password::new()
                .with_prompt(format!("[sudo] password for {user} on {}", remote.host))
                .interact()
                .map_err(|e| fail(exit::USAGE)(e.into()))?,
        )
    };
    let argv: Vec<String> = match &password {
        None => vec!["sudo".into(), "-n".into(), staged.clone(), "setup".into()],
        // -S: the password is the first line of stdin; -p '': no prompt mixed into the output.
        Some(_) => vec![
            "sudo".into(),
            "-S".into(),
            "-p".into(),
            String::new(),
            staged.clone(),
            "setup".into(),
        ],
    };
    let reply = remote
        .call_program(&argv, password.as_deref(), &req, |ev| progress.event(ev))
        .await
        .map_err(|e| call_failure(&remote.host, e))?;
    let _ = remote.run_fixed(&["rm", "-f", &staged]).await;
    messages(reply).map(Some)
}

/// The root steps as one shell script (on stdout): checks the uploaded agent's digest, then runs
/// its setup with this request.
fn print_root_script(
    remote: &Remote,
    staged: &str,
    sha: &str,
    req: &Request,
) -> Result<(), Failure> {
    let envelope = Envelope {
        client: crate::protocol::version_line(),
        by: remote.by.clone(),
        request: req.clone(),
    };
    let json = serde_json::to_string(&envelope).map_err(|e| fail(exit::REMOTE)(e.into()))?;
    // The staged path is under the ssh user's home (validated characters only); JSON is
    // inside a quoted heredoc, so nothing in it is expanded.
    println!(
        "#!/bin/sh\n\
         # jib setup of {root} on {host}: the one-time steps that need root. Run it there as root,\n\
         # e.g. `sudo sh setup.sh`. It checks that a copy of {staged} is the agent jib\n\
         # uploaded, and runs its setup (which installs it as {root}/.jib/bin/jib-agent).\n\
         set -eu\n\
         upload='{staged}'\n\
         # A copy only root can change, checked and run: the upload's owner cannot swap it.\n\
         agent=$(mktemp /root/jib-agent.XXXXXX 2>/dev/null || mktemp)\n\
         trap 'rm -f \"$agent\"' EXIT\n\
         cat \"$upload\" > \"$agent\"\n\
         echo '{sha}  '\"$agent\" | sha256sum -c --quiet -\n\
         chmod 700 \"$agent\"\n\
         JIB_HUMAN=1 \"$agent\" setup <<'JIB_REQUEST'\n\
         {json}\n\
         JIB_REQUEST\n\
         rm -f \"$upload\"\n",
        root = req.server().root.display(),
        host = remote.host,
    );
    note!("  wrote the root steps to stdout: run them on the server as root (sudo sh setup.sh)");
    Ok(())
}
