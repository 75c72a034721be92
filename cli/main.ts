// `bastion` commands (CONTRACT.md "CLI"). Errors in arguments or config: one line, exit 2.

import { ConfigError } from '../proxy/config/load.js';
import { UsageError } from './args.js';
import { replayCommand } from './replay.js';
import { serveCommand } from './serve.js';
import { sessionsCommand } from './sessions.js';
import { verifyCommand } from './verify.js';

const USAGE = `usage: bastion <command> [options]

  serve [--config FILE] [--demo] [--ui-port N] [--no-ui]   run the gateway
  sessions list [--store PATH] [--json]                    recorded sessions, newest first
  sessions show ID [--store PATH] [--json]                 one session's statements
  replay ID [--store PATH]                                 every frame of a session, as JSON lines
  verify [--store PATH]                                    check the store's tamper-evidence chain
`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  serve: serveCommand,
  sessions: sessionsCommand,
  replay: replayCommand,
  verify: verifyCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (name === undefined)
    throw new UsageError('no command given (serve, sessions, replay, verify; see bastion --help)');
  const command = commands[name];
  if (command === undefined) {
    const later = ['check', 'approvals', 'report'].includes(name);
    throw new UsageError(
      later
        ? `"${name}" is not available in this version of bastion`
        : `unknown command "${name}" (see bastion --help)`,
    );
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is done: should a stray handle keep the event loop alive, exit anyway.
    setTimeout(() => process.exit(code), 5000).unref();
  },
  (e) => {
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(`bastion: ${e.message}`);
      process.exitCode = 2;
    } else {
      console.error(`bastion: ${(e as Error).message ?? e}`);
      if (process.env.BASTION_DEBUG) console.error((e as Error).stack);
      process.exitCode = 1;
    }
  },
);
