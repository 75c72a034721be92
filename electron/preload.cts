// The preload of Bastion's window (sandboxed, context-isolated): exposes the API as
// `window.bastion` through contextBridge and nothing else. A sandboxed preload cannot load the
// project's modules, so the method names come from the main process (API_METHODS) at start.

import { contextBridge, ipcRenderer } from 'electron';
import type { BastionApi, BastionBridge, BastionEvent } from '../shared/api.js';

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

const methods = ipcRenderer.sendSync('bastion:methods') as string[];
const api: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
for (const method of methods) {
  api[method] = async (...args: unknown[]) => {
    const reply = (await ipcRenderer.invoke(`bastion:${method}`, ...args)) as Reply;
    if (!reply.ok) throw new Error(reply.error);
    return reply.result;
  };
}

const listeners = new Set<(e: BastionEvent) => void>();
ipcRenderer.on('bastion:events', (_e, batch: BastionEvent[]) => {
  for (const e of batch) for (const l of listeners) l(e);
});

const navigators = new Set<(route: string) => void>();
ipcRenderer.on('bastion:navigate', (_e, route: string) => {
  for (const l of navigators) l(route);
});

const bridge: BastionBridge = {
  api: api as unknown as BastionApi,
  subscribe(listener) {
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  },
  onNavigate(listener) {
    navigators.add(listener);
    return () => {
      navigators.delete(listener);
    };
  },
};

contextBridge.exposeInMainWorld('bastion', bridge);
