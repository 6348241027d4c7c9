//! The edit pause before a next-edit request: each change restarts the wait, so only a pause of
//! `delayMs` after the last change runs the action, once.

/** Default pause after the last change of the active document (docs/protocol.md "Next edit"). */
export const NEXT_EDIT_PAUSE_MS = 400;

/** setTimeout/clearTimeout, replaceable by a fake clock in tests. */
export interface Timers {
  set(run: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (run, ms) => setTimeout(run, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class Debouncer {
  private handle: unknown;
  private armed = false;

  constructor(
    private readonly delayMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Runs `action` after the pause, replacing any action still waiting. */
  schedule(action: () => void): void {
    this.cancel();
    this.armed = true;
    this.handle = this.timers.set(() => {
      this.armed = false;
      action();
    }, this.delayMs);
  }

  /** Drops the waiting action, if any. */
  cancel(): void {
    if (this.armed) this.timers.clear(this.handle);
    this.armed = false;
  }

  /** Whether an action is waiting. */
  get pending(): boolean {
    return this.armed;
  }
}
