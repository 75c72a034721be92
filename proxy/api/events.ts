// The event fan-out between the core service and the hosts: every subscriber (a WebSocket, the
// Electron window, the tray) gets every event in order. A subscriber that throws is reported and
// kept; it never stops the others or the data path.

import type { BastionEvent, BastionEventSource } from '../../shared/api.js';

export class EventHub implements BastionEventSource {
  private readonly listeners = new Set<(e: BastionEvent) => void>();

  constructor(private readonly onListenerError: (e: unknown) => void = () => {}) {}

  subscribe(listener: (e: BastionEvent) => void): () => void {
    // Wrapped so that the same function subscribed twice is two subscriptions.
    const entry = (e: BastionEvent) => listener(e);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(e: BastionEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
