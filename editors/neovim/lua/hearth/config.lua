--- Options for require("hearth").setup(): defaults, validation, and the server's initializationOptions.
local M = {}

M.defaults = {
  -- The server command line. The default finds `hearth` on PATH.
  cmd = { "hearth", "serve" },
  -- Filetypes that start the server and get ghost text. "*" means every filetype.
  filetypes = { "python", "rust", "lua", "javascript", "typescript", "javascriptreact", "typescriptreact", "go", "c", "cpp", "java", "sh" },
  root_markers = { ".git", "Cargo.toml", "pyproject.toml", "package.json" },
  -- Passed to the server as initializationOptions and workspace/didChangeConfiguration (docs/protocol.md).
  server = {
    model = nil, -- folder, .gguf or Hugging Face id; nil = the server's default
    draftModel = nil,
    device = "auto",
    multiline = false,
    debounceMs = 30,
    contextBudget = nil, -- nil: the server picks it from the measured prompt speed (at most 1024)
    maxTokens = 64,
    enabledLanguages = { "*" },
  },
  -- "auto": Neovim's vim.lsp.inline_completion where it exists (0.12+), else Hearth's own extmark ghost text.
  backend = "auto",
  -- Show suggestions while typing; false: only on keymaps.request.
  auto_trigger = true,
  -- Client-side wait after a keystroke before asking (extmark backend; the native one waits 200 ms).
  debounce_ms = 75,
  -- A suggestion request not answered in this time is cancelled.
  timeout_ms = 3000,
  -- Insert-mode keys; false disables one. accept falls back to the key itself when no suggestion shows.
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    dismiss = "<C-]>",
    request = "<M-\\>",
    -- Insert and normal mode, only while a next-edit suggestion shows (else the key itself):
    -- jump to it, then apply it. In insert mode ghost text, when shown, goes first.
    next_edit = "<Tab>",
  },
  -- Next-edit suggestions (hearth/nextEdit): after an edit pause of debounce_ms, where the next change goes.
  next_edit = { enabled = true, debounce_ms = 400 },
  -- :HearthEdit shows a diff and asks before applying (:HearthEdit! applies at once).
  review_edits = true,
  -- Start the server with --log-prompts: its log (:HearthLog) then holds SOURCE CODE (prompts,
  -- completions), for debugging. Changing it takes a :HearthRestart.
  log_prompts = false,
}

local DEVICES = { auto = true, cpu = true, cuda = true, metal = true }

--- Merges user options over the defaults and checks them. Returns the config and a list of problems.
function M.resolve(user)
  local problems = {}
  local cfg = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  if type(user) == "table" and user.filetypes ~= nil then cfg.filetypes = user.filetypes end
  if type(user) == "table" and user.cmd ~= nil then cfg.cmd = user.cmd end
  if type(cfg.cmd) == "string" then cfg.cmd = { cfg.cmd, "serve" } end
  if type(cfg.cmd) ~= "table" or type(cfg.cmd[1]) ~= "string" or cfg.cmd[1] == "" then
    table.insert(problems, "cmd must be a list like { 'hearth', 'serve' }")
    cfg.cmd = vim.deepcopy(M.defaults.cmd)
  end
  if not DEVICES[cfg.server.device] then
    table.insert(problems, ("server.device = %s is not auto, cpu, cuda or metal; using auto"):format(vim.inspect(cfg.server.device)))
    cfg.server.device = "auto"
  end
  if cfg.backend ~= "auto" and cfg.backend ~= "native" and cfg.backend ~= "extmark" then
    table.insert(problems, ("backend = %s is not auto, native or extmark; using auto"):format(vim.inspect(cfg.backend)))
    cfg.backend = "auto"
  end
  if type(cfg.log_prompts) ~= "boolean" then
    table.insert(problems, ("log_prompts = %s is not true or false; using false"):format(vim.inspect(cfg.log_prompts)))
    cfg.log_prompts = false
  end
  if type(user) == "table" and type(user.next_edit) == "boolean" then
    cfg.next_edit = { enabled = user.next_edit, debounce_ms = M.defaults.next_edit.debounce_ms }
  elseif type(user) == "table" and user.next_edit ~= nil and type(user.next_edit) ~= "table" then
    table.insert(
      problems,
      ("next_edit = %s is not a table like { enabled = true }; using the defaults"):format(vim.inspect(user.next_edit))
    )
    cfg.next_edit = vim.deepcopy(M.defaults.next_edit)
  end
  if type(cfg.next_edit.enabled) ~= "boolean" then
    table.insert(problems, ("next_edit.enabled = %s is not true or false; using true"):format(vim.inspect(cfg.next_edit.enabled)))
    cfg.next_edit.enabled = true
  end
  if type(cfg.next_edit.debounce_ms) ~= "number" or cfg.next_edit.debounce_ms < 0 then
    table.insert(problems, ("next_edit.debounce_ms must be a number >= 0; using %d"):format(M.defaults.next_edit.debounce_ms))
    cfg.next_edit.debounce_ms = M.defaults.next_edit.debounce_ms
  end
  for _, key in ipairs({ "debounce_ms", "timeout_ms" }) do
    if type(cfg[key]) ~= "number" or cfg[key] < 0 then
      table.insert(problems, ("%s must be a number >= 0; using %d"):format(key, M.defaults[key]))
      cfg[key] = M.defaults[key]
    end
  end
  return cfg, problems
end

--- The server command line: cmd, plus --log-prompts when log_prompts is on.
function M.command(cfg)
  local cmd = vim.deepcopy(cfg.cmd)
  if cfg.log_prompts and not vim.tbl_contains(cmd, "--log-prompts") then cmd[#cmd + 1] = "--log-prompts" end
  return cmd
end

--- Whether Neovim's own inline completion module is there and wanted.
function M.use_native(cfg)
  local has = vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
  if cfg.backend == "native" and not has then return false end
  return cfg.backend == "native" or (cfg.backend == "auto" and has)
end

--- The server options as sent on the wire: nil values dropped, draftModel explicit, and
--- nextEdit.enabled from next_edit.enabled (over server.nextEdit's other keys, e.g. format).
function M.server_options(cfg)
  local out = {}
  for k, v in pairs(cfg.server) do
    if v ~= nil then out[k] = v end
  end
  if out.draftModel == nil then out.draftModel = vim.NIL end
  local next_edit = type(out.nextEdit) == "table" and vim.deepcopy(out.nextEdit) or {}
  next_edit.enabled = cfg.next_edit.enabled
  out.nextEdit = next_edit
  return out
end

function M.filetype_enabled(cfg, ft)
  if ft == nil or ft == "" then return false end
  return vim.tbl_contains(cfg.filetypes, "*") or vim.tbl_contains(cfg.filetypes, ft)
end

return M
