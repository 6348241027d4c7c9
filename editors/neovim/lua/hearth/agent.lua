--- :HearthAgent and :HearthAgentCancel: run a `hearth/agent` session, show its transcript live, review its edit.
local util = require("hearth.util")

local M = {}

--- The running session of each client (one at a time): client_id → run.
M.active = {}
--- The last run that ended (for tests and :lua inspection).
M.last = nil
--- Lines of a tool result shown in the transcript.
M.result_lines = 8

local count = 0

local function notify(msg, level) vim.notify("hearth: " .. msg, level or vim.log.levels.INFO) end

--- Compact JSON with sorted keys (decoded objects lose their order).
local function compact(value)
  if value == nil or value == vim.NIL then return "null" end
  if type(value) == "table" and next(value) ~= nil then
    local parts = {}
    if vim.islist(value) then
      for _, v in ipairs(value) do
        parts[#parts + 1] = compact(v)
      end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = vim.tbl_keys(value)
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = vim.json.encode(tostring(k)) .. ":" .. compact(value[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local ok, json = pcall(vim.json.encode, value)
  return ok and json or tostring(value)
end

local function split(text) return vim.split(tostring(text or ""), "\n", { plain = true }) end

--- The transcript lines of one `hearth/agentTranscript` event.
function M.render(event)
  local kind = type(event) == "table" and event.kind or nil
  if kind == "step" then
    return {
      "",
      ("## Step %s of at most %s (prompt %s tokens, context %s)"):format(
        event.step or "?",
        event.max_steps or "?",
        event.prompt_tokens or "?",
        event.context_tokens or "?"
      ),
      "",
    }
  elseif kind == "text" then
    return split(event.text)
  elseif kind == "tool_call" then
    return { ("→ call %s %s"):format(event.name or "?", compact(event.arguments)) }
  elseif kind == "tool_result" then
    local lines = { ("← %s: %s"):format(event.name or "?", event.ok and "ok" or "error") }
    local text = split(event.text)
    while #text > 0 and text[#text] == "" do
      text[#text] = nil
    end
    for i = 1, math.min(#text, M.result_lines) do
      lines[#lines + 1] = "    " .. text[i]
    end
    if #text > M.result_lines then lines[#lines + 1] = ("    … %d more line(s)"):format(#text - M.result_lines) end
    return lines
  elseif kind == "format_error" then
    return { "! format error: " .. tostring(event.message or "") }
  elseif kind == "note" then
    return { "> note: " .. tostring(event.text or "") }
  end
  return { ("? %s %s"):format(tostring(kind), compact(event)) }
end

local STOPS = {
  step_budget = "the step budget ran out",
  token_budget = "the token budget ran out",
  context_full = "the context is full",
}

--- The closing lines of a result: the answer, why it stopped, the files changed.
function M.render_result(result)
  local lines = { "", "## Answer", "" }
  if type(result.answer) == "string" and result.answer ~= "" then
    vim.list_extend(lines, split(result.answer))
  else
    lines[#lines + 1] = "(none)"
  end
  lines[#lines + 1] = ""
  local stop = tostring(result.stop)
  if STOPS[result.stop] then stop = ("%s (%s)"):format(stop, STOPS[result.stop]) end
  lines[#lines + 1] = ("Stop: %s; %s step(s), %s token(s) generated, %s call(s), %s malformed."):format(
    stop,
    result.steps or "?",
    result.generatedTokens or "?",
    result.calls or "?",
    result.malformedCalls or 0
  )
  local files = type(result.files) == "table" and result.files or {}
  if #files == 0 then
    lines[#lines + 1] = "No file changes."
  else
    lines[#lines + 1] = ("%d file(s) changed:"):format(#files)
    for _, f in ipairs(files) do
      lines[#lines + 1] = "- " .. tostring(f.path or f.uri)
    end
  end
  return lines
end

--- Appends lines to a run's transcript buffer, and follows its end in the windows showing it.
local function append(run, lines)
  local buf = run.bufnr
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then return end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, lines)
  vim.bo[buf].modifiable = false
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { last, 0 })
  end
end

local function add_event(run, event)
  run.events = run.events + 1
  append(run, M.render(event))
end

--- A transcript buffer in a split; the cursor stays where it was.
local function open_transcript(run)
  local win = vim.api.nvim_get_current_win()
  local buf = util.scratch({ "# Hearth agent: " .. run.task }, "markdown", "botright 12new")
  vim.bo[buf].bufhidden = "hide"
  pcall(vim.api.nvim_buf_set_name, buf, ("hearth://agent/%d"):format(run.n))
  if vim.api.nvim_win_is_valid(win) then vim.api.nvim_set_current_win(win) end
  return buf
end

local function finish(run, state)
  run.state = state
  if M.active[run.client_id] == run then M.active[run.client_id] = nil end
  M.last = run
end

--- `hearth/agentTranscript` from the server: appends the event to its session's transcript.
function M.on_transcript(_, params, ctx)
  if type(params) ~= "table" then return end
  local run = M.active[ctx.client_id]
  -- The session id comes with the result; the first event of a session binds it to the running request.
  if not run or (run.session ~= nil and run.session ~= params.session) then return end
  run.session = params.session
  add_event(run, params.event)
end

local OUTCOMES = {
  applied = "Applied, unsaved; u undoes it in each file.",
  stale = "Not applied: a buffer changed while the agent worked; run it again.",
  discarded = "Discarded.",
  failed = "Not applied: a buffer changed during the review; run it again.",
}

local function on_result(run, err, result, encoding)
  if run.state ~= "running" then return end
  if err then
    if err.code == -32800 then
      append(run, { "", "**cancelled**" })
      finish(run, "cancelled")
      return
    end
    append(run, { "", "**error**: " .. tostring(err.message or vim.inspect(err)) })
    finish(run, "error")
    return notify("hearth/agent failed: " .. tostring(err.message or vim.inspect(err)), vim.log.levels.ERROR)
  end
  if type(result) ~= "table" then
    append(run, { "", "**error**: no result" })
    finish(run, "error")
    return notify("hearth/agent returned no result", vim.log.levels.ERROR)
  end
  run.result = result
  run.live = run.events
  -- Events that came with the result only (none, normally: notifications arrive first).
  if run.session == nil or run.session == result.session then
    local transcript = type(result.transcript) == "table" and result.transcript or {}
    for i = run.events + 1, #transcript do
      add_event(run, transcript[i])
    end
  end
  run.session = result.session
  append(run, M.render_result(result))
  finish(run, "done")
  if type(result.edit) ~= "table" then return end
  local header = { "# Hearth's agent proposes: " .. run.task }
  for _, l in ipairs(type(result.answer) == "string" and split(result.answer) or {}) do
    header[#header + 1] = "# " .. l
  end
  run.preview = require("hearth.edit").review(result.edit, encoding, {
    apply = run.apply,
    header = header,
    title = "the agent's",
    ticks = run.ticks,
    none = "the agent changed no files",
    on_done = function(outcome)
      if OUTCOMES[outcome] then append(run, { OUTCOMES[outcome] }) end
    end,
  })
end

--- The current file as an agent `files` entry, when it is a file in the client's workspace.
local function current_file(bufnr, client)
  if vim.bo[bufnr].buftype ~= "" then return nil end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then return nil end
  local root = client.config.root_dir
  local path = vim.fs.normalize(vim.fn.fnamemodify(name, ":p"))
  if root and path:sub(1, #vim.fs.normalize(root) + 1) ~= vim.fs.normalize(root) .. "/" then return nil end
  return vim.uri_from_fname(path)
end

--- opts: { task, apply = bool (no review), bufnr? }
function M.run(opts)
  local hearth = require("hearth")
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local task = vim.trim(opts.task or "")
  if task == "" then return notify("the task is empty", vim.log.levels.ERROR) end
  local client = hearth.client(bufnr)
  if not client then
    local _, missing = hearth.find_binary()
    return notify(missing or "the server is not running; open a file of a configured filetype or run :HearthRestart", vim.log.levels.ERROR)
  end
  local running = M.active[client.id]
  if running and not (client.is_stopped and client:is_stopped()) then
    return notify(
      "an agent is already running (transcript hearth://agent/" .. running.n .. "); :HearthAgentCancel stops it",
      vim.log.levels.WARN
    )
  end
  count = count + 1
  local run = { n = count, task = task, apply = opts.apply, client_id = client.id, events = 0, state = "running" }
  local file = current_file(bufnr, client)
  local params = { task = task, files = file and { file } or {} }
  run.bufnr = open_transcript(run)
  if file then append(run, { "", "Files: " .. vim.fn.fnamemodify(vim.uri_to_fname(file), ":.") }) end
  run.ticks = require("hearth.edit").ticks()
  M.active[client.id] = run
  local encoding = client.offset_encoding
  local ok, id = util.request(client, "hearth/agent", params, function(err, result) on_result(run, err, result, encoding) end, bufnr)
  if not ok or not id then
    append(run, { "", "**error**: the request could not be sent" })
    finish(run, "error")
    return notify("hearth/agent could not be sent (is the server running?)", vim.log.levels.ERROR)
  end
  run.request_id = id
  -- Neovim drops a RequestCancelled answer before the handler, but the reply still ends the request:
  -- a reply with no handler call is the cancellation.
  vim.api.nvim_create_autocmd("LspRequest", {
    group = vim.api.nvim_create_augroup("hearth.agent." .. run.n, { clear = true }),
    callback = function(ev)
      local d = ev.data or {}
      if d.client_id ~= run.client_id or d.request_id ~= id or not d.request or d.request.type ~= "complete" then return end
      vim.schedule(function()
        if run.state == "running" then on_result(run, { code = -32800, message = "cancelled" }) end
      end)
      return true
    end,
  })
  return run
end

--- The server of a running session exited: the request will never be answered.
function M.on_exit(client_id)
  local run = M.active[client_id]
  if not run then return end
  vim.schedule(function()
    if run.state ~= "running" then return end
    append(run, { "", "**error**: the server exited" })
    finish(run, "error")
  end)
end

--- Cancels the running session of the current buffer's client (or of any client).
function M.cancel()
  local client = require("hearth").client(vim.api.nvim_get_current_buf())
  local run = client and M.active[client.id] or select(2, next(M.active))
  if not run or not run.request_id then return notify("no agent is running") end
  local c = vim.lsp.get_client_by_id(run.client_id)
  if not c then
    append(run, { "", "**cancelled** (the server is gone)" })
    return finish(run, "cancelled")
  end
  append(run, { "", "Cancelling…" })
  util.cancel_request(c, run.request_id)
end

return M
