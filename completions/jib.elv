
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
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)'
            cand setup 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
            cand push 'Deploy a branch (default: the current one) to <branch>.<domain>'
            cand exec 'Run a command in a branch''s environment (its venv, env vars, current release)'
            cand shell 'Interactive Python shell in a branch''s environment (manage.py shell for Django)'
            cand logs 'Show a branch''s uWSGI log'
            cand restart 'Graceful reload of one branch (no request dropped; other branches untouched)'
            cand env 'A branch''s own environment variables: list, set KEY=VALUE…, unset KEY…'
            cand list 'Every branch deployed in the environment'
            cand status 'One branch in detail, with its releases'
            cand destroy 'Stop a branch and remove its releases, venvs no one else uses, env and routing'
            cand mongo 'MongoDB shell on a branch''s own database, on the server (mongosh); --eval runs one script'
            cand open 'Print a branch''s URL (and open it in a browser when there is a display)'
            cand prune 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk'
            cand promote 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime'
            cand rollback 'Switch back to the previous good release (of prod, or of a branch)'
            cand releases 'Releases kept for prod or a branch: which is current, when, by whom, from which branch'
            cand audit 'Who pushed, promoted, rolled back, restarted or destroyed what, and when'
            cand config 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted'
            cand doctor 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS'
            cand man 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;init'= {
            cand --host 'Server for branches: an ssh destination (user@host, an ssh_config alias) or `local`'
            cand --domain 'Branches are served at <branch>.<domain>'
            cand --root 'Where apps live on the server [default: /opt/apps]'
            cand --wsgi 'WSGI entry point, module:callable [default: detected]'
            cand --requirements 'Dependency file [default: detected]'
            cand --python 'Python the venv is built from (3.11, or a path) [default: .python-version, else 3]'
            cand --name 'Project name [default: the directory''s name]'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand -y 'Ask nothing: use the flags and what was detected (host and domain then default to local mode)'
            cand --yes 'Ask nothing: use the flags and what was detected (host and domain then default to local mode)'
            cand --force 'Overwrite an existing deploy.toml'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;setup'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --install-deps 'Install missing system packages (needs root or passwordless sudo on the server)'
            cand --root-script 'As an unprivileged ssh user: print the one-time root steps as a script for an administrator, instead of running them through sudo'
            cand -y 'Don''t ask for the sudo password: use `sudo -n` (fails if sudo wants a password)'
            cand --yes 'Don''t ask for the sudo password: use `sudo -n` (fails if sudo wants a password)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;push'= {
            cand --lock-wait 'Seconds to wait when another push, promote or rollback of this app holds its lock (0: refuse at once)'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --force 'Deploy even when the same commit is already live, or replace the app of another branch whose name maps to the same one'
            cand --skip-unreachable 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next push)'
            cand --json 'Print the result as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;exec'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -i 'Allocate a terminal, for interactive programs'
            cand --tty 'Allocate a terminal, for interactive programs'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;shell'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --bash 'A login shell instead of Python'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;logs'= {
            cand -n 'Lines to show first'
            cand --lines 'Lines to show first'
            cand --process 'The log of a [processes] entry (or `cron`) instead'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -f 'Keep printing new lines (Ctrl-C stops)'
            cand --follow 'Keep printing new lines (Ctrl-C stops)'
            cand --deploy 'The log of the deploys instead'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;restart'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;env'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --no-restart 'Do not reload the app after a change (it applies on the next reload)'
            cand --reveal 'Show values (they are masked by default)'
            cand --json 'Print as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Show the variables (values masked unless --reveal)'
            cand set 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
            cand unset 'Remove variables'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;env;list'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --no-restart 'Do not reload the app after a change (it applies on the next reload)'
            cand --reveal 'Show values (they are masked by default)'
            cand --json 'Print as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;env;set'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --no-restart 'Do not reload the app after a change (it applies on the next reload)'
            cand --reveal 'Show values (they are masked by default)'
            cand --json 'Print as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;env;unset'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --no-restart 'Do not reload the app after a change (it applies on the next reload)'
            cand --reveal 'Show values (they are masked by default)'
            cand --json 'Print as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;env;help'= {
            cand list 'Show the variables (values masked unless --reveal)'
            cand set 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
            cand unset 'Remove variables'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;env;help;list'= {
        }
        &'jib;env;help;set'= {
        }
        &'jib;env;help;unset'= {
        }
        &'jib;env;help;help'= {
        }
        &'jib;list'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print as JSON (fields documented in docs/guide.md)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;status'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print as JSON (fields documented in docs/guide.md)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;destroy'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --force 'Allow destroying in the prod environment'
            cand --drop-db 'Also drop the app''s MongoDB database (asks again unless --yes)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;mongo'= {
            cand --eval 'Run this script and print its output instead of an interactive shell'
            cand --copy-from 'Replace this branch''s database with a copy of another''s: `prod` or a branch'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -y 'Do not ask before replacing the database (with --copy-from)'
            cand --yes 'Do not ask before replacing the database (with --copy-from)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;open'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;prune'= {
            cand --merged-into 'Branches whose deployed commit is in this branch''s history'
            cand --older-than 'Apps with no request for this long (90m, 14d …)'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --gone 'Branches deleted here and on every remote'
            cand --dry-run 'Only list what would be destroyed'
            cand -y 'Do not ask for confirmation (for cron)'
            cand --yes 'Do not ask for confirmation (for cron)'
            cand --json 'Print the result as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;promote'= {
            cand --to 'Environment to promote to (default: the one with `domains`)'
            cand --lock-wait 'Seconds to wait when another promote or rollback holds the lock (0: refuse at once)'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -y 'Do not ask for confirmation (needed without a terminal)'
            cand --yes 'Do not ask for confirmation (needed without a terminal)'
            cand --allow-stale 'Promote even when the local branch head differs from what the branch runs'
            cand --merge 'Afterwards, fast-forward the local main (or master) branch to the promoted commit'
            cand --skip-unreachable 'On several servers: go on without the hosts that cannot be reached (they stay behind until the next promote)'
            cand --json 'Print the result as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;rollback'= {
            cand --to 'Release id, or a prefix of its id or commit, to switch to'
            cand --lock-wait 'Seconds to wait when a deploy holds the lock (0: refuse at once)'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --skip-unreachable 'On several servers: go on without the hosts that cannot be reached'
            cand --json 'Print as JSON (fields documented in docs/guide.md)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;releases'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print as JSON (fields documented in docs/guide.md)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;audit'= {
            cand -n 'Entries to show'
            cand --lines 'Entries to show'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print as JSON (fields documented in docs/guide.md)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;config'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;doctor'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand --json 'Print the checks as JSON'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;man'= {
            cand --out-dir 'Write jib.1 and one page per subcommand (jib-push.1 …) into this directory instead'
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;completions'= {
            cand -C 'Run as if jib was started in this directory'
            cand --dir 'Run as if jib was started in this directory'
            cand -e 'Environment from deploy.toml to act on [default: dev]'
            cand --env 'Environment from deploy.toml to act on [default: dev]'
            cand --host 'On several servers: act on this host only (logs, exec, shell, status …; default: every host, or the first reachable)'
            cand -q 'Only print results and errors'
            cand --quiet 'Only print results and errors'
            cand -v 'Also show the connection, the agent''s version and each remote step''s timing'
            cand --verbose 'Also show the connection, the agent''s version and each remote step''s timing'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'jib;help'= {
            cand init 'Write a commented deploy.toml for this repository (detects Django/Flask and the dependency file; asks for the rest)'
            cand setup 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site'
            cand push 'Deploy a branch (default: the current one) to <branch>.<domain>'
            cand exec 'Run a command in a branch''s environment (its venv, env vars, current release)'
            cand shell 'Interactive Python shell in a branch''s environment (manage.py shell for Django)'
            cand logs 'Show a branch''s uWSGI log'
            cand restart 'Graceful reload of one branch (no request dropped; other branches untouched)'
            cand env 'A branch''s own environment variables: list, set KEY=VALUE…, unset KEY…'
            cand list 'Every branch deployed in the environment'
            cand status 'One branch in detail, with its releases'
            cand destroy 'Stop a branch and remove its releases, venvs no one else uses, env and routing'
            cand mongo 'MongoDB shell on a branch''s own database, on the server (mongosh); --eval runs one script'
            cand open 'Print a branch''s URL (and open it in a browser when there is a display)'
            cand prune 'Destroy branch apps that are merged, gone or unvisited (never prod), and free their disk'
            cand promote 'Ship the exact build a branch runs (code and packages) to prod, with zero downtime'
            cand rollback 'Switch back to the previous good release (of prod, or of a branch)'
            cand releases 'Releases kept for prod or a branch: which is current, when, by whom, from which branch'
            cand audit 'Who pushed, promoted, rolled back, restarted or destroyed what, and when'
            cand config 'Print the configuration jib acts on: defaults filled in, paths resolved, secrets redacted'
            cand doctor 'Check everything from this machine to the server: git, ssh, deploy.toml, the agent, emperor, router, nginx, sockets, disk, Python, DNS'
            cand man 'Print the man page (roff): jib man > /usr/local/share/man/man1/jib.1'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jib;help;init'= {
        }
        &'jib;help;setup'= {
        }
        &'jib;help;push'= {
        }
        &'jib;help;exec'= {
        }
        &'jib;help;shell'= {
        }
        &'jib;help;logs'= {
        }
        &'jib;help;restart'= {
        }
        &'jib;help;env'= {
            cand list 'Show the variables (values masked unless --reveal)'
            cand set 'Set variables: KEY=VALUE … (values are kept exactly, spaces, quotes and newlines included)'
            cand unset 'Remove variables'
        }
        &'jib;help;env;list'= {
        }
        &'jib;help;env;set'= {
        }
        &'jib;help;env;unset'= {
        }
        &'jib;help;list'= {
        }
        &'jib;help;status'= {
        }
        &'jib;help;destroy'= {
        }
        &'jib;help;mongo'= {
        }
        &'jib;help;open'= {
        }
        &'jib;help;prune'= {
        }
        &'jib;help;promote'= {
        }
        &'jib;help;rollback'= {
        }
        &'jib;help;releases'= {
        }
        &'jib;help;audit'= {
        }
        &'jib;help;config'= {
        }
        &'jib;help;doctor'= {
        }
        &'jib;help;man'= {
        }
        &'jib;help;completions'= {
        }
        &'jib;help;help'= {
        }
    ]
    $completions[$command]
}
