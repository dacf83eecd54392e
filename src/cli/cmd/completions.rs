//! `jib completions <SHELL>`: shell completions generated from the clap definition (the
//! committed ones in completions/ are checked against it by tests/completions.rs).

use clap::CommandFactory;

use crate::cli::{Cli, Failure, output};

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &CompletionsArgs) -> Result<(), Failure> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "jib", &mut buf);
    output::print_raw(&buf)
}
