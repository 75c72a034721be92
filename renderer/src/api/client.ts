// The renderer's one API client. It implements shared/api.ts over one of two transports and the
// screens never know which: `ipc` when the Electron preload exposed `window.bastion`, else `ws`,
// the headless host's WebSocket (token from the page URL, kept for reloads in sessionStorage).
// Both carry the dispatcher's outcomes (shared/rpc.ts): a failed call rejects with an ApiError whose
// `code` (a SQLSTATE or an API error code) is data; WebSocket events come in per-frame batches.

import type { BastionApi, BastionBridge, BastionEvent, BastionEventSource } from '../../../shared/api.js';
import {
  ApiError,
  apiOverRpc,
  type RpcCall,
  type RpcEventBatch,
  type RpcOutcome,
  type RpcReply,
} from '../../../shared/rpc.js';

export type TransportKind = 'ipc' | 'ws';
export type ClientStatus = 'connecting' | 'open' | 'closed';

export interface ApiClient extends BastionApi, BastionEventSource {
  readonly transport: TransportKind;
  /** Called on every change of the link to the host; `reconnected` after a drop (reload state). */
  onStatus(
    listener: (status: ClientStatus, info: { reconnected: boolean; error: string | null }) => void,
  ): () => void;
  /** Host navigation requests (Electron notifications). */
  onNavigate(listener: (route: string) => void): () => void;
}

declare global {
  interface Window {
    bastion?: BastionBridge;
  }
}

function ipcClient(bridge: BastionBridge): ApiClient {
  return {
    ...apiOverRpc((method, params) => bridge.call(method, params)),
    transport: 'ipc',
    subscribe: (l) => bridge.subscribe(l),
    onStatus(listener) {
      listener('open', { reconnected: false, error: null });
      return () => {};
    },
    onNavigate: (l) => bridge.onNavigate(l),
  };
}

const TOKEN_KEY = 'bastion.token';

/** The token from ?token= (then removed from the address bar), or the one kept for this tab. */
export function takeToken(loc: Location, storage: Storage, history: History): string | null {
  const params = new URLSearchParams(loc.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    storage.setItem(TOKEN_KEY, fromUrl);
    params.delete('token');
    const search = params.toString();
    history.replaceState(null, '', `${loc.pathname}${search ? `?${search}` : ''}${loc.hash}`);
    return fromUrl;
  }
  return storage.getItem(TOKEN_KEY);
}

interface Pending {
  resolve(outcome: RpcOutcome): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const CALL_TIMEOUT_MS = 60_000;

function wsClient(url: string): ApiClient {
  const listeners = new Set<(e: BastionEvent) => void>();
  const statusListeners = new Set<
    (s: ClientStatus, info: { reconnected: boolean; error: string | null }) => void
  >();
  const pending = new Map<number, Pending>();
  const queued: string[] = [];
  let ws: WebSocket | null = null;
  let nextId = 1;
  let status: ClientStatus = 'connecting';
  let everOpened = false;
  let failures = 0;
  let lastError: string | null = null;

  const setStatus = (s: ClientStatus, reconnected = false) => {
    status = s;
    for (const l of statusListeners) l(s, { reconnected, error: lastError });
  };

  const open = () => {
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => {
      const reconnected = everOpened;
      everOpened = true;
      failures = 0;
      lastError = null;
      for (const m of queued.splice(0)) sock.send(m);
      setStatus('open', reconnected);
    };
    sock.onmessage = (ev) => {
      let msg: Partial<RpcReply & RpcEventBatch>;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      // Events come in batches (one per frame's time on the host), in order.
      if (Array.isArray(msg.events)) {
        for (const e of msg.events) for (const l of listeners) l(e);
        return;
      }
      const p = typeof msg.id === 'number' ? pending.get(msg.id) : undefined;
      if (!p) return;
      pending.delete(msg.id as number);
      clearTimeout(p.timer);
      p.resolve(msg as RpcReply);
    };
    sock.onclose = (ev) => {
      ws = null;
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new ApiError('the connection to the gateway was lost', 'unavailable'));
        pending.delete(id);
      }
      failures++;
      lastError = everOpened
        ? `The connection to the gateway was lost (${ev.code}). Reconnecting...`
        : 'Cannot reach the gateway. If it was restarted, open the new URL it printed: the token changes at every start.';
      setStatus('closed');
      const delay = Math.min(5000, 300 * 2 ** Math.min(failures, 5));
      setTimeout(() => {
        setStatus('connecting');
        open();
      }, delay);
    };
  };

  const call: RpcCall = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const text = JSON.stringify({ id, method, params });
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new ApiError(`${method}: no answer from the gateway`, 'timeout'));
      }, CALL_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
      else queued.push(text);
    });

  open();
  return {
    ...apiOverRpc(call),
    transport: 'ws',
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    onStatus(l) {
      statusListeners.add(l);
      l(status, { reconnected: false, error: lastError });
      return () => statusListeners.delete(l);
    },
    onNavigate() {
      return () => {};
    },
  };
}

/** The client for wherever this page runs. */
export function createClient(): ApiClient {
  if (window.bastion) return ipcClient(window.bastion);
  const token = takeToken(window.location, window.sessionStorage, window.history) ?? '';
  const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return wsClient(`${proto}://${window.location.host}/api?token=${encodeURIComponent(token)}`);
}
