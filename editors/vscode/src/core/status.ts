//! The status bar's state machine: client lifecycle events and `hearth/status` notifications in, what to show out.

/** The `hearth/status` notification payload (docs/protocol.md). */
export interface ServerStatus {
  state: "loading" | "indexing" | "ready" | "error";
  message?: string;
  percentage?: number;
  /** `HOST:PORT` of the team's server when completions go there instead of the in-process model. */
  remote?: string;
}

export type StatusState =
  | { kind: "stopped" }
  | { kind: "starting" }
  | { kind: "loading"; message?: string }
  | { kind: "indexing"; percentage?: number; message?: string }
  | { kind: "ready"; message?: string; background?: string; remote?: string }
  | { kind: "error"; message: string }
  | { kind: "crashed"; message: string };

export type StatusEvent =
  | { type: "starting" }
  | { type: "running" }
  | { type: "notification"; payload: unknown }
  | { type: "stopped" }
  | { type: "crashed"; message: string }
  | { type: "startFailed"; message: string };

export const initialStatus: StatusState = { kind: "stopped" };

/** Validates an untrusted `hearth/status` payload; `undefined` when it is malformed. */
export function parseServerStatus(payload: unknown): ServerStatus | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  if (p.state !== "loading" && p.state !== "indexing" && p.state !== "ready" && p.state !== "error") return undefined;
  const status: ServerStatus = { state: p.state };
  if (typeof p.message === "string") status.message = p.message;
  if (typeof p.remote === "string" && p.remote !== "") status.remote = p.remote;
  if (typeof p.percentage === "number" && Number.isFinite(p.percentage)) {
    status.percentage = Math.min(100, Math.max(0, p.percentage));
  }
  return status;
}

/**
 * The next state. Notifications are ignored unless a server is up; malformed ones change nothing.
 * Once ready, index work does not turn the bar back to indexing (it shows in the tooltip), and an
 * indexing percentage never goes backwards: the bar never regresses to a worse state on its own.
 */
export function nextStatus(state: StatusState, event: StatusEvent): StatusState {
  switch (event.type) {
    case "starting":
      return { kind: "starting" };
    case "running":
      // The server reports its own state next; until then it is loading.
      return state.kind === "starting" || state.kind === "stopped" || state.kind === "crashed" ? { kind: "loading" } : state;
    case "stopped":
      return { kind: "stopped" };
    case "crashed":
      return { kind: "crashed", message: event.message };
    case "startFailed":
      return { kind: "error", message: event.message };
    case "notification": {
      if (state.kind === "stopped" || state.kind === "crashed") return state;
      const status = parseServerStatus(event.payload);
      if (status === undefined) return state;
      const withMessage = <T extends object>(s: T): T => (status.message === undefined ? s : { ...s, message: status.message });
      switch (status.state) {
        case "loading":
          return withMessage({ kind: "loading" });
        case "indexing": {
          if (state.kind === "ready") {
            const pct = status.percentage === undefined ? "" : ` ${Math.round(status.percentage)}%`;
            return { ...state, background: `indexing${pct}` };
          }
          const before = state.kind === "indexing" ? state.percentage : undefined;
          const percentage = before === undefined ? status.percentage : Math.max(before, status.percentage ?? before);
          return percentage === undefined ? withMessage({ kind: "indexing" }) : withMessage({ kind: "indexing", percentage });
        }
        case "ready":
          return withMessage(status.remote === undefined ? { kind: "ready" } : { kind: "ready", remote: status.remote });
        case "error":
          return { kind: "error", message: status.message ?? "the server reported an error" };
      }
    }
  }
}

/** What the status bar item shows. `icon` is a codicon name. */
export interface StatusView {
  text: string;
  tooltip: string;
  icon: string;
  /** "error" and "warning" map to the status bar's error/warning backgrounds. */
  severity: "normal" | "warning" | "error";
}

export function viewStatus(state: StatusState, completionsEnabled: boolean): StatusView {
  const suffix = completionsEnabled ? "" : " (completions off)";
  const clickHint = "Click to open the Hearth output.";
  switch (state.kind) {
    case "stopped":
      return {
        text: `Hearth: stopped${suffix}`,
        tooltip: `The server is not running. ${clickHint}`,
        icon: "circle-slash",
        severity: "normal",
      };
    case "starting":
      return {
        text: `Hearth: starting${suffix}`,
        tooltip: `Starting hearth serve. ${clickHint}`,
        icon: "loading~spin",
        severity: "normal",
      };
    case "loading":
      return {
        text: `Hearth: loading model${suffix}`,
        tooltip: `${state.message ?? "Loading the model."} ${clickHint}`,
        icon: "loading~spin",
        severity: "normal",
      };
    case "indexing": {
      const pct = state.percentage === undefined ? "" : ` ${Math.round(state.percentage)}%`;
      return {
        text: `Hearth: indexing${pct}${suffix}`,
        tooltip: `${state.message ?? "Indexing the repository."} ${clickHint}`,
        icon: "sync~spin",
        severity: "normal",
      };
    }
    case "ready":
      return {
        // Where completions are computed, plainly: the team's server named, not only in the tooltip.
        text: `Hearth${state.remote === undefined ? "" : ` (remote: ${state.remote})`}${suffix}`,
        tooltip: `${state.message ?? "Ready."}${state.background ? ` (${state.background} in the background)` : ""} ${clickHint}`,
        icon: completionsEnabled ? "flame" : "circle-slash",
        severity: "normal",
      };
    case "error":
      return { text: "Hearth: error", tooltip: `${state.message} ${clickHint}`, icon: "error", severity: "error" };
    case "crashed":
      return {
        text: "Hearth: crashed",
        tooltip: `${state.message} Run "Hearth: Restart server". ${clickHint}`,
        icon: "warning",
        severity: "warning",
      };
  }
}
