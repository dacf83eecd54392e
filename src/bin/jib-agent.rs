//! The server side of jib. `jib` installs and calls it over ssh; see `jib::agent`.

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Started by ssh as an unprivileged user of a root a root agent serves: hand the call over.
    if let Some(code) = jib::agent::ctl::forward(&args) {
        std::process::exit(code);
    }
    let code = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--version"] | ["-V"] => {
            println!("{}", jib::protocol::version_line());
            Ok(0)
        }
        ["serve", "--root", root] => jib::agent::serve::serve(&PathBuf::from(root)).map(|()| 0),
        ["exec"] => Ok(jib::agent::exec::run(None)),
        ["exec", "--request", hex] => Ok(jib::agent::exec::run(Some(hex))),
        ["exec", "--stashed", token] => Ok(jib::agent::exec::run_stashed(token)),
        [verb] if !verb.starts_with('-') => jib::agent::run_verb(verb),
        _ => {
            eprintln!(
                "usage: jib-agent --version | serve --root <root> | <verb> (request as JSON on stdin)\n\
                 jib-agent is run by `jib`; you do not need to call it yourself."
            );
            Ok(2)
        }
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("jib-agent: {e:#}");
            std::process::exit(1);
        }
    }
}
