
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'jib' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'jib'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'jib' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)')
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Deploy a branch (default: the current one) to <branch>.<domain>')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command in a branch''s environment (its venv, env vars, current release)')
            [CompletionResult]::new('shell', 'shell', [CompletionResultType]::ParameterValue, 'Interactive Python shell in a branch''s environment (manage.py shell for Django)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show a branch''s uWSGI log')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Graceful reload of one branch (no request dropped; other branches untouched)')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'A branch''s own environment variables: list, set KEY=VALUE…, unset KEY…')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Every branch deployed in the environment')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'One branch in detail, with its releases')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Stop a branch and remove its releases, venvs no one else uses, env and routing')
            [CompletionResult]::new('mongo', 'mongo', [CompletionResultType]::ParameterValue, 'MongoDB shell on a branch''s own database, on the server (mongosh); --eval runs one script')
            [CompletionResult]::new('open', 'open', [CompletionResultType]::ParameterValue, 'Print a branch''s URL (and open it in a browser when there is a display)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Switch back to the previous good release (of prod, or of a branch)')
            [CompletionResult]::new('releases', 'releases', [CompletionResultType]::ParameterValue, 'Releases kept for prod or a branch: which is current, when, by whom, from which branch')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Who pushed, promoted, rolled back, restarted or destroyed what, and when')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;init' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server for branches: an ssh destination (user@host, an ssh_config alias) or `local`')
            [CompletionResult]::new('--domain', '--domain', [CompletionResultType]::ParameterName, 'Branches are served at <branch>.<domain>')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Where apps live on the server [default: /opt/apps]')
            [CompletionResult]::new('--wsgi', '--wsgi', [CompletionResultType]::ParameterName, 'WSGI entry point, module:callable [default: detected]')
            [CompletionResult]::new('--requirements', '--requirements', [CompletionResultType]::ParameterName, 'Dependency file [default: detected]')
            [CompletionResult]::new('--python', '--python', [CompletionResultType]::ParameterName, 'Python the venv is built from (3.11, or a path) [default: .python-version, else 3]')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Project name [default: the directory''s name]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Ask nothing: use the flags and what was detected (host and domain then default to local mode)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Ask nothing: use the flags and what was detected (host and domain then default to local mode)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing deploy.toml')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;setup' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--install-deps', '--install-deps', [CompletionResultType]::ParameterName, 'Install missing system packages (needs root or passwordless sudo on the server)')
            [CompletionResult]::new('--root-script', '--root-script', [CompletionResultType]::ParameterName, 'As an unprivileged ssh user: print the one-time root steps as a script for an administrator, instead of running them through sudo')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Don''t ask for the sudo password: use `sudo -n` (fails if sudo wants a password)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Don''t ask for the sudo password: use `sudo -n` (fails if sudo wants a password)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;push' {
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'Seconds to wait when another push, promote or rollback of this app holds its lock (0: refuse at once)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Deploy even when the same commit is already live, or replace the app of another branch whose name maps to the same one')
            [CompletionResult]::new('--skip-unreachable', '--skip-unreachable', [CompletionResultType]::ParameterName, 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next push)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;exec' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Allocate a terminal, for interactive programs')
            [CompletionResult]::new('--tty', '--tty', [CompletionResultType]::ParameterName, 'Allocate a terminal, for interactive programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;shell' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--bash', '--bash', [CompletionResultType]::ParameterName, 'A login shell instead of Python')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;logs' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Lines to show first')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'Lines to show first')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'The log of a [processes] entry (or `cron`) instead')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing new lines (Ctrl-C stops)')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing new lines (Ctrl-C stops)')
            [CompletionResult]::new('--deploy', '--deploy', [CompletionResultType]::ParameterName, 'The log of the deploys instead')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;restart' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;env' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--no-restart', '--no-restart', [CompletionResultType]::ParameterName, 'Do not reload the app after a change (it applies on the next reload)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Show values (they are masked by default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Show the variables (values masked unless --reveal)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove variables')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;env;list' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--no-restart', '--no-restart', [CompletionResultType]::ParameterName, 'Do not reload the app after a change (it applies on the next reload)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Show values (they are masked by default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;env;set' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--no-restart', '--no-restart', [CompletionResultType]::ParameterName, 'Do not reload the app after a change (it applies on the next reload)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Show values (they are masked by default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;env;unset' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--no-restart', '--no-restart', [CompletionResultType]::ParameterName, 'Do not reload the app after a change (it applies on the next reload)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Show values (they are masked by default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;env;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Show the variables (values masked unless --reveal)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove variables')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;env;help;list' {
            break
        }
        'jib;env;help;set' {
            break
        }
        'jib;env;help;unset' {
            break
        }
        'jib;env;help;help' {
            break
        }
        'jib;list' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON (fields documented in docs/guide.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;status' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON (fields documented in docs/guide.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;destroy' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Allow destroying in the prod environment')
            [CompletionResult]::new('--drop-db', '--drop-db', [CompletionResultType]::ParameterName, 'Also drop the app''s MongoDB database (asks again unless --yes)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;mongo' {
            [CompletionResult]::new('--eval', '--eval', [CompletionResultType]::ParameterName, 'Run this script and print its output instead of an interactive shell')
            [CompletionResult]::new('--copy-from', '--copy-from', [CompletionResultType]::ParameterName, 'Replace this branch''s database with a copy of another''s: `prod` or a branch')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask before replacing the database (with --copy-from)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask before replacing the database (with --copy-from)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;open' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;prune' {
            [CompletionResult]::new('--merged-into', '--merged-into', [CompletionResultType]::ParameterName, 'Branches whose deployed commit is in this branch''s history')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Apps with no request for this long (90m, 14d …)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--gone', '--gone', [CompletionResultType]::ParameterName, 'Branches deleted here and on every remote')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only list what would be destroyed')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (for cron)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (for cron)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;promote' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Environment to promote to (default: the one with `domains`)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'Seconds to wait when another promote or rollback holds the lock (0: refuse at once)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal)')
            [CompletionResult]::new('--allow-stale', '--allow-stale', [CompletionResultType]::ParameterName, 'Promote even when the local branch head differs from what the branch runs')
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'Afterwards, fast-forward the local main (or master) branch to the promoted commit')
            [CompletionResult]::new('--skip-unreachable', '--skip-unreachable', [CompletionResultType]::ParameterName, 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next promote)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;rollback' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Release id, or a prefix of its id or commit, to switch to')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'Seconds to wait when a deploy holds the lock (0: refuse at once)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--skip-unreachable', '--skip-unreachable', [CompletionResultType]::ParameterName, 'On several servers: go on without the hosts that cannot be reached')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON (fields documented in docs/guide.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;releases' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON (fields documented in docs/guide.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;audit' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Entries to show')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'Entries to show')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON (fields documented in docs/guide.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;config' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;doctor' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the checks as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;man' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write jib.1 and one page per subcommand (jib-push.1 …) into this directory instead')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;completions' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on [default: dev]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only print results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show the connection, the agent''s version and each remote step''s timing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)')
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Deploy a branch (default: the current one) to <branch>.<domain>')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command in a branch''s environment (its venv, env vars, current release)')
            [CompletionResult]::new('shell', 'shell', [CompletionResultType]::ParameterValue, 'Interactive Python shell in a branch''s environment (manage.py shell for Django)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show a branch''s uWSGI log')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Graceful reload of one branch (no request dropped; other branches untouched)')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'A branch''s own environment variables: list, set KEY=VALUE…, unset KEY…')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Every branch deployed in the environment')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'One branch in detail, with its releases')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Stop a branch and remove its releases, venvs no one else uses, env and routing')
            [CompletionResult]::new('mongo', 'mongo', [CompletionResultType]::ParameterValue, 'MongoDB shell on a branch''s own database, on the server (mongosh); --eval runs one script')
            [CompletionResult]::new('open', 'open', [CompletionResultType]::ParameterValue, 'Print a branch''s URL (and open it in a browser when there is a display)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Switch back to the previous good release (of prod, or of a branch)')
            [CompletionResult]::new('releases', 'releases', [CompletionResultType]::ParameterValue, 'Releases kept for prod or a branch: which is current, when, by whom, from which branch')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Who pushed, promoted, rolled back, restarted or destroyed what, and when')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;help;init' {
            break
        }
        'jib;help;setup' {
            break
        }
        'jib;help;push' {
            break
        }
        'jib;help;exec' {
            break
        }
        'jib;help;shell' {
            break
        }
        'jib;help;logs' {
            break
        }
        'jib;help;restart' {
            break
        }
        'jib;help;env' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Show the variables (values masked unless --reveal)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove variables')
            break
        }
        'jib;help;env;list' {
            break
        }
        'jib;help;env;set' {
            break
        }
        'jib;help;env;unset' {
            break
        }
        'jib;help;list' {
            break
        }
        'jib;help;status' {
            break
        }
        'jib;help;destroy' {
            break
        }
        'jib;help;mongo' {
            break
        }
        'jib;help;open' {
            break
        }
        'jib;help;prune' {
            break
        }
        'jib;help;promote' {
            break
        }
        'jib;help;rollback' {
            break
        }
        'jib;help;releases' {
            break
        }
        'jib;help;audit' {
            break
        }
        'jib;help;config' {
            break
        }
        'jib;help;doctor' {
            break
        }
        'jib;help;man' {
            break
        }
        'jib;help;completions' {
            break
        }
        'jib;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
