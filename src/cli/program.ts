/**
 * The commander program: names, flags and help text of every command
 * (DESIGN §8). Actions import their implementation on demand.
 */
import { Command, Option } from 'commander';
import { runCommand } from './common.js';

export const CLI_VERSION = '0.3.0';

function socketOption(): Option {
  return new Option('--socket <path>', 'status socket of the daemon (default: $CORDON_SOCKET, ./.cordon/cordon.sock, /run/cordon/cordon.sock)');
}

export function buildProgram(): Command {
  const program = new Command('cordon')
    .description('Governs what AI agents in sandboxes can reach on the network and mount from the host.')
    .version(CLI_VERSION)
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('run')
    .description('run the daemon: proxy, status socket, policy store, event pipeline')
    .option('--config <file>', 'daemon config file (YAML, DESIGN §6)')
    .option('--policy <path|url>', 'policy file, directory or https:// URL (default: the embedded policies/default.yaml)')
    .option('--listen <addr>', 'proxy listen address (default 127.0.0.1:3128)')
    .option('--socks-listen <addr>', 'an extra SOCKS5-only listen address')
    .option('--proxy-socket <path>', 'also serve the proxy on this Unix socket')
    .option('--socket <path>', 'status socket path (default $STATE_DIR/cordon.sock)')
    .option('--state-dir <dir>', 'state directory (default ./.cordon or $CORDON_STATE_DIR)')
    .addOption(new Option('--mode <mode>', 'force enforce or audit over the policy').choices(['enforce', 'audit']))
    .option('--resolver <host:port>', 'DNS server to resolve names with (default: the system resolver)')
    .option('--upstream-proxy <url>', 'send allowed traffic through this proxy (http:// or socks5://)')
    .option('--require-session', 'refuse traffic that presents no session credentials')
    .option('--allow-non-loopback', 'allow listening on a non-loopback address')
    .action((opts: Record<string, unknown>) =>
      runCommand(async () => {
        const { runFromCli } = await import('./commands/run.js');
        return runFromCli(opts);
      }),
    );

  program
    .command('status')
    .description('show the running daemon: policy, listeners, sessions, counters, sinks')
    .option('--json', 'print the API object')
    .addOption(socketOption())
    .action((opts: { json?: boolean; socket?: string }) =>
      runCommand(async () => (await import('./commands/status.js')).statusCommand(opts)),
    );

  program
    .command('check')
    .description('decide a network target as the proxy would (exit 0 allow, 3 deny, 2 invalid)')
    .argument('<target>', 'URL, host[:port] or IP literal; a bare host means port 443')
    .option('--labels <k=v,...>', 'session labels that select the profile')
    .option('--policy <path>', 'decide offline with this policy instead of asking the daemon')
    .option('--resolver <host:port>', 'with --policy: DNS server to resolve with (default: the system resolver)')
    .option('--json', 'print the decision object')
    .addOption(socketOption())
    .action((target: string, opts: Record<string, string | boolean | undefined>) =>
      runCommand(async () => (await import('./commands/check.js')).checkCommand(target, opts)),
    );

  program
    .command('mount')
    .description('decide a sandbox mount (exit 0 allow, 3 deny, 2 invalid)')
    .argument('<path>', 'the host path to mount')
    .option('--ro', 'read-only (default)')
    .option('--rw', 'read-write')
    .option('--labels <k=v,...>', 'session labels that select the profile')
    .option('--policy <path>', 'decide offline with this policy instead of asking the daemon')
    .option('--json', 'print the decision object')
    .addOption(socketOption())
    .action((path: string, opts: Record<string, string | boolean | undefined>) =>
      runCommand(async () => (await import('./commands/mount.js')).mountCommand(path, opts)),
    );

  program
    .command('events')
    .description('show recent decisions; --follow streams new ones')
    .option('--follow', 'keep streaming new events')
    .option('--limit <n>', 'how many recent events', '50')
    .option('--json', 'print events as JSON lines')
    .addOption(socketOption())
    .action((opts: { follow?: boolean; limit: string; json?: boolean; socket?: string }) =>
      runCommand(async () => (await import('./commands/events.js')).eventsCommand(opts)),
    );

  const policy = program.command('policy').description('validate, sign, show and reload policies');
  policy
    .command('validate')
    .description('validate a policy file or directory (exit 0, or 1 with every error)')
    .argument('<path>')
    .action((path: string) => runCommand(async () => (await import('./commands/policy.js')).validateCommand(path)));
  policy
    .command('sign')
    .description('write PATH.sig, a detached Ed25519 signature by KEY')
    .argument('<path>')
    .requiredOption('--key <file>', 'private key made by `cordon keygen`')
    .action((path: string, opts: { key: string }) =>
      runCommand(async () => (await import('./commands/policy.js')).signCommand(path, opts.key)),
    );
  policy
    .command('show')
    .description("show the daemon's active policy")
    .option('--json', 'print the API object')
    .addOption(socketOption())
    .action((opts: { json?: boolean; socket?: string }) =>
      runCommand(async () => (await import('./commands/policy.js')).showCommand(opts)),
    );
  policy
    .command('reload')
    .description('make the daemon re-read its policy sources now')
    .option('--json', 'print the API object')
    .addOption(socketOption())
    .action((opts: { json?: boolean; socket?: string }) =>
      runCommand(async () => (await import('./commands/policy.js')).reloadCommand(opts)),
    );

  program
    .command('keygen')
    .description('make an Ed25519 key pair for signing policies')
    .requiredOption('--out <dir>', 'directory for the key files')
    .option('--name <name>', 'key name (file names and key label)', 'cordon-policy')
    .action((opts: { out: string; name: string }) =>
      runCommand(async () => (await import('./commands/policy.js')).keygenCommand(opts.out, opts.name)),
    );

  program
    .command('exec')
    .passThroughOptions()
    .description('run a command in a sandbox whose only way out is cordon (Linux, bubblewrap)')
    .option('--labels <k=v,...>', 'session labels that select the profile')
    .option('--mount <path[:ro|:rw]>', 'bind a host path (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--cwd <dir>', 'working directory inside the sandbox')
    .addOption(socketOption())
    .argument('<command...>', 'the command and its arguments (after --)')
    .action((command: string[], opts: Record<string, unknown>) =>
      runCommand(async () => (await import('./commands/exec.js')).execCommand(command, opts)),
    );

  return program;
}
