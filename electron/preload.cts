// The preload of Bastion's window (sandboxed, context-isolated): exposes the API as
// `window.bastion` through contextBridge and nothing else. It only moves messages: calls go to the
// main process's dispatcher as they are, and their outcomes (a result or a typed error, as data)
// come back as they are; the renderer turns them into the API (shared/rpc.ts).

import { contextBridge, ipcRenderer } from 'electron';
import type { BastionBridge, BastionEvent } from '../shared/api.js';
import type { RpcOutcome } from '../shared/rpc.js';

const listeners = new Set<(e: BastionEvent) => void>();
ipcRenderer.on('bastion:events', (_e, batch: BastionEvent[]) => {
  for (const e of batch) for (const l of listeners) l(e);
});

const navigators = new Set<(route: string) => void>();
ipcRenderer.on('bastion:navigate', (_e, route: string) => {
  for (const l of navigators) l(route);
});

const bridge: BastionBridge = {
  call: (method, params) => ipcRenderer.invoke('bastion:call', method, params) as Promise<RpcOutcome>,
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
