// A pause that another part of the same object can cut short (new work, a NOTIFY, stop()).

export class WakeableSleep {
  private wake: (() => void) | null = null;

  /** Resolves after `ms`, or at once when wake() is called meanwhile. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => resolve(), ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      this.wake = null;
    });
  }

  /** Ends the current sleep, if any. */
  wakeUp(): void {
    this.wake?.();
  }
}
