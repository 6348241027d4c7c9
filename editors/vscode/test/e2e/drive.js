// Drives the Hearth extension inside code-server with Chromium, as a user would, and checks what shows.
// The next-edit check switches the model to Gemma 3 270M ($HEARTH_ASSETS, as editors/ci.sh integration needs).
// Started by run.sh; prints "ok - …" per check and "vscode-e2e: N passed, N failed".
const { chromium } = require("playwright-core");
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const work = process.env.HEARTH_E2E_WORK;
const url = process.env.HEARTH_E2E_URL;
const shots = process.env.HEARTH_E2E_SHOTS || work;
const READY_MS = Number(process.env.HEARTH_READY_TIMEOUT_MS || 300000);
const mainPy = path.join(work, "ws", "main.py");
const results = { passed: 0, failed: 0 };

let failureShot = async () => undefined;
async function check(name, fn) {
  try {
    await fn();
    results.passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    results.failed++;
    await failureShot(name.replace(/[^a-z]+/gi, "-").slice(0, 40));
    console.log(`not ok - ${name}\n    ${String((e && e.stack) || e).replace(/\n/g, "\n    ")}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
/** Pids of `$HEARTH_BIN serve` processes descended from our code-server (never anyone else's). */
function serverPids() {
  const root = Number(fs.readFileSync(path.join(work, "cs.pid"), "utf8"));
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter(Boolean)
    .map(([, pid, ppid, args]) => ({ pid: Number(pid), ppid: Number(ppid), args }));
  const parent = new Map(rows.map((r) => [r.pid, r.ppid]));
  const descends = (pid) => {
    for (let p = pid, i = 0; p > 1 && i < 50; p = parent.get(p) ?? 0, i++) if (p === root) return true;
    return false;
  };
  return rows.filter((r) => r.args.startsWith(`${process.env.HEARTH_BIN} serve`) && descends(r.pid)).map((r) => r.pid);
}

async function until(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

(async () => {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const shot = (name) => page.screenshot({ path: path.join(shots, `vscode-${name}.png`) });
  failureShot = (name) => shot(`failed-${name}`).catch(() => undefined);
  const statusText = async () => (await page.locator("[id='hearth.hearth'], [id*='hearth']").allInnerTexts()).join(" ").trim();
  const ghostText = async () =>
    (await page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text").allInnerTexts())
      .join("")
      .replace(/\u00a0/g, " ");
  const command = async (title) => {
    await page.keyboard.press("F1");
    await page.waitForSelector(".quick-input-widget input", { state: "visible" });
    await page.keyboard.type(title);
    await page.waitForTimeout(400);
    await page.keyboard.press("Enter");
  };
  const openFile = async (name) => {
    await page.keyboard.press("Control+P");
    await page.keyboard.type(name);
    await page.waitForTimeout(600);
    await page.keyboard.press("Enter");
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 20000 });
    await page.waitForTimeout(800);
  };
  const saveAll = async () => {
    await command("File: Save All Files");
    await page.waitForTimeout(500);
  };
  const toasts = async () => (await page.locator(".notifications-toasts .notification-toast").allInnerTexts()).join("\n");

  await page.goto(`${url}/?folder=${encodeURIComponent(path.join(work, "ws"))}`);
  await page.waitForSelector(".monaco-workbench", { timeout: 60000 });

  await check("the status bar goes from loading to ready", async () => {
    const text = await until("status bar ready", READY_MS, async () => {
      const t = await statusText();
      return /^Hearth$/.test(t) ? t : undefined;
    });
    assert(text === "Hearth", text);
  });

  await openFile("main.py");

  await check("typing shows ghost text and Tab accepts it", async () => {
    const before = fs.readFileSync(mainPy, "utf8");
    await page.keyboard.press("Control+End");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("End");
    await page.keyboard.type("s");
    await page.keyboard.press("Backspace");
    const ghost = await until("ghost text", 60000, ghostText);
    await shot("ghost");
    await page.keyboard.press("Tab");
    await page.waitForTimeout(300);
    await saveAll();
    const after = fs.readFileSync(mainPy, "utf8");
    assert(after !== before, "the file did not change after Tab");
    const firstLine = ghost.split("\n")[0].trim();
    assert(after.includes(firstLine), `the accepted text ${JSON.stringify(firstLine)} is not in the file:\n${after}`);
  });

  await check("Hearth: Toggle inline completions turns ghost text off and on", async () => {
    await command("Hearth: Toggle inline completions");
    await until("the status bar to say completions are off", 10000, async () => (await statusText()).includes("completions off"));
    await page.keyboard.press("Enter");
    await page.keyboard.type("    x = ");
    await page.waitForTimeout(3000);
    assert((await ghostText()) === "", `ghost text while completions are off: ${await ghostText()}`);
    await command("Hearth: Toggle inline completions");
    await until("the status bar to say ready", 10000, async () => /^Hearth$/.test(await statusText()));
    await page.keyboard.type("a");
    await page.keyboard.press("Backspace");
    await until("ghost text once completions are back on", 60000, ghostText);
    await page.keyboard.press("Escape");
  });

  /** Selects lines 8-12 of main.py (`def total` … `return`). */
  const selectTotal = async () => {
    await page.keyboard.press("Control+G");
    await page.keyboard.type("8");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Home");
    for (let i = 0; i < 5; i++) await page.keyboard.press("Shift+ArrowDown");
  };
  /** Types the instruction into the input box, waits for the review list, applies, saves; returns main.py. */
  const instructAndApply = async (instruction, afterReview = async () => undefined) => {
    await page.waitForSelector(".quick-input-widget input", { state: "visible" });
    await page.keyboard.type(instruction);
    await page.keyboard.press("Enter");
    const outcome = await until("the review list or an error", 120000, async () => {
      const t = await toasts();
      if (t.includes("Hearth edit failed")) return `error: ${t}`;
      return (await page.locator(".quick-input-widget .quick-input-list").innerText()).includes("Apply") ? "review" : undefined;
    });
    assert(outcome === "review", outcome);
    await afterReview();
    await page.keyboard.press("Enter"); // "Apply" is the first item
    await until("the progress notification to close", 5000, async () => !(await toasts()).includes("preparing the edit"));
    await saveAll();
    return fs.readFileSync(mainPy, "utf8");
  };

  await check("Hearth: Edit selection… shows a diff for review and applies on Apply", async () => {
    const before = fs.readFileSync(mainPy, "utf8");
    await selectTotal();
    await command("Hearth: Edit selection");
    // A rename is exact and needs no model (the 6.8M demo model rarely finishes a rewrite).
    const after = await instructAndApply("rename result to acc", async () => {
      assert((await page.locator(".monaco-diff-editor").count()) > 0, "no diff editor opened");
      await shot("review");
    });
    const expected = before.replace(
      "    result = 0\n    for v in values:\n        result = result + v\n    return result\n",
      "    acc = 0\n    for v in values:\n        acc = acc + v\n    return acc\n",
    );
    assert(expected !== before, "the test's main.py lacks the total() body");
    assert(after === expected, `main.py after Apply:\n${after}`);
  });

  await check('the code action "Hearth: edit selection…" asks for the instruction, then reviews and applies', async () => {
    const before = fs.readFileSync(mainPy, "utf8");
    await openFile("main.py"); // the file itself, not the last review's diff
    await selectTotal();
    await page.keyboard.press("Control+Period"); // the light bulb's menu
    const action = page.locator(".action-widget").getByText("Hearth: edit selection…");
    await until("Hearth's code action in the menu", 30000, async () => (await action.count()) > 0);
    await shot("code-action");
    await page.keyboard.press("Enter"); // its only entry is selected
    const after = await instructAndApply("rename values to items");
    const expected = before.replace("def total(values):", "def total(items):").replace("    for v in values:", "    for v in items:");
    assert(after === expected, `main.py after Apply:\n${after}`);
  });

  await check("Hearth: Show context used opens the snippets and prompt", async () => {
    await openFile("main.py");
    await command("Hearth: Show context used");
    await until("the context page", 60000, async () =>
      (await page.locator(".monaco-editor .view-lines").allInnerTexts())
        .join("\n")
        .replace(/\u00a0/g, " ")
        .includes("Context used at"),
    );
    await shot("context");
  });

  await check("a crashed server is restarted and completions come back", async () => {
    const pids = serverPids();
    assert(pids.length === 1, `expected one server process, found ${JSON.stringify(pids)}`);
    process.kill(pids[0], "SIGKILL");
    await until("a new server process", 30000, async () => {
      const now = serverPids();
      return now.length === 1 && now[0] !== pids[0];
    });
    await until("status bar ready again", READY_MS, async () => /^Hearth$/.test(await statusText()));
    await openFile("main.py");
    await page.keyboard.press("Control+End");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("End");
    await page.keyboard.type(" ");
    await page.keyboard.press("Backspace");
    await until("ghost text after the restart", 60000, ghostText);
    await page.keyboard.press("Escape");
  });

  /** The user settings as the last check wrote them (the editor may leave a stray brace in the file). */
  let userSettings;
  const editorText = async () => (await page.locator(".monaco-editor .view-lines").allInnerTexts()).join("\n").replace(/\u00a0/g, " ");
  /** CSS `::after` texts (ghost text) and struck-out text drawn in the editor: the next edit's decorations. */
  const nextEditDrawn = () =>
    page.evaluate(() => {
      const els = [...document.querySelectorAll(".monaco-editor .view-lines span")];
      const ghost = els.map((e) => getComputedStyle(e, "::after").content).filter((c) => c && !["none", "normal", '""'].includes(c));
      const struck = els.filter((e) => getComputedStyle(e).textDecorationLine.includes("line-through")).map((e) => e.textContent);
      return ghost.length > 0 || struck.length > 0 ? { ghost, struck: struck.join("") } : undefined;
    });
  const cursorPosition = async () => (await page.locator("[id='status.editor.selection']").allInnerTexts()).join(" ");

  await check("next edit with Gemma 3 270M: shown as an inline diff, Escape dismisses, Tab jumps, Tab accepts", async () => {
    const assets = process.env.HEARTH_ASSETS || path.join(process.env.HOME || "", ".cache", "hearth", "assets");
    const gemma = path.join(assets, "gemma-3-270m-q4_k_m.gguf");
    assert(fs.existsSync(gemma), `${gemma} is missing: run scripts/fetch-assets.sh`);
    const configPy = path.join(work, "ws", "config.py");
    const settingsPath = path.join(work, "data", "User", "settings.json");
    const settings = JSON.parse(fs.readFileSync(settingsPath, "utf8"));
    // Gemma speaks the chat format; ghost-text completions off so that Tab is the next edit's.
    Object.assign(settings, {
      "hearth.serverArgs": ["--model", gemma],
      "hearth.model": gemma,
      "hearth.nextEdit.format": "chat",
      "hearth.enable": false,
    });
    const before = serverPids();
    // In VS Code's settings.json editor, as one line: typed lines would be auto-indented into JSON
    // that the next check cannot read.
    await command("Preferences: Open User Settings (JSON)");
    await page.waitForTimeout(1500);
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(JSON.stringify(settings));
    await page.keyboard.press("Control+S");
    userSettings = settings;
    await until("the server restarted with Gemma", 30000, async () => {
      const now = serverPids();
      return now.length === 1 && !before.includes(now[0]);
    });
    await until("status bar ready", READY_MS, async () => (await statusText()) === "Hearth (completions off)");
    await openFile("config.py");
    await page.keyboard.press("Control+G");
    await page.keyboard.type("2:34"); // after `port` in the constructor's parameters
    await page.keyboard.press("Enter");
    await page.keyboard.type(", path", { delay: 60 });
    const drawn = await until("the next-edit suggestion", 120000, nextEditDrawn);
    await shot("next-edit");
    assert(
      drawn.ghost.some((g) => g.includes("self.path = path")),
      `ghost text: ${JSON.stringify(drawn)}`,
    );
    await page.keyboard.press("Escape");
    await until("Escape to dismiss it", 5000, async () => !(await nextEditDrawn()));
    await command("Hearth: Suggest the next edit");
    await until("the suggestion, asked again", 120000, nextEditDrawn);
    assert((await cursorPosition()).includes("Ln 2,"), `the cursor moved before Tab: ${await cursorPosition()}`);
    await page.keyboard.press("Tab");
    await until("Tab to jump to the edit", 5000, async () => !(await cursorPosition()).includes("Ln 2,"));
    assert((await editorText()).includes("def url(self):"), "a jump changes nothing");
    await page.keyboard.press("Tab");
    await until("Tab to accept it", 5000, async () => !(await nextEditDrawn()));
    assert(!(await editorText()).includes("def url(self):"), "Gemma's edit replaces url() with the assignment");
    await saveAll();
    const after = fs.readFileSync(configPy, "utf8");
    assert(
      /def __init__\(self, host, port, path\):\n {8}self\.host = host\n {8}self\.port = port\n {8}self\.path = path\n/.test(after),
      after,
    );
    // Without a suggestion Tab is Tab again.
    await page.keyboard.press("Tab");
    await page.waitForTimeout(300);
    await saveAll();
    assert(fs.readFileSync(configPy, "utf8") !== after, "Tab without a suggestion did not indent");
  });

  await check("a missing binary shows a clear error with a way to fix it", async () => {
    const settingsPath = path.join(work, "data", "User", "settings.json");
    const settings = userSettings ?? JSON.parse(fs.readFileSync(settingsPath, "utf8"));
    settings["hearth.serverPath"] = "/nonexistent/hearth";
    // Edit the settings as a user would, in VS Code's settings.json editor.
    await command("Preferences: Open User Settings (JSON)");
    await page.waitForTimeout(1500);
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(JSON.stringify(settings, null, 2));
    await page.keyboard.press("Control+S");
    const toast = await until("the error message", 30000, async () => {
      const t = await toasts();
      return /Cannot find the `hearth` binary|\/nonexistent\/hearth/.test(t) ? t : undefined;
    });
    assert(/Restart server/.test(toast) && /Open settings/.test(toast), `no recovery buttons in: ${toast}`);
    assert(/Hearth: error/.test(await statusText()), `status bar: ${await statusText()}`);
    await shot("missing-binary");
  });

  await browser.close();
  console.log(`vscode-e2e: ${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  console.log(`vscode-e2e: ${results.passed} passed, ${results.failed + 1} failed`);
  process.exit(1);
});
