// `bastion serve`: runs the gateway until SIGINT/SIGTERM, then stops cleanly, flushing recordings.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../proxy/config/load.js';
import type { GatewayConfig } from '../proxy/config/types.js';
import { AppCore, consoleLogger } from '../proxy/core.js';
import { parseArgs, str, UsageError } from './args.js';
import type { Demo } from './demo.js';

export async function serveCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { config: 'string', demo: 'boolean', 'ui-port': 'string', 'no-ui': 'boolean', store: 'string' });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const uiPort = str(p, 'ui-port');
  if (uiPort !== undefined && !/^\d{1,5}$/.test(uiPort)) throw new UsageError('--ui-port must be a port number');
  const configFile = str(p, 'config') ?? (!p.flags.demo && existsSync('bastion.yaml') ? 'bastion.yaml' : undefined);
  if (configFile && p.flags.demo) throw new UsageError('--demo and --config cannot be used together');

  let config: GatewayConfig;
  let demo: Demo | null = null;
  if (configFile) {
    config = loadConfig(configFile);
  } else {
    // Loaded only for the demo: it pulls in the embedded PostgreSQL launcher.
    const { startDemo } = await import('./demo.js');
    demo = await startDemo(path.resolve(str(p, 'store') ?? 'bastion.db'), (m) => consoleLogger.info(m));
    config = demo.config;
  }
  if (str(p, 'store')) config.store = path.resolve(str(p, 'store')!);

  const core = new AppCore(config);
  let stopping: Promise<void> | null = null;
  const stop = (signal: string) => {
    if (stopping) return stopping;
    consoleLogger.info(`${signal}: stopping, flushing recordings`);
    stopping = (async () => {
      await core.stop();
      await demo?.stop();
    })();
    return stopping;
  };
  try {
    await core.start();
  } catch (e) {
    await demo?.stop();
    throw e;
  }
  for (const a of core.addresses()) {
    const c = config.connections.find((x) => x.name === a.name)!;
    consoleLogger.info(`connection "${a.name}" listening on ${a.host}:${a.port} -> ${c.upstream.host}:${c.upstream.port}/${c.upstream.database}`);
  }
  consoleLogger.info(`recording to ${config.store}`);
  if (demo) {
    const a = core.addresses()[0];
    process.stdout.write(
      `Demo: an embedded PostgreSQL with synthetic customers, orders and PII is behind the gateway.\n` +
        `Connect with:\n  PGPASSWORD='${demo.identity.password}' psql "host=${a.host} port=${a.port} user=${demo.identity.name} dbname=demo sslmode=require"\n` +
        `Then list what was recorded with: npx bastion sessions list --store ${path.relative(process.cwd(), config.store) || config.store}\n`,
    );
  }
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      stop(sig).then(resolve, (e) => {
        consoleLogger.error(`stop failed: ${(e as Error).message}`);
        resolve();
      });
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
  return 0;
}
