//! `jib open [<branch>]`: print a branch's URL, and open it in a browser when there is a
//! display.

use crate::cli::{Failure, Global, Project};

#[derive(clap::Args, Debug)]
pub struct OpenArgs {
    pub branch: Option<String>,
}

pub fn run(g: &Global, args: &OpenArgs) -> Result<(), Failure> {
    let (project, app) = Project::open_target(g, args.branch.as_deref())?;
    let url = crate::config::app_url(&app, &project.server);
    println!("{url}");
    let display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if display {
        // Best effort: the URL is printed either way.
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    Ok(())
}
