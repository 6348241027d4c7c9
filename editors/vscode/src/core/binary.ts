//! Finds the `hearth` binary: the setting, then PATH, then the extension's own `bin/` folder.

import * as path from "node:path";

export interface Lookup {
  /** The `hearth.serverPath` setting, "" when unset. */
  setting: string;
  pathEnv: string | undefined;
  extensionPath: string;
  platform: NodeJS.Platform;
  isExecutable: (file: string) => boolean;
  /** Expands `~` and `${workspaceFolder}` in the setting. */
  home: string;
  workspaceFolder?: string;
}

export type Found =
  { ok: true; path: string; source: "setting" | "PATH" | "extension" } | { ok: false; message: string; searched: string[] };

export function binaryName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "hearth.exe" : "hearth";
}

function expand(setting: string, lookup: Lookup): string {
  let p = setting;
  if (p === "~" || p.startsWith("~/")) p = path.join(lookup.home, p.slice(1));
  if (lookup.workspaceFolder !== undefined) p = p.replace(/\$\{workspaceFolder\}/g, lookup.workspaceFolder);
  return p;
}

export function findBinary(lookup: Lookup): Found {
  const name = binaryName(lookup.platform);
  if (lookup.setting !== "") {
    const p = expand(lookup.setting, lookup);
    if (lookup.isExecutable(p)) return { ok: true, path: p, source: "setting" };
    return {
      ok: false,
      searched: [p],
      message: `hearth.serverPath is set to "${lookup.setting}", but ${p} is not an executable file. Fix the setting or clear it to search PATH.`,
    };
  }
  const searched: string[] = [];
  const sep = lookup.platform === "win32" ? ";" : ":";
  for (const dir of (lookup.pathEnv ?? "").split(sep)) {
    if (dir === "") continue;
    const p = path.join(dir, name);
    searched.push(p);
    if (lookup.isExecutable(p)) return { ok: true, path: p, source: "PATH" };
  }
  const bundled = path.join(lookup.extensionPath, "bin", name);
  searched.push(bundled);
  if (lookup.isExecutable(bundled)) return { ok: true, path: bundled, source: "extension" };
  return {
    ok: false,
    searched,
    message: `Cannot find the \`${name}\` binary on PATH or in ${path.join(lookup.extensionPath, "bin")}. Install it (cargo install --path crates/cli) or set hearth.serverPath.`,
  };
}
