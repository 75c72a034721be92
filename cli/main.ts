// `bastion` commands (CONTRACT.md "CLI"). Errors in arguments or config: one line, exit 2.

import { ConfigError } from '../proxy/config/load.js';
import { applyGatewayProcessSettings } from '../proxy/runtime.js';
import { UsageError } from './args.js';

const USAGE = `usage: bastion <command> [options]

  serve [--config FILE] [--demo] [--ui-port N] [--no-ui]   run the gateway
  sessions list [--store PATH] [--json]                    recorded sessions, newest first
  sessions show ID [--store PATH] [--json]                 one session's statements
  replay ID [--store PATH]                                 every frame of a session, as JSON lines
  verify [--store PATH]                                    check the store's tamper-evidence chain
  check [--config FILE] [--identity NAME] (--sql TEXT | --file FILE)
                                                           guardrail dry-run, one JSON object per statement
  approvals list|approve ID|deny ID [--config FILE] [--as NAME]
                                                           held statements of a running serve
  report --format pdf|html|csv|json --out FILE [--store PATH] [--since ISO] [--until ISO]
         [--identity NAME] [--connection NAME]             audit report over the store
  export ID --out FILE [--store PATH]                      one session as a self-contained, verifiable file
  import FILE [--json|--replay]                            verify and show an exported session
`;

// Each command is loaded when run: a gateway does not carry the report renderer, and a
// `sessions list` does not load the gateway.
const commands: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  sessions: async () => (await import('./sessions.js')).sessionsCommand,
  replay: async () => (await import('./replay.js')).replayCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  check: async () => (await import('./check.js')).checkCommand,
  approvals: async () => (await import('./approvals.js')).approvalsCommand,
  report: async () => (await import('./report.js')).reportCommand,
  export: async () => (await import('./export.js')).exportCommand,
  import: async () => (await import('./export.js')).importCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (name === undefined)
    throw new UsageError(
      'no command given (serve, sessions, replay, verify, check, approvals, report; see bastion --help)',
    );
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) {
    throw new UsageError(`unknown command "${name}" (see bastion --help)`);
  }
  // `serve` runs for long next to the database: it takes the gateway's process settings, and
  // re-executes itself for the start-up-only ones before the gateway's modules are loaded.
  if (name === 'serve') applyGatewayProcessSettings({ reexec: true });
  return (await load())(rest);
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
