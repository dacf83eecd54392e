//! `jib man [--out-dir DIR]`: the man page (roff) on stdout, or one page per command in DIR.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::CommandFactory;

use crate::cli::{Cli, Failure, exit, fail, output};

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write jib.1 and one page per subcommand (jib-push.1 …) into this directory instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(args: &ManArgs) -> Result<(), Failure> {
    if let Some(dir) = &args.out_dir {
        return clap_mangen::generate_to(Cli::command(), dir).map_err(|e| {
            fail(exit::USAGE)(anyhow!("cannot write man pages to {}: {e}", dir.display()))
        });
    }
    let mut buf = Vec::new();
    // Built as `--out-dir` builds it, so both give the same jib.1.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| fail(exit::USAGE)(e.into()))?;
    output::print_raw(&buf)
}
