-- Unit tests of the plugin's pure parts (no server): option checking, suggestion splitting, agent transcript lines,
-- next-edit extmarks and the jump-or-accept choice.
-- Run: nvim --headless --clean --cmd "set rtp^=editors/neovim" -l editors/neovim/tests/unit.lua
local passed, failed = 0, 0
local function print(s) io.stdout:write(s .. "\n") end
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then
    passed = passed + 1
    print("ok - " .. name)
  else
    failed = failed + 1
    print("not ok - " .. name .. "\n    " .. tostring(err))
  end
end
local function eq(a, b)
  if not vim.deep_equal(a, b) then error(("expected %s, got %s"):format(vim.inspect(b), vim.inspect(a)), 2) end
end

local config = require("hearth.config")
local util = require("hearth.util")

test("checkhealth accepts every model spec the server resolves, and names the bad ones", function()
  local problem = require("hearth.health")._model_problem
  for _, spec in ipairs({
    "ollama:qwen2.5-coder",
    "ollama:qwen2.5-coder:1.5b",
    "Qwen/Qwen2.5-Coder-1.5B",
    "bartowski/Qwen2.5-Coder-1.5B-GGUF:Qwen2.5-Coder-1.5B-Q8_0.gguf",
  }) do
    eq(problem(spec), nil)
  end
  local bad = problem("/no/such/model-folder")
  eq(type(bad), "string")
  eq(bad:match("not a model spec") ~= nil, true)
end)

test("defaults resolve without problems", function()
  local cfg, problems = config.resolve({})
  eq(problems, {})
  eq(cfg.cmd, { "hearth", "serve" })
  eq(cfg.server.device, "auto")
end)

test("user lists replace the defaults instead of merging by index", function()
  local cfg = config.resolve({ filetypes = { "rust" }, cmd = { "/opt/hearth", "serve", "--model", "/m" } })
  eq(cfg.filetypes, { "rust" })
  eq(cfg.cmd, { "/opt/hearth", "serve", "--model", "/m" })
end)

test("a string cmd becomes `<cmd> serve`; bad values fall back with a problem each", function()
  eq(config.resolve({ cmd = "/bin/hearth" }).cmd, { "/bin/hearth", "serve" })
  local cfg, problems = config.resolve({ cmd = {}, server = { device = "tpu" }, backend = "magic", timeout_ms = -1 })
  eq(cfg.cmd, { "hearth", "serve" })
  eq(cfg.server.device, "auto")
  eq(cfg.backend, "auto")
  eq(cfg.timeout_ms, 3000)
  eq(#problems, 4)
end)

test("server options on the wire: nil dropped, draftModel explicit null", function()
  local cfg = config.resolve({ server = { model = "/m", multiline = true } })
  local wire = config.server_options(cfg)
  eq(wire.model, "/m")
  eq(wire.multiline, true)
  eq(wire.draftModel, vim.NIL)
  eq(vim.json.decode(vim.json.encode(wire)).draftModel, vim.NIL)
end)

test("log_prompts adds --log-prompts to the server command line, once", function()
  eq(config.command(config.resolve({})), { "hearth", "serve" })
  local cfg = config.resolve({ cmd = { "/opt/hearth", "serve", "--model", "/m" }, log_prompts = true })
  eq(config.command(cfg), { "/opt/hearth", "serve", "--model", "/m", "--log-prompts" })
  eq(cfg.cmd, { "/opt/hearth", "serve", "--model", "/m" })
  eq(
    config.command(config.resolve({ cmd = { "hearth", "serve", "--log-prompts" }, log_prompts = true })),
    { "hearth", "serve", "--log-prompts" }
  )
  local bad, problems = config.resolve({ log_prompts = "yes" })
  eq(bad.log_prompts, false)
  eq(#problems, 1)
end)

test("filetype filter", function()
  local cfg = config.resolve({ filetypes = { "python" } })
  eq(config.filetype_enabled(cfg, "python"), true)
  eq(config.filetype_enabled(cfg, "go"), false)
  eq(config.filetype_enabled(cfg, ""), false)
  eq(config.filetype_enabled(config.resolve({ filetypes = { "*" } }), "go"), true)
end)

test("backend choice follows the Neovim version unless forced", function()
  local has = vim.lsp.inline_completion ~= nil
  eq(config.use_native(config.resolve({})), has)
  eq(config.use_native(config.resolve({ backend = "extmark" })), false)
  eq(config.use_native(config.resolve({ backend = "native" })), has)
end)

test("first word of a suggestion", function()
  eq(util.first_word("foo(bar)"), "foo")
  eq(util.first_word("  return x"), "  return")
  eq(util.first_word("(a, b)"), "(")
  eq(util.first_word("()"), "()")
  eq(util.first_word("== 3"), "==")
  eq(util.first_word("   "), "   ")
  eq(util.first_word("\n    x"), "\n    x")
end)

test("first line of a suggestion", function()
  eq(util.first_line("a + b\nreturn c"), "a + b")
  eq(util.first_line("\n    pass"), "\n")
  eq(util.first_line("single"), "single")
end)

test("what a suggestion adds after what is already typed", function()
  eq(util.suffix_after("return a + b", "ret"), "urn a + b")
  eq(util.suffix_after("return a + b", ""), "return a + b")
  eq(util.suffix_after("x = 1", "y"), "x = 1")
end)

test("line length in each position encoding", function()
  local line = "é😀x"
  eq(util.line_length(line, "utf-8"), #line)
  eq(util.line_length(line, "utf-16"), 4)
  eq(util.line_length(line, "utf-32"), 3)
end)

test("agent transcript: each event kind renders readably", function()
  local render = require("hearth.agent").render
  eq(render({ kind = "step", step = 2, max_steps = 16, prompt_tokens = 812, context_tokens = 8192 }), {
    "",
    "## Step 2 of at most 16 (prompt 812 tokens, context 8192)",
    "",
  })
  eq(render({ kind = "text", text = "Looking for it.\nThen renaming." }), { "Looking for it.", "Then renaming." })
  eq(
    render({ kind = "tool_call", id = "c1", name = "rename", arguments = { to = "NEW", from = "OLD", n = { 1, 2 } } }),
    { '→ call rename {"from":"OLD","n":[1,2],"to":"NEW"}' }
  )
  eq(
    render({ kind = "tool_result", id = "c1", name = "rename", ok = true, text = "renamed in 2 file(s)\nmain.py\n" }),
    { "← rename: ok", "    renamed in 2 file(s)", "    main.py" }
  )
  local long = {}
  for i = 1, 20 do
    long[i] = "line " .. i
  end
  local lines = render({ kind = "tool_result", name = "read_file", ok = false, text = table.concat(long, "\n") })
  eq(lines[1], "← read_file: error")
  eq(#lines, 1 + require("hearth.agent").result_lines + 1)
  eq(lines[#lines], "    … 12 more line(s)")
  eq(render({ kind = "format_error", message = "no closing </tool_call>" }), { "! format error: no closing </tool_call>" })
  eq(render({ kind = "note", text = "dropped 1 output" }), { "> note: dropped 1 output" })
  eq(render({ kind = "mystery", x = 1 }), { '? mystery {"kind":"mystery","x":1}' })
end)

test("agent transcript: the result's answer, stop reason and files", function()
  local render_result = require("hearth.agent").render_result
  local lines = render_result({
    answer = "Renamed.",
    stop = "answered",
    steps = 2,
    generatedTokens = 40,
    calls = 1,
    malformedCalls = 0,
    files = { { path = "helpers.py" }, { path = "main.py" } },
  })
  eq(lines, {
    "",
    "## Answer",
    "",
    "Renamed.",
    "",
    "Stop: answered; 2 step(s), 40 token(s) generated, 1 call(s), 0 malformed.",
    "2 file(s) changed:",
    "- helpers.py",
    "- main.py",
  })
  lines = render_result({ answer = vim.NIL, stop = "step_budget", steps = 16, generatedTokens = 900, calls = 16, files = {} })
  eq(lines[4], "(none)")
  eq(lines[6], "Stop: step_budget (the step budget ran out); 16 step(s), 900 token(s) generated, 16 call(s), 0 malformed.")
  eq(lines[7], "No file changes.")
end)

test("next_edit options: defaults, a boolean, bad values; nextEdit.enabled on the wire over server.nextEdit", function()
  local cfg, problems = config.resolve({})
  eq(problems, {})
  eq(cfg.next_edit, { enabled = true, debounce_ms = 400 })
  eq(config.server_options(cfg).nextEdit, { enabled = true })
  eq(config.resolve({ next_edit = false }).next_edit, { enabled = false, debounce_ms = 400 })
  cfg = config.resolve({ next_edit = { enabled = false }, server = { nextEdit = { format = "chat", enabled = true } } })
  eq(cfg.next_edit.debounce_ms, 400)
  eq(config.server_options(cfg).nextEdit, { format = "chat", enabled = false })
  eq(cfg.server.nextEdit, { format = "chat", enabled = true })
  local bad
  bad, problems = config.resolve({ next_edit = { enabled = "yes", debounce_ms = -5 } })
  eq(bad.next_edit, { enabled = true, debounce_ms = 400 })
  eq(#problems, 2)
  bad, problems = config.resolve({ next_edit = "on" })
  eq(bad.next_edit, { enabled = true, debounce_ms = 400 })
  eq(#problems, 1)
end)

test("byte column of an LSP character in each encoding, clamped to the line", function()
  local line = "é😀x"
  eq(util.byte_col(line, 0, "utf-16"), 0)
  eq(util.byte_col(line, 1, "utf-16"), 2)
  eq(util.byte_col(line, 3, "utf-16"), 6)
  eq(util.byte_col(line, 4, "utf-16"), 7)
  eq(util.byte_col(line, 9, "utf-16"), 7)
  eq(util.byte_col(line, 2, "utf-32"), 6)
  eq(util.byte_col(line, 3, "utf-8"), 3)
  eq(util.byte_col(line, 99, "utf-8"), 7)
end)

local function range(l1, c1, l2, c2) return { start = { line = l1, character = c1 }, ["end"] = { line = l2, character = c2 } } end
local DEL, STRIKE, ADD = "HearthNextEditDelete", "HearthNextEditStrike", "HearthNextEditAdd"

test("next-edit marks: a replacement strikes the old text and shows the new inline after it, the reason at eol", function()
  local marks = require("hearth.next_edit").marks
  local lines = { "def report(numbers, out):", "    total = sum(values)", "    n = len(values)" }
  local edits = { { range = range(1, 16, 1, 22), newText = "numbers" }, { range = range(2, 12, 2, 18), newText = "numbers" } }
  eq(marks(edits, lines, "utf-16", "2 changes in lines 2-3", true), {
    { 1, 16, { end_row = 1, end_col = 22, hl_group = DEL } },
    { 1, 16, { end_row = 1, end_col = 22, hl_group = STRIKE } },
    { 1, 22, { hl_mode = "combine", virt_text = { { "numbers", ADD } }, virt_text_pos = "inline" } },
    { 2, 12, { end_row = 2, end_col = 18, hl_group = DEL } },
    { 2, 12, { end_row = 2, end_col = 18, hl_group = STRIKE } },
    { 2, 18, { hl_mode = "combine", virt_text = { { "numbers", ADD } }, virt_text_pos = "inline" } },
    { 1, 0, { hl_mode = "combine", virt_text = { { "  2 changes in lines 2-3", "HearthNextEditReason" } }, virt_text_pos = "eol" } },
  })
  -- Without inline virtual text the new text goes at the end of the line.
  eq(
    marks({ edits[1] }, lines, "utf-16", nil, false)[3],
    { 1, 22, { hl_mode = "combine", virt_text = { { "numbers", ADD } }, virt_text_pos = "eol" } }
  )
end)

test("next-edit marks: insertions, deletions, multi-line text, whole lines, UTF-16 columns, ranges past the end", function()
  local marks = require("hearth.next_edit").marks
  local lines = { "a = 1", "b = 2", "c = 3" }
  -- A pure insertion: only virtual text.
  eq(marks({ { range = range(0, 5, 0, 5), newText = "0" } }, lines, "utf-16", nil, true), {
    { 0, 5, { hl_mode = "combine", virt_text = { { "0", ADD } }, virt_text_pos = "inline" } },
  })
  -- A pure deletion: only the struck-through span.
  eq(#marks({ { range = range(1, 0, 1, 2), newText = "" } }, lines, "utf-16", nil, true), 2)
  -- Text with line breaks inside a line: the first line inline, the rest as virt_lines.
  eq(marks({ { range = range(0, 5, 0, 5), newText = "0\nd = 4\ne" } }, lines, "utf-16", nil, true), {
    {
      0,
      5,
      {
        hl_mode = "combine",
        virt_text = { { "0", ADD } },
        virt_text_pos = "inline",
        virt_lines = { { { "d = 4", ADD } }, { { "e", ADD } } },
      },
    },
  })
  -- Whole lines replaced: the new lines above the line after the removed ones.
  eq(marks({ { range = range(0, 0, 2, 0), newText = "x = 1\ny = 2\n" } }, lines, "utf-16", nil, true), {
    { 0, 0, { end_row = 2, end_col = 0, hl_group = DEL } },
    { 0, 0, { end_row = 2, end_col = 0, hl_group = STRIKE } },
    { 2, 0, { virt_lines = { { { "x = 1", ADD } }, { { "y = 2", ADD } } }, virt_lines_above = true } },
  })
  -- Lines added at the end of the document (the position after the last line): below the last line.
  eq(marks({ { range = range(3, 0, 3, 0), newText = "d = 4\n" } }, lines, "utf-16", nil, true), {
    { 2, 0, { virt_lines = { { { "d = 4", ADD } } }, virt_lines_above = false } },
  })
  -- Columns are UTF-16 units on the wire, bytes in extmarks.
  eq(
    marks({ { range = range(0, 2, 0, 3), newText = "" } }, { "😀x y" }, "utf-16", nil, true)[1],
    { 0, 4, { end_row = 0, end_col = 5, hl_group = DEL } }
  )
end)

test("next-edit accept: jump to the first edit unless the cursor is there (or where the jump put it)", function()
  local decide = require("hearth.next_edit").decide
  eq(decide(nil, 0, 0), "none")
  local sug = { start = { 6, 16 } }
  eq(decide(sug, 5, 18), "jump")
  eq(decide(sug, 6, 15), "jump")
  eq(decide(sug, 6, 16), "accept")
  -- An edit at the end of a line: normal mode puts the cursor on the last character.
  sug = { start = { 2, 5 }, landed = { 2, 4 } }
  eq(decide(sug, 2, 4), "accept")
  eq(decide(sug, 2, 5), "accept")
  eq(decide(sug, 1, 4), "jump")
end)

print(("nvim-unit: %d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
