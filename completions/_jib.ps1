
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
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Deploy a branch (default: the current one) to <branch>.<domain>')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;setup' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--install-deps', '--install-deps', [CompletionResultType]::ParameterName, 'Install missing system packages (needs root or passwordless sudo on the server)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;push' {
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'Seconds to wait when another push of this branch is running (0: refuse at once)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Deploy even when the same commit is already live')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;completions' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Run as if jib was started in this directory')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment from deploy.toml to act on')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'jib;help' {
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Prepare a server once: install the agent, check prerequisites, start the emperor and router, write the nginx site')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Deploy a branch (default: the current one) to <branch>.<domain>')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jib;help;setup' {
            break
        }
        'jib;help;push' {
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
