// `bastion replay ID`: every frame of a session in order, one JSON object a line.

import { decodeFrame } from '../proxy/wire/decode.js';
import { parseArgs, UsageError } from './args.js';
import { findSession } from './sessions.js';
import { openStoreForReading } from './store-path.js';

const PAGE = 5000;

export async function replayCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { store: 'string', config: 'string' });
  const [id, extra] = p.positional;
  if (!id) throw new UsageError('replay needs a session ID');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  const store = openStoreForReading(p);
  try {
    const session = findSession(store, id);
    let from = 1;
    for (;;) {
      const frames = store.readFrames(session.id, from, PAGE);
      if (frames.length === 0) break;
      const lines: string[] = [];
      for (const f of frames) {
        const d = decodeFrame(f.dir, f.type, f.body);
        lines.push(JSON.stringify({ seq: f.seq, t_us: f.tUs, dir: f.dir, type: d.type, decoded: d.decoded }));
      }
      if (!process.stdout.write(`${lines.join('\n')}\n`))
        await new Promise((r) => process.stdout.once('drain', r));
      from = frames[frames.length - 1].seq + 1;
    }
  } finally {
    store.close();
  }
  return 0;
}
