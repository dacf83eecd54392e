# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_jib_global_optspecs
    string join \n C/dir= e/env= h/help V/version
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
complete -c jib -n "__fish_jib_needs_command" -s e -l env -d 'Environment from deploy.toml to act on' -r
complete -c jib -n "__fish_jib_needs_command" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_needs_command" -s V -l version -d 'Print version'
complete -c jib -n "__fish_jib_needs_command" -f -a "setup" -d 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
complete -c jib -n "__fish_jib_needs_command" -f -a "push" -d 'Deploy a branch (default: the current one) to <branch>.<domain>'
complete -c jib -n "__fish_jib_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c jib -n "__fish_jib_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jib -n "__fish_jib_using_subcommand setup" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand setup" -s e -l env -d 'Environment from deploy.toml to act on' -r
complete -c jib -n "__fish_jib_using_subcommand setup" -l install-deps -d 'Install missing system packages (needs root or passwordless sudo on the server)'
complete -c jib -n "__fish_jib_using_subcommand setup" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand push" -l lock-wait -d 'Seconds to wait when another push of this branch is running (0: refuse at once)' -r
complete -c jib -n "__fish_jib_using_subcommand push" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand push" -s e -l env -d 'Environment from deploy.toml to act on' -r
complete -c jib -n "__fish_jib_using_subcommand push" -l force -d 'Deploy even when the same commit is already live'
complete -c jib -n "__fish_jib_using_subcommand push" -l json -d 'Print the result as JSON'
complete -c jib -n "__fish_jib_using_subcommand push" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand completions" -s C -l dir -d 'Run as if jib was started in this directory' -r -F
complete -c jib -n "__fish_jib_using_subcommand completions" -s e -l env -d 'Environment from deploy.toml to act on' -r
complete -c jib -n "__fish_jib_using_subcommand completions" -s h -l help -d 'Print help'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from setup push completions help" -f -a "setup" -d 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from setup push completions help" -f -a "push" -d 'Deploy a branch (default: the current one) to <branch>.<domain>'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from setup push completions help" -f -a "completions" -d 'Print shell completions'
complete -c jib -n "__fish_jib_using_subcommand help; and not __fish_seen_subcommand_from setup push completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
