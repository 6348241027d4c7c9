//! When a crashed server is restarted automatically, and when the user is asked instead.

export interface RestartPolicy {
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_POLICY: RestartPolicy = { maxRestarts: 3, windowMs: 3 * 60_000 };

/** Remembers recent crashes; `onCrash` says whether to restart on its own. */
export class CrashTracker {
  private crashes: number[] = [];
  constructor(private readonly policy: RestartPolicy = DEFAULT_POLICY) {}

  onCrash(now: number): { restart: boolean; recent: number } {
    this.crashes = this.crashes.filter((t) => now - t < this.policy.windowMs);
    this.crashes.push(now);
    return { restart: this.crashes.length <= this.policy.maxRestarts, recent: this.crashes.length };
  }

  /** After a manual restart the count starts over. */
  reset(): void {
    this.crashes = [];
  }
}

export function crashMessage(recent: number, restarting: boolean, policy: RestartPolicy = DEFAULT_POLICY): string {
  if (restarting) return `The Hearth server stopped unexpectedly (${recent} time${recent === 1 ? "" : "s"} recently); restarting it.`;
  return `The Hearth server crashed ${recent} times in ${Math.round(policy.windowMs / 60_000)} minutes and will not be restarted automatically. See the Hearth output for its log, then run "Hearth: Restart server".`;
}
