// Calling the API by name, for the hosts that carry it over a socket (the UI's WebSocket, the CLI's
// control socket): only the names in API_METHODS, never `constructor`, `__proto__` and the like.

import { API_METHODS, type BastionApi } from '../shared/api.js';

const METHODS: ReadonlySet<string> = new Set(API_METHODS);

export function isApiMethod(name: unknown): name is (typeof API_METHODS)[number] {
  return typeof name === 'string' && METHODS.has(name);
}

export function callApi(
  service: BastionApi,
  method: (typeof API_METHODS)[number],
  params: readonly unknown[],
): Promise<unknown> {
  const fn = service[method] as (...a: unknown[]) => Promise<unknown>;
  return Promise.resolve().then(() => fn.apply(service, [...params]));
}
