//! Maps the `hearth.*` VS Code settings to the server's initializationOptions (docs/protocol.md).

/** Devices the server accepts. */
export const DEVICES = ["auto", "cpu", "cuda", "metal"] as const;
export type Device = (typeof DEVICES)[number];

/** The keys of docs/protocol.md "Initialization", exactly as the server reads them. */
export interface ServerOptions {
  model?: string;
  draftModel: string | null;
  device: Device;
  multiline: boolean;
  debounceMs: number;
  /** Absent: the server adapts it to the measured prompt speed. */
  contextBudget?: number;
  maxTokens: number;
  enabledLanguages: string[];
  /** `hearth/agent`'s settings (docs/protocol.md "Agent"): they replace `[agent]` of config.toml. */
  agent: AgentOptions;
  /** `hearth/nextEdit`'s settings (docs/protocol.md "Next edit"): each key set here overrides the same key of `[next_edit]` in config.toml. */
  nextEdit: NextEditOptions;
}

/** The `agent` key: the command lines `run` may run (each still asks first) and the default step budget. */
export interface AgentOptions {
  commands: string[];
  maxSteps: number;
}

/** Prompt formats of `hearth/nextEdit`; `auto` picks the model's own. */
export const NEXT_EDIT_FORMATS = ["auto", "sweep", "zeta", "chat"] as const;
export type NextEditFormat = (typeof NEXT_EDIT_FORMATS)[number];

/** The `nextEdit` key. `enabled: false` also keeps the client from asking. */
export interface NextEditOptions {
  enabled: boolean;
  /** Absent for `auto`: the server's config.toml (or the model) decides. */
  format?: NextEditFormat;
}

/** Settings only the client reads. */
export interface ClientSettings {
  enabled: boolean;
  serverPath: string;
  extraArgs: string[];
  requestTimeoutMs: number;
  /** Start the server with --log-prompts (its log then holds source code). */
  logPrompts: boolean;
}

export interface Settings {
  client: ClientSettings;
  server: ServerOptions;
  /** Human-readable notes about values that were out of range and replaced. */
  warnings: string[];
}

/** What `vscode.workspace.getConfiguration("hearth").get(key)` returns: anything. */
export type RawGet = (key: string) => unknown;

const LIMITS = {
  debounceMs: { min: 0, max: 2000, fallback: 30 },
  contextBudget: { min: 64, max: 32768, fallback: 1024 },
  maxTokens: { min: 1, max: 1024, fallback: 64 },
  requestTimeoutMs: { min: 100, max: 60000, fallback: 3000 },
  "agent.maxSteps": { min: 1, max: 200, fallback: 16 },
} as const;

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function num(key: keyof typeof LIMITS, value: unknown, warnings: string[]): number {
  const { min, max, fallback } = LIMITS[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    warnings.push(`hearth.${key} must be a number; using ${fallback}.`);
    return fallback;
  }
  const clamped = Math.min(max, Math.max(min, Math.round(value)));
  if (clamped !== value) warnings.push(`hearth.${key} = ${value} is outside ${min}..${max}; using ${clamped}.`);
  return clamped;
}

function languages(value: unknown, warnings: string[]): string[] {
  if (value === undefined || value === null) return ["*"];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    warnings.push('hearth.enabledLanguages must be a list of language ids; using ["*"].');
    return ["*"];
  }
  const ids = [...new Set(value.map((v: string) => v.trim()).filter((v) => v !== ""))];
  return ids.length === 0 ? ["*"] : ids;
}

/**
 * The allowed command lines: exact, so only trimmed and deduplicated. Always sent, an empty list
 * included, so that a command removed from the setting is no longer allowed by the running server.
 */
function commands(value: unknown, warnings: string[]): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    warnings.push("hearth.agent.commands must be a list of command lines; allowing none.");
    return [];
  }
  if (value.some((v) => typeof v !== "string")) warnings.push("hearth.agent.commands: entries that are not strings are ignored.");
  return [...new Set(value.filter((v): v is string => typeof v === "string").map((v) => v.trim()))].filter((v) => v !== "");
}

function nextEditOptions(enabled: boolean, format: NextEditFormat): NextEditOptions {
  return format === "auto" ? { enabled } : { enabled, format };
}

function nextEditFormat(value: unknown, warnings: string[]): NextEditFormat {
  if (value === undefined || value === null) return "auto";
  if (typeof value === "string" && (NEXT_EDIT_FORMATS as readonly string[]).includes(value)) return value as NextEditFormat;
  warnings.push(`hearth.nextEdit.format = ${JSON.stringify(value)} is not one of ${NEXT_EDIT_FORMATS.join(", ")}; using auto.`);
  return "auto";
}

/** Reads every setting, validating and defaulting each one. Never throws. */
export function readSettings(get: RawGet): Settings {
  const warnings: string[] = [];
  const deviceRaw = get("device") ?? "auto";
  let device: Device = "auto";
  if (typeof deviceRaw === "string" && (DEVICES as readonly string[]).includes(deviceRaw)) {
    device = deviceRaw as Device;
  } else {
    warnings.push(`hearth.device = ${JSON.stringify(deviceRaw)} is not one of ${DEVICES.join(", ")}; using auto.`);
  }
  const model = str(get("model"));
  const extraArgs = get("serverArgs");
  const server: ServerOptions = {
    draftModel: str(get("draftModel")) ?? null,
    device,
    multiline: get("multiline") === true,
    debounceMs: num("debounceMs", get("debounceMs"), warnings),
    maxTokens: num("maxTokens", get("maxTokens"), warnings),
    enabledLanguages: languages(get("enabledLanguages"), warnings),
    agent: {
      commands: commands(get("agent.commands"), warnings),
      maxSteps: num("agent.maxSteps", get("agent.maxSteps"), warnings),
    },
    nextEdit: nextEditOptions(get("nextEdit.enabled") !== false, nextEditFormat(get("nextEdit.format"), warnings)),
  };
  if (model !== undefined) server.model = model;
  const contextBudget = get("contextBudget");
  if (contextBudget !== undefined && contextBudget !== null) server.contextBudget = num("contextBudget", contextBudget, warnings);
  return {
    client: {
      enabled: get("enable") !== false,
      serverPath: str(get("serverPath")) ?? "",
      extraArgs: Array.isArray(extraArgs) ? extraArgs.filter((a): a is string => typeof a === "string") : [],
      requestTimeoutMs: num("requestTimeoutMs", get("requestTimeoutMs"), warnings),
      logPrompts: get("logPrompts") === true,
    },
    server,
    warnings,
  };
}

/** The payload of `workspace/didChangeConfiguration`, as docs/protocol.md describes it. */
export function didChangeConfigurationParams(server: ServerOptions): { settings: { hearth: ServerOptions } } {
  return { settings: { hearth: server } };
}

/** Whether a settings change needs a new server process rather than a didChangeConfiguration. */
export function needsRestart(before: Settings, after: Settings): boolean {
  return (
    before.client.serverPath !== after.client.serverPath ||
    before.client.extraArgs.join("\u0000") !== after.client.extraArgs.join("\u0000") ||
    before.client.logPrompts !== after.client.logPrompts
  );
}

/** The server's arguments: `serve`, the extra ones, and `--log-prompts` when hearth.logPrompts is on. */
export function serverArgs(client: ClientSettings): string[] {
  const args = ["serve", ...client.extraArgs];
  if (client.logPrompts && !args.includes("--log-prompts")) args.push("--log-prompts");
  return args;
}

/** Whether completions are wanted for a document of this language. */
export function languageEnabled(server: ServerOptions, languageId: string): boolean {
  return server.enabledLanguages.includes("*") || server.enabledLanguages.includes(languageId);
}

/** Whether next-edit suggestions are asked for a document of this language (hearth.nextEdit.enabled: false sends none). */
export function nextEditEnabled(server: ServerOptions, languageId: string): boolean {
  return server.nextEdit.enabled && languageEnabled(server, languageId);
}
