-- Unit tests of the plugin's pure parts (no server): option checking, suggestion splitting.
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

print(("nvim-unit: %d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
