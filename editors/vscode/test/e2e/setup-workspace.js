// Writes the e2e workspace (a small Python project) and the VS Code user settings pointing at the server.
const fs = require("fs");
const path = require("path");
const work = process.env.HEARTH_E2E_WORK;
const model = path.resolve(process.env.HEARTH_TEST_MODEL);
fs.mkdirSync(path.join(work, "ws"), { recursive: true });
fs.mkdirSync(path.join(work, "data", "User"), { recursive: true });
fs.writeFileSync(
  path.join(work, "ws", "main.py"),
  "from helpers import mean_of\n\n\ndef add(a, b):\n    return a + b\n\n\ndef total(values):\n    result = 0\n    for v in values:\n        result = result + v\n    return result\n\n\ndef average(values):\n    return \n",
);
fs.writeFileSync(path.join(work, "ws", "helpers.py"), "def mean_of(values):\n    return sum(values) / len(values)\n");
// For the next-edit check: a constructor that gets a new parameter (Gemma 3 270M assigns the field).
fs.writeFileSync(
  path.join(work, "ws", "config.py"),
  'class Config:\n    def __init__(self, host, port):\n        self.host = host\n        self.port = port\n\n    def url(self):\n        return f"http://{self.host}:{self.port}"\n',
);
fs.writeFileSync(
  path.join(work, "data", "User", "settings.json"),
  JSON.stringify(
    {
      "hearth.serverPath": process.env.HEARTH_BIN,
      "hearth.serverArgs": ["--model", model],
      "hearth.model": model,
      "hearth.requestTimeoutMs": 20000,
      "workbench.startupEditor": "none",
      "security.workspace.trust.enabled": false,
      "telemetry.telemetryLevel": "off",
      "extensions.autoCheckUpdates": false,
      "update.mode": "none",
      "workbench.tips.enabled": false,
      "editor.autoClosingBrackets": "never",
    },
    null,
    2,
  ),
);
