/**
 * The `fedmeta` command: argument dispatch only. Each sub-command lives in its own
 * module under ./commands and is loaded on demand, so `fedmeta dp ...` never pays
 * for loading TensorFlow.js and `fedmeta vectors verify` never opens a socket.
 */
import { pathToFileURL } from 'node:url';
import { CliError } from './errors.js';
import { usageRequested } from './usage.js';

export interface Command {
  /** Runs the command with the arguments after its name; resolves to an exit code. */
  run(argv: string[]): Promise<number>;
}

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

const commands: Record<string, Entry> = {
  simulate: { summary: 'run a whole federation (server + N clients) over loopback WebSockets', load: () => import('./commands/simulate.js') },
  server: { summary: 'run the federation coordinator: fedmeta server --config FILE', load: () => import('./commands/server.js') },
  client: { summary: 'run one institution\'s client: fedmeta client --config FILE', load: () => import('./commands/client.js') },
  keygen: { summary: 'create an Ed25519 identity key pair for an institution', load: () => import('./commands/keygen.js') },
  status: { summary: 'show a running or checkpointed federation\'s state', load: () => import('./commands/status.js') },
  vectors: { summary: 'generate or verify the protocol test vectors', load: () => import('./commands/vectors.js') },
  dp: { summary: 'differential privacy: plan, epsilon, account', load: () => import('./commands/dp.js') },
  predict: { summary: 'predict with a model directory: fedmeta predict --model DIR --data FILE.csv', load: async () => ({ run: async (argv: string[]) => (await import('./commands/model.js')).run(argv, 'predict') }) },
  evaluate: { summary: 'accuracy and loss of a model directory on a labelled file', load: async () => ({ run: async (argv: string[]) => (await import('./commands/model.js')).run(argv, 'evaluate') }) },
};

export function usage(): string {
  const lines = ['usage: fedmeta <command> [options]', '', 'commands:'];
  for (const [name, entry] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${entry.summary}`);
  lines.push('', 'Run `fedmeta <command> --help` for a command\'s options.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const helped = usageRequested(name, usage());
  if (helped !== null) return helped;
  const entry = commands[name!]; // usageRequested answered for a missing name
  if (!entry) {
    console.error(`fedmeta: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`fedmeta ${name}: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
