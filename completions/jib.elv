
use builtin;
use str;

set edit:completion:arg-completer[jib] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'jib'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'jib'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on'
            cand --env 'Environment from deploy.toml to act on'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand setup 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
            cand push 'Deploy a branch (default: the current one) to <branch>.<domain>'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;setup'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on'
            cand --env 'Environment from deploy.toml to act on'
            cand --install-deps 'Install missing system packages (needs root or passwordless sudo on the server)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;push'= {
            cand --lock-wait 'Seconds to wait when another push of this branch is running (0: refuse at once)'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on'
            cand --env 'Environment from deploy.toml to act on'
            cand --force 'Deploy even when the same commit is already live'
            cand --json 'Print the result as JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;completions'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on'
            cand --env 'Environment from deploy.toml to act on'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;help'= {
            cand setup 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
            cand push 'Deploy a branch (default: the current one) to <branch>.<domain>'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;help;setup'= {
        }
        &'jib;help;push'= {
        }
        &'jib;help;completions'= {
        }
        &'jib;help;help'= {
        }
    ]
    $completions[$command]
}
