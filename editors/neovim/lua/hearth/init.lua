--- Hearth for Neovim: starts `hearth serve` with vim.lsp.start, shows ghost text, and runs the hearth.* commands.
local config = require("hearth.config")
local util = require("hearth.util")

local M = {}

M.config = nil
M.enabled = true
--- Last `hearth/status` payload per client id, plus client-side states ("starting", "crashed", "missing").
M.status = {}
M.last_error = nil

--- Scheduled, so that an error message raised inside an autocmd (FileType) does not abort the command that fired it.
local function notify(msg, level)
  vim.schedule(function() vim.notify("hearth: " .. msg, level or vim.log.levels.INFO) end)
end

local function backend()
  if config.use_native(M.config) then return require("hearth.native") end
  return require("hearth.ghost")
end

function M.client(bufnr) return vim.lsp.get_clients({ bufnr = bufnr, name = "hearth" })[1] or vim.lsp.get_clients({ name = "hearth" })[1] end

local function set_status(key, payload)
  M.status[key] = payload
  M.status.last = payload
  vim.api.nvim_exec_autocmds("User", { pattern = "HearthStatus", modeline = false, data = payload })
end

--- A one-line description of the state, for :HearthStatus and statuslines.
function M.status_line()
  local s = M.status.last
  if not s then return "Hearth: not started" end
  local text = "Hearth: " .. s.state
  if s.state == "indexing" and s.percentage then text = ("%s %d%%"):format(text, math.floor(s.percentage + 0.5)) end
  if s.message and s.message ~= "" then text = text .. " (" .. s.message .. ")" end
  if not M.enabled then text = text .. ", completions off" end
  return text
end

--- Checks the server binary. Returns its resolved path, or nil and a message saying what to do.
function M.find_binary()
  local exe = M.config.cmd[1]
  if vim.fn.executable(exe) == 1 then return vim.fn.exepath(exe) end
  return nil,
    ("cannot run %q: not found or not executable. Install hearth (cargo install --path crates/cli) or pass cmd = { '/path/to/hearth', 'serve' } to require('hearth').setup(), then :HearthRestart. See :checkhealth hearth."):format(
      exe
    )
end

local function on_status(_, result, ctx)
  if type(result) ~= "table" or type(result.state) ~= "string" then return end
  set_status(ctx.client_id, result)
  if result.state == "error" then
    M.last_error = result.message
    notify("server error: " .. tostring(result.message), vim.log.levels.ERROR)
  end
end

local function keymaps(bufnr)
  local km = M.config.keymaps
  local function map(lhs, fn, desc, fallback, modes)
    if not lhs then return end
    vim.keymap.set(modes or "i", lhs, function()
      if fn(bufnr) then return "" end
      return fallback and lhs or ""
    end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc, silent = true })
  end
  local next_edit = require("hearth.next_edit")
  local ne_key = M.config.next_edit.enabled and km.next_edit or nil
  if ne_key and ne_key == km.accept then
    -- One key: ghost text first, else the next edit.
    map(
      km.accept,
      function(b) return M.accept_scheduled(b) or next_edit.accept_scheduled(b) end,
      "Hearth: accept suggestion, or jump to / apply the next edit",
      true
    )
    map(ne_key, next_edit.accept_scheduled, "Hearth: jump to / apply the next edit", true, "n")
  else
    map(km.accept, M.accept_scheduled, "Hearth: accept suggestion", true)
    map(ne_key, next_edit.accept_scheduled, "Hearth: jump to / apply the next edit", true, { "i", "n" })
  end
  map(km.accept_word, function(b) return M.accept_part_scheduled(b, util.first_word) end, "Hearth: accept next word", true)
  map(km.accept_line, function(b) return M.accept_part_scheduled(b, util.first_line) end, "Hearth: accept next line", true)
  map(km.dismiss, function(b)
    local had = M.dismiss(b)
    return next_edit.dismiss(b) or had
  end, "Hearth: dismiss suggestion", true)
  map(km.request, function(b)
    backend().request(b, 1)
    return true
  end, "Hearth: ask for a suggestion", false)
end

local function on_attach(client, bufnr)
  if not config.filetype_enabled(M.config, vim.bo[bufnr].filetype) then return end
  backend().attach(bufnr, M.config)
  if M.config.next_edit.enabled then require("hearth.next_edit").attach(bufnr, M.config) end
  keymaps(bufnr)
  if not M.status[client.id] then set_status(client.id, { state = "loading" }) end
end

--- Starts (or reuses) the server for a buffer.
function M.start(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local path, err = M.find_binary()
  if not path then
    M.last_error = err
    set_status("client", { state = "error", message = "binary not found" })
    if not M._warned_missing then
      M._warned_missing = true
      notify(err, vim.log.levels.ERROR)
    end
    return nil
  end
  local root = vim.fs.root(bufnr, M.config.root_markers) or vim.fn.getcwd()
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.textDocument.inlineCompletion = capabilities.textDocument.inlineCompletion or { dynamicRegistration = false }
  return vim.lsp.start({
    name = "hearth",
    cmd = config.command(M.config),
    root_dir = root,
    capabilities = capabilities,
    init_options = config.server_options(M.config),
    settings = { hearth = config.server_options(M.config) },
    handlers = {
      ["hearth/status"] = on_status,
      ["hearth/agentTranscript"] = function(err, result, ctx) require("hearth.agent").on_transcript(err, result, ctx) end,
    },
    -- The "Hearth: edit selection…" code action's command: ask for the instruction here.
    commands = { ["hearth.edit"] = function(command, ctx) require("hearth.edit").code_action(command, ctx) end },
    on_attach = on_attach,
    on_exit = function(code, signal, client_id)
      M.status[client_id] = nil
      if package.loaded["hearth.agent"] then require("hearth.agent").on_exit(client_id) end
      if M._stopping then return end
      if code ~= 0 or (signal and signal ~= 0) then
        local msg = ("server exited (code %s, signal %s). Run :HearthRestart to start it again; :HearthLog shows its log."):format(
          code,
          signal
        )
        M.last_error = msg
        vim.schedule(function() set_status("client", { state = "error", message = "server exited" }) end)
        notify(msg, vim.log.levels.ERROR)
      end
    end,
  }, { bufnr = bufnr })
end

function M.stop()
  M._stopping = true
  for _, client in ipairs(vim.lsp.get_clients({ name = "hearth" })) do
    for bufnr in pairs(client.attached_buffers or {}) do
      backend().detach(bufnr)
      require("hearth.next_edit").detach(bufnr)
    end
    util.stop(client, true)
  end
  vim.wait(3000, function() return #vim.lsp.get_clients({ name = "hearth" }) == 0 end, 20)
  M._stopping = false
  M.status = {}
end

function M.restart()
  M.stop()
  M._warned_missing = false
  M.last_error = nil
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and config.filetype_enabled(M.config, vim.bo[bufnr].filetype) then M.start(bufnr) end
  end
end

--- Updates server options at run time (workspace/didChangeConfiguration), no restart.
function M.configure(server_options)
  M.config.server = vim.tbl_extend("force", M.config.server, server_options or {})
  local settings = { hearth = config.server_options(M.config) }
  for _, client in ipairs(vim.lsp.get_clients({ name = "hearth" })) do
    client.settings = settings
    util.notify(client, "workspace/didChangeConfiguration", { settings = settings })
  end
end

-- Suggestion actions. Insert-mode keymaps are <expr>, so buffer changes are scheduled.
function M.suggestion(bufnr) return backend().text(bufnr or vim.api.nvim_get_current_buf()) end

function M.accept_scheduled(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if config.use_native(M.config) then return require("hearth.native").accept(bufnr) end
  if not require("hearth.ghost").text(bufnr) then return false end
  vim.schedule(function() require("hearth.ghost").accept(bufnr) end)
  return true
end

function M.accept_part_scheduled(bufnr, pick)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if config.use_native(M.config) then return require("hearth.native").accept(bufnr, pick) end
  local text = require("hearth.ghost").text(bufnr)
  if not text then return false end
  vim.schedule(function() require("hearth.ghost").accept(bufnr, pick(text)) end)
  return true
end

function M.dismiss(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if config.use_native(M.config) then return require("hearth.native").dismiss(bufnr) end
  local had = require("hearth.ghost").text(bufnr) ~= nil
  require("hearth.ghost").cancel(bufnr)
  require("hearth.ghost").clear(bufnr)
  return had
end

function M.toggle()
  M.enabled = not M.enabled
  for _, client in ipairs(vim.lsp.get_clients({ name = "hearth" })) do
    for bufnr in pairs(client.attached_buffers or {}) do
      if config.use_native(M.config) then
        require("hearth.native").set_enabled(bufnr, M.enabled)
      elseif not M.enabled then
        M.dismiss(bufnr)
      end
      if not M.enabled then require("hearth.next_edit").dismiss(bufnr) end
    end
  end
  notify(M.enabled and "completions on" or "completions off")
end

--- Runs a hearth.* command on the server; calls back with (err, result).
function M.execute(command, args, bufnr, callback)
  local client = M.client(bufnr)
  if not client then
    local _, missing = M.find_binary()
    callback(missing or "the server is not running; open a file of a configured filetype or run :HearthRestart")
    return
  end
  util.request(client, "workspace/executeCommand", { command = command, arguments = { args } }, function(err, result)
    if err then
      callback(("%s failed: %s"):format(command, err.message or vim.inspect(err)))
    else
      callback(nil, result, client)
    end
  end, bufnr)
end

function M.edit(opts) require("hearth.edit").run(opts) end

function M.context() require("hearth.edit").context() end

--- Asks for the next edit at the cursor now (no pause).
function M.next_edit(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if not M.config.next_edit.enabled then return notify("next edit is off (next_edit.enabled = false)") end
  require("hearth.next_edit").request(bufnr, true)
end

local function commands()
  local cmd = vim.api.nvim_create_user_command
  cmd("HearthStatus", function()
    local lines = { M.status_line() }
    local client = M.client()
    if client then
      lines[#lines + 1] = ("server: %s (client %d, root %s)"):format(
        table.concat(M.config.cmd, " "),
        client.id,
        client.config.root_dir or "?"
      )
    end
    if M.last_error then lines[#lines + 1] = "last error: " .. M.last_error end
    lines[#lines + 1] = "ghost text: " .. (config.use_native(M.config) and "vim.lsp.inline_completion" or "hearth extmarks")
    lines[#lines + 1] = "next edit: "
      .. (M.config.next_edit.enabled and ("on, %d ms after an edit"):format(M.config.next_edit.debounce_ms) or "off")
    vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
  end, { desc = "Hearth: show the server state" })
  cmd(
    "HearthEdit",
    function(o)
      M.edit({
        instruction = o.args,
        range = o.range > 0 and { o.line1, o.line2 } or nil,
        scope = o.range > 0 and "selection" or "file",
        apply = o.bang,
      })
    end,
    { nargs = "+", range = true, bang = true, desc = "Hearth: edit the selection (or file) as instructed" }
  )
  cmd(
    "HearthRefactor",
    function(o) M.edit({ instruction = o.args, scope = "repository", apply = o.bang }) end,
    { nargs = "+", bang = true, desc = "Hearth: edit across the repository as instructed" }
  )
  cmd(
    "HearthAgent",
    function(o) require("hearth.agent").run({ task = o.args, apply = o.bang }) end,
    { nargs = "+", bang = true, desc = "Hearth: let the agent do a task (tools, then a reviewed edit)" }
  )
  cmd("HearthAgentCancel", function() require("hearth.agent").cancel() end, { desc = "Hearth: cancel the running agent" })
  cmd("HearthNextEdit", function() M.next_edit() end, { desc = "Hearth: ask for the next edit now" })
  cmd("HearthNextEditAccept", function()
    local bufnr = vim.api.nvim_get_current_buf()
    if not require("hearth.next_edit").get(bufnr) then return notify("no next edit shows here") end
    require("hearth.next_edit").accept(bufnr)
  end, { desc = "Hearth: jump to the next edit, or apply it when there" })
  cmd(
    "HearthNextEditDismiss",
    function() require("hearth.next_edit").dismiss(vim.api.nvim_get_current_buf()) end,
    { desc = "Hearth: hide the next-edit suggestion" }
  )
  cmd("HearthContext", M.context, { desc = "Hearth: show the context used at the cursor" })
  cmd("HearthToggle", M.toggle, { desc = "Hearth: completions on/off" })
  cmd("HearthRestart", M.restart, { desc = "Hearth: restart the server" })
  cmd("HearthLog", function() vim.cmd.edit(vim.lsp.get_log_path()) end, { desc = "Hearth: open the LSP log" })
end

--- Default highlight groups (a user's own definitions win).
local function highlights()
  local hl = function(name, def) vim.api.nvim_set_hl(0, name, vim.tbl_extend("force", def, { default = true })) end
  hl("HearthGhostText", { link = "Comment" })
  hl("HearthNextEditDelete", { link = "DiffDelete" })
  hl("HearthNextEditStrike", { strikethrough = true })
  hl("HearthNextEditAdd", { link = "DiffAdd" })
  hl("HearthNextEditReason", { link = "Comment" })
end

function M.setup(user)
  local problems
  M.config, problems = config.resolve(user)
  for _, p in ipairs(problems) do
    notify("setup: " .. p, vim.log.levels.WARN)
  end
  highlights()
  commands()
  local group = vim.api.nvim_create_augroup("hearth", { clear = true })
  -- A colorscheme clears the highlight groups: define the defaults again.
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = highlights })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    callback = function(ev)
      if config.filetype_enabled(M.config, ev.match) and vim.bo[ev.buf].buftype == "" then M.start(ev.buf) end
    end,
  })
  -- Buffers already open when setup() runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and config.filetype_enabled(M.config, vim.bo[bufnr].filetype) then M.start(bufnr) end
  end
end

return M
