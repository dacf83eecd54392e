# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_jib_global_optspecs
    string join \n C/dir= e/env= host= q/quiet v/verbose h/help V/version
end

function __fish_jib_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_jib_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_jib_using_subcommand
    set -l cmd (__fish_jib_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c jib -n "__fish_jib_needs_command" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_needs_command" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_needs_command" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_needs_command" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_needs_command" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_needs_command" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_needs_command" -s V -l version -d 'Print version'
complete -c jib -n "__fish_jib_needs_command" -f -a "init" -d 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)'
complete -c jib -n "__fish_jib_needs_command" -f -a "setup" -d 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
complete -c jib -n "__fish_jib_needs_command" -f -a "push" -d 'Deploy a branch (default: the current one) to <branch>.<domain>'
complete -c jib -n "__fish_jib_needs_command" -f -a "exec" -d 'Run a command in a branch\'s environment (its venv, env vars, current release)'
complete -c jib -n "__fish_jib_needs_command" -f -a "shell" -d 'Interactive Python shell in a branch\'s environment (manage.py shell for Django)'
complete -c jib -n "__fish_jib_needs_command" -f -a "logs" -d 'Show a branch\'s uWSGI log'
complete -c jib -n "__fish_jib_needs_command" -f -a "restart" -d 'Graceful reload of one branch (no request dropped; other branches untouched)'
complete -c jib -n "__fish_jib_needs_command" -f -a "env" -d 'A branch\'s own environment variables: list, set KEY=VALUE…, unset KEY…'
complete -c jib -n "__fish_jib_needs_command" -f -a "list" -d 'Every branch deployed in the environment'
complete -c jib -n "__fish_jib_needs_command" -f -a "status" -d 'One branch in detail, with its releases'
complete -c jib -n "__fish_jib_needs_command" -f -a "destroy" -d 'Stop a branch and remove its releases, venvs no one else uses, env and routing'
complete -c jib -n "__fish_jib_needs_command" -f -a "mongo" -d 'MongoDB shell on a branch\'s own database, on the server (mongosh); --eval runs one script'
complete -c jib -n "__fish_jib_needs_command" -f -a "open" -d 'Print a branch\'s URL (and open it in a browser when there is a display)'
complete -c jib -n "__fish_jib_needs_command" -f -a "prune" -d 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk'
complete -c jib -n "__fish_jib_needs_command" -f -a "promote" -d 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime'
complete -c jib -n "__fish_jib_needs_command" -f -a "rollback" -d 'Switch back to the previous good release (of prod, or of a branch)'
complete -c jib -n "__fish_jib_needs_command" -f -a "releases" -d 'Releases kept for prod or a branch: which is current, when, by whom, from which branch'
complete -c jib -n "__fish_jib_needs_command" -f -a "audit" -d 'Who pushed, promoted, rolled back, restarted or destroyed what, and when'
complete -c jib -n "__fish_jib_needs_command" -f -a "config" -d 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted'
complete -c jib -n "__fish_jib_needs_command" -f -a "doctor" -d 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS'
complete -c jib -n "__fish_jib_needs_command" -f -a "man" -d 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1'
complete -c jib -n "__fish_jib_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c jib -n "__fish_jib_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jib -n "__fish_jib_using_subcommand init" -l host -d 'Server for branches: an ssh destination (user@host, an ssh_config alias) or `local`' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l domain -d 'Branches are served at <branch>.<domain>' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l root -d 'Where apps live on the server [default: /opt/apps]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l wsgi -d 'WSGI entry point, module:callable [default: detected]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l requirements -d 'Dependency file [default: detected]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l python -d 'Python the venv is built from (3.11, or a path) [default: .python-version, else 3]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -l name -d 'Project name [default: the directory\'s name]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand init" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand init" -s y -l yes -d 'Ask nothing: use the flags and what was detected (host and domain then default to local mode)'
complete -c jib -n "__fish_jib_using_subcommand init" -l force -d 'Overwrite an existing deploy.toml'
complete -c jib -n "__fish_jib_using_subcommand init" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand init" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand init" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand setup" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand setup" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand setup" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand setup" -l install-deps -d 'Install missing system packages (needs root or passwordless sudo on the server)'
complete -c jib -n "__fish_jib_using_subcommand setup" -l root-script -d 'As an unprivileged ssh user: print the one-time root steps as a script for an administrator, instead of running them through sudo'
complete -c jib -n "__fish_jib_using_subcommand setup" -s y -l yes -d 'Don\'t ask for the sudo password: use `sudo -n` (fails if sudo wants a password)'
complete -c jib -n "__fish_jib_using_subcommand setup" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand setup" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand setup" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand push" -l lock-wait -d 'Seconds to wait when another push, promote or rollback of this app holds its lock (0: refuse at once)' -r
complete -c jib -n "__fish_jib_using_subcommand push" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand push" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand push" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand push" -l force -d 'Deploy even when the same commit is already live, or replace the app of another branch whose name maps to the same one'
complete -c jib -n "__fish_jib_using_subcommand push" -l skip-unreachable -d 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next push)'
complete -c jib -n "__fish_jib_using_subcommand push" -l json -d 'Print the result as JSON'
complete -c jib -n "__fish_jib_using_subcommand push" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand push" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand push" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand exec" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand exec" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand exec" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand exec" -s i -l tty -d 'Allocate a terminal, for interactive programs'
complete -c jib -n "__fish_jib_using_subcommand exec" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand exec" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand exec" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand shell" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand shell" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand shell" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand shell" -l bash -d 'A login shell instead of Python'
complete -c jib -n "__fish_jib_using_subcommand shell" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand shell" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand shell" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand logs" -s n -l lines -d 'Lines to show first' -r
complete -c jib -n "__fish_jib_using_subcommand logs" -l process -d 'The log of a [processes] entry (or `cron`) instead' -r
complete -c jib -n "__fish_jib_using_subcommand logs" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand logs" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand logs" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand logs" -s f -l follow -d 'Keep printing new lines (Ctrl-C stops)'
complete -c jib -n "__fish_jib_using_subcommand logs" -l deploy -d 'The log of the deploys instead'
complete -c jib -n "__fish_jib_using_subcommand logs" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand logs" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand logs" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand restart" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand restart" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand restart" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand restart" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand restart" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand restart" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -l no-restart -d 'Do not reload the app after a change (it applies on the next reload)'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -l reveal -d 'Show values (they are masked by default)'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -l json -d 'Print as JSON'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -a "list" -d 'Show the variables (values masked unless --reveal)'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -a "set" -d 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -a "unset" -d 'Remove variables'
complete -c jib -n "__fish_jib_using_subcommand env; and not __fish_seen_subcommand_from list set unset help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -l no-restart -d 'Do not reload the app after a change (it applies on the next reload)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -l reveal -d 'Show values (they are masked by default)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -l json -d 'Print as JSON'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -l no-restart -d 'Do not reload the app after a change (it applies on the next reload)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -l reveal -d 'Show values (they are masked by default)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -l json -d 'Print as JSON'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -l no-restart -d 'Do not reload the app after a change (it applies on the next reload)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -l reveal -d 'Show values (they are masked by default)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -l json -d 'Print as JSON'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from help" -f -a "list" -d 'Show the variables (values masked unless --reveal)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove variables'
complete -c jib -n "__fish_jib_using_subcommand env; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jib -n "__fish_jib_using_subcommand list" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand list" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand list" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand list" -l json -d 'Print as JSON (fields documented in docs/guide.md)'
complete -c jib -n "__fish_jib_using_subcommand list" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand list" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand list" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand status" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand status" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand status" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand status" -l json -d 'Print as JSON (fields documented in docs/guide.md)'
complete -c jib -n "__fish_jib_using_subcommand status" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand status" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand status" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand destroy" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand destroy" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand destroy" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand destroy" -s y -l yes -d 'Do not ask for confirmation'
complete -c jib -n "__fish_jib_using_subcommand destroy" -l force -d 'Allow destroying in the prod environment'
complete -c jib -n "__fish_jib_using_subcommand destroy" -l drop-db -d 'Also drop the app\'s MongoDB database (asks again unless --yes)'
complete -c jib -n "__fish_jib_using_subcommand destroy" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand destroy" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand destroy" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand mongo" -l eval -d 'Run this script and print its output instead of an interactive shell' -r
complete -c jib -n "__fish_jib_using_subcommand mongo" -l copy-from -d 'Replace this branch\'s database with a copy of another\'s: `prod` or a branch' -r
complete -c jib -n "__fish_jib_using_subcommand mongo" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand mongo" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand mongo" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand mongo" -s y -l yes -d 'Do not ask before replacing the database (with --copy-from)'
complete -c jib -n "__fish_jib_using_subcommand mongo" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand mongo" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand mongo" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand open" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand open" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand open" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand open" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand open" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand open" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand prune" -l merged-into -d 'Branches whose deployed commit is in this branch\'s history' -r
complete -c jib -n "__fish_jib_using_subcommand prune" -l older-than -d 'Apps with no request for this long (90m, 14d …)' -r
complete -c jib -n "__fish_jib_using_subcommand prune" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand prune" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand prune" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand prune" -l gone -d 'Branches deleted here and on every remote'
complete -c jib -n "__fish_jib_using_subcommand prune" -l dry-run -d 'Only list what would be destroyed'
complete -c jib -n "__fish_jib_using_subcommand prune" -s y -l yes -d 'Do not ask for confirmation (for cron)'
complete -c jib -n "__fish_jib_using_subcommand prune" -l json -d 'Print the result as JSON'
complete -c jib -n "__fish_jib_using_subcommand prune" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand prune" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand prune" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand promote" -l to -d 'Environment to promote to (default: the one with `domains`)' -r
complete -c jib -n "__fish_jib_using_subcommand promote" -l lock-wait -d 'Seconds to wait when another promote or rollback holds the lock (0: refuse at once)' -r
complete -c jib -n "__fish_jib_using_subcommand promote" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand promote" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand promote" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand promote" -s y -l yes -d 'Do not ask for confirmation (needed without a terminal)'
complete -c jib -n "__fish_jib_using_subcommand promote" -l allow-stale -d 'Promote even when the local branch head differs from what the branch runs'
complete -c jib -n "__fish_jib_using_subcommand promote" -l merge -d 'Afterwards, fast-forward the local main (or master) branch to the promoted commit'
complete -c jib -n "__fish_jib_using_subcommand promote" -l skip-unreachable -d 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next promote)'
complete -c jib -n "__fish_jib_using_subcommand promote" -l json -d 'Print the result as JSON'
complete -c jib -n "__fish_jib_using_subcommand promote" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand promote" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand promote" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand rollback" -l to -d 'Release id, or a prefix of its id or commit, to switch to' -r
complete -c jib -n "__fish_jib_using_subcommand rollback" -l lock-wait -d 'Seconds to wait when a deploy holds the lock (0: refuse at once)' -r
complete -c jib -n "__fish_jib_using_subcommand rollback" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand rollback" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand rollback" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand rollback" -l skip-unreachable -d 'On several servers: go on without the hosts that cannot be reached'
complete -c jib -n "__fish_jib_using_subcommand rollback" -l json -d 'Print as JSON (fields documented in docs/guide.md)'
complete -c jib -n "__fish_jib_using_subcommand rollback" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand rollback" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand releases" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand releases" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand releases" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand releases" -l json -d 'Print as JSON (fields documented in docs/guide.md)'
complete -c jib -n "__fish_jib_using_subcommand releases" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand releases" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand releases" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand audit" -s n -l lines -d 'Entries to show' -r
complete -c jib -n "__fish_jib_using_subcommand audit" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand audit" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand audit" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand audit" -l json -d 'Print as JSON (fields documented in docs/guide.md)'
complete -c jib -n "__fish_jib_using_subcommand audit" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand audit" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand audit" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand config" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand config" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand config" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand config" -l json -d 'Print as JSON'
complete -c jib -n "__fish_jib_using_subcommand config" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand config" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand config" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand doctor" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand doctor" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand doctor" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand doctor" -l json -d 'Print the checks as JSON'
complete -c jib -n "__fish_jib_using_subcommand doctor" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand doctor" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand man" -l out-dir -d 'Write jib.1 and one page per subcommand (jib-push.1 …) into this directory instead' -r -F
complete -c jib -n "__fish_jib_using_subcommand man" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand man" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand man" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand man" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand man" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand man" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand completions" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand completions" -s e -l env -d 'Environment from deploy.toml to act on [default: dev]' -r
complete -c jib -n "__fish_jib_using_subcommand completions" -l host -d 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)' -r
complete -c jib -n "__fish_jib_using_subcommand completions" -s q -l quiet -d 'Only print results and errors'
complete -c jib -n "__fish_jib_using_subcommand completions" -s v -l verbose -d 'Also show the connection, the agent\'s version and each remote step\'s timing'
complete -c jib -n "__fish_jib_using_subcommand completions" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "init" -d 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "setup" -d 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "push" -d 'Deploy a branch (default: the current one) to <branch>.<domain>'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "exec" -d 'Run a command in a branch\'s environment (its venv, env vars, current release)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "shell" -d 'Interactive Python shell in a branch\'s environment (manage.py shell for Django)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "logs" -d 'Show a branch\'s uWSGI log'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "restart" -d 'Graceful reload of one branch (no request dropped; other branches untouched)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "env" -d 'A branch\'s own environment variables: list, set KEY=VALUE…, unset KEY…'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "list" -d 'Every branch deployed in the environment'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "status" -d 'One branch in detail, with its releases'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "destroy" -d 'Stop a branch and remove its releases, venvs no one else uses, env and routing'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "mongo" -d 'MongoDB shell on a branch\'s own database, on the server (mongosh); --eval runs one script'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "open" -d 'Print a branch\'s URL (and open it in a browser when there is a display)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "prune" -d 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "promote" -d 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "rollback" -d 'Switch back to the previous good release (of prod, or of a branch)'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "releases" -d 'Releases kept for prod or a branch: which is current, when, by whom, from which branch'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "audit" -d 'Who pushed, promoted, rolled back, restarted or destroyed what, and when'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "config" -d 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "doctor" -d 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "man" -d 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "completions" -d 'Print shell completions'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from init setup push exec shell logs restart env list status destroy mongo open prune promote rollback releases audit config doctor man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jib -n "__fish_jib_using_subcommand help; and __fish_seen_subcommand_from env" -f -a "list" -d 'Show the variables (values masked unless --reveal)'
complete -c jib -n "__fish_jib_using_subcommand help; and __fish_seen_subcommand_from env" -f -a "set" -d 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
complete -c jib -n "__fish_jib_using_subcommand help; and __fish_seen_subcommand_from env" -f -a "unset" -d 'Remove variables'
