// `bastion serve`: runs the gateway until SIGINT/SIGTERM, then stops cleanly, flushing recordings.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigPersistence, vaultEnv } from '../proxy/api/app-config.js';
import { createDispatcher } from '../proxy/api/dispatcher.js';
import { CoreService } from '../proxy/api/service.js';
import { loadConfig } from '../proxy/config/load.js';
import type { GatewayConfig } from '../proxy/config/types.js';
import { AppCore, consoleLogger } from '../proxy/core.js';
import { type Parsed, parseArgs, str, UsageError } from './args.js';
import { controlSocketPath, startControlServer } from './control.js';
import type { Demo } from './demo.js';
import type { UiHost } from './ui-host.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** SIGINT/SIGTERM (and SIGHUP, a closed terminal), handled from the start, also while the demo
 * database starts: a Ctrl-C then stops what has started instead of killing the process and
 * leaving a PostgreSQL behind or recordings unwritten. */
class StopSignal {
  received: NodeJS.Signals | null = null;
  private listener: ((sig: NodeJS.Signals) => void) | null = null;
  private readonly handler = (sig: NodeJS.Signals) => {
    if (this.received) {
      consoleLogger.warn(`${sig}: already stopping, flushing recordings`);
      return;
    }
    this.received = sig;
    this.listener?.(sig);
  };

  constructor() {
    for (const sig of SIGNALS) process.on(sig, this.handler);
  }

  /** Calls `f` once a signal arrives (at once if one already has). */
  onStop(f: (sig: NodeJS.Signals) => void): void {
    this.listener = f;
    if (this.received) f(this.received);
  }

  dispose(): void {
    for (const sig of SIGNALS) process.off(sig, this.handler);
  }
}

export async function serveCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    config: 'string',
    demo: 'boolean',
    'ui-port': 'string',
    'no-ui': 'boolean',
    store: 'string',
  });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const uiPort = str(p, 'ui-port');
  if (uiPort !== undefined && !/^\d{1,5}$/.test(uiPort))
    throw new UsageError('--ui-port must be a port number');
  const configFile =
    str(p, 'config') ?? (!p.flags.demo && existsSync('bastion.yaml') ? 'bastion.yaml' : undefined);
  if (configFile && p.flags.demo) throw new UsageError('--demo and --config cannot be used together');
  // A bad config is reported before anything starts.
  // Secrets of ${BASTION_...} references in an app-managed config come from its vault.
  const config = configFile ? loadConfig(configFile, { ...process.env, ...vaultEnv(configFile) }) : null;

  const signal = new StopSignal();
  try {
    return await serve(p, config, signal);
  } finally {
    signal.dispose();
  }
}

async function serve(p: Parsed, fromFile: GatewayConfig | null, signal: StopSignal): Promise<number> {
  let config: GatewayConfig;
  let demo: Demo | null = null;
  if (fromFile) {
    config = fromFile;
  } else {
    // Loaded only for the demo: it pulls in the embedded PostgreSQL launcher.
    const { startDemo } = await import('./demo.js');
    demo = await startDemo(path.resolve(str(p, 'store') ?? 'bastion.db'), (m) => consoleLogger.info(m));
    if (signal.received) {
      consoleLogger.info(`${signal.received}: stopping`);
      await demo.stop();
      return 0;
    }
    config = demo.config;
  }
  if (str(p, 'store')) config.store = path.resolve(str(p, 'store')!);

  let core: AppCore;
  try {
    core = new AppCore(config);
    await core.start();
  } catch (e) {
    await demo?.stop();
    throw e;
  }
  const service = new CoreService(core, {
    persistence: demo ? null : ConfigPersistence.beside(config.store),
  });
  let ui: UiHost | null = null;
  let control: { close(): Promise<void> } | null = null;
  try {
    // `bastion approvals` (and other local tools) reach this gateway through an owner-only socket,
    // with the whole API: whoever can open it can read the config and the store anyway.
    control = await startControlServer(
      controlSocketPath(config.store),
      createDispatcher(service, { log: (m) => consoleLogger.warn(m) }),
    );
    if (!p.flags['no-ui']) ui = await startUi(service, str(p, 'ui-port'));
  } catch (e) {
    await control?.close();
    await core.stop();
    await demo?.stop();
    throw e;
  }
  // Exit 0 once every recording is in the store; 1 if some could not be written.
  const stopped = new Promise<number>((resolve) => {
    signal.onStop((sig) => {
      consoleLogger.info(`${sig}: stopping, flushing recordings`);
      (async () => {
        try {
          await ui?.close();
          await control?.close();
          service.dispose();
          await core.stop(); // logs what it could not flush
        } finally {
          await demo?.stop();
        }
        return core.writer.backlog === 0 ? 0 : 1;
      })().then(resolve, (e) => {
        consoleLogger.error(`stop failed: ${(e as Error).message}`);
        resolve(1);
      });
    });
  });
  if (!signal.received) {
    for (const a of core.addresses()) {
      const c = config.connections.find((x) => x.name === a.name)!;
      consoleLogger.info(
        `connection "${a.name}" listening on ${a.host}:${a.port} -> ${c.upstream.host}:${c.upstream.port}/${c.upstream.database}`,
      );
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
    if (ui) consoleLogger.info(`UI: ${ui.url}`);
    process.stdout.write('ready\n');
  }
  return stopped;
}

/** The browser UI on 127.0.0.1 (none if the renderer was not built, with a warning). */
async function startUi(service: CoreService, uiPort: string | undefined): Promise<UiHost | null> {
  const staticDir = path.join(import.meta.dirname, '../renderer');
  if (!existsSync(path.join(staticDir, 'index.html'))) {
    consoleLogger.warn('the UI is not built (run `npm run build:ui`); serving without it');
    return null;
  }
  try {
    // Loaded only with the UI: `--no-ui` gateways do not carry the HTTP/WebSocket host.
    const { startUiHost } = await import('./ui-host.js');
    return await startUiHost(service, {
      port: uiPort === undefined ? 0 : Number(uiPort),
      staticDir,
      log: (m) => consoleLogger.warn(m),
    });
  } catch (e) {
    throw new Error(`cannot start the UI on 127.0.0.1:${uiPort ?? 0}: ${(e as Error).message}`);
  }
}
