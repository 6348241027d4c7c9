--- Next-edit suggestions: after an edit pause, asks the server (hearth/nextEdit) where the next change goes,
--- shows it with extmarks (removed text struck through, new text as virtual text), jumps there and applies it.
local util = require("hearth.util")

local M = {}
M.ns = vim.api.nvim_create_namespace("hearth.next_edit")
M.method = "hearth/nextEdit"

local CANCELLED, CONTENT_MODIFIED = -32800, -32801
local has_inline = vim.fn.has("nvim-0.10") == 1

-- bufnr -> { timer, pending = {client, id}, tick, suggestion = {version, edits, encoding, reason, result, start, landed} }
local state = {}
local cfg
local warned = {} -- error codes already shown for automatic requests

local function notify(msg, level) vim.notify("hearth: " .. msg, level or vim.log.levels.INFO) end

local function buf_state(bufnr)
  state[bufnr] = state[bufnr] or {}
  return state[bufnr]
end

local function stop_timer(t)
  if t and not t:is_closing() then
    t:stop()
    t:close()
  end
end

--- The window to use for a buffer: the current one when it shows it, else any that does.
local function window_of(bufnr)
  if vim.api.nvim_get_current_buf() == bufnr then return vim.api.nvim_get_current_win() end
  local win = vim.fn.bufwinid(bufnr)
  return win ~= -1 and win or nil
end

--- An LSP position as a (row, byte col) in `lines`; past the end means the end of the last line.
local function to_byte(lines, pos, encoding)
  local n = #lines
  if pos.line >= n then return math.max(n - 1, 0), #(lines[n] or "") end
  return pos.line, util.byte_col(lines[pos.line + 1], pos.character, encoding)
end

--- The extmarks that show `edits` over `lines`: a list of { row, col, opts } for nvim_buf_set_extmark.
--- The removed span gets HearthNextEditDelete and HearthNextEditStrike; the new text is virtual text
--- (inline after the removed span, or at the end of the line without `inline`), its further lines
--- virt_lines; whole-line replacements show their new lines above the line after the removed ones.
--- `reason` goes at the end of the first edit's line.
function M.marks(edits, lines, encoding, reason, inline)
  local out = {}
  for _, edit in ipairs(edits) do
    local sr, sc = to_byte(lines, edit.range.start, encoding)
    local er, ec = to_byte(lines, edit.range["end"], encoding)
    if sr ~= er or sc ~= ec then
      out[#out + 1] = { sr, sc, { end_row = er, end_col = ec, hl_group = "HearthNextEditDelete" } }
      out[#out + 1] = { sr, sc, { end_row = er, end_col = ec, hl_group = "HearthNextEditStrike" } }
    end
    local text = edit.newText or ""
    if text ~= "" then
      local pieces = vim.split(text, "\n", { plain = true })
      local whole_lines = #pieces > 1 and pieces[#pieces] == "" and edit.range.start.character == 0 and edit.range["end"].character == 0
      if whole_lines then
        local virt_lines = {}
        for i = 1, #pieces - 1 do
          virt_lines[i] = { { pieces[i], "HearthNextEditAdd" } }
        end
        local below_last = edit.range["end"].line >= #lines
        out[#out + 1] = { below_last and er or edit.range["end"].line, 0, { virt_lines = virt_lines, virt_lines_above = not below_last } }
      else
        local opts = { hl_mode = "combine" }
        if pieces[1] ~= "" then
          opts.virt_text = { { pieces[1], "HearthNextEditAdd" } }
          opts.virt_text_pos = inline and "inline" or "eol"
        end
        if #pieces > 1 then
          opts.virt_lines = {}
          for i = 2, #pieces do
            opts.virt_lines[i - 1] = { { pieces[i], "HearthNextEditAdd" } }
          end
        end
        out[#out + 1] = { er, ec, opts }
      end
    end
  end
  if reason and reason ~= "" and edits[1] then
    local row = to_byte(lines, edits[1].range.start, encoding)
    out[#out + 1] = { row, 0, { virt_text = { { "  " .. reason, "HearthNextEditReason" } }, virt_text_pos = "eol", hl_mode = "combine" } }
  end
  return out
end

--- What accepting does with the cursor at (row, byte col): "jump" to the first edit, or "accept" (apply)
--- when already there (or where the last jump left the cursor, clamped to the line); "none" without one.
function M.decide(sug, row, col)
  if not sug then return "none" end
  if row == sug.start[1] and col == sug.start[2] then return "accept" end
  if sug.landed and row == sug.landed[1] and col == sug.landed[2] then return "accept" end
  return "jump"
end

--- Cancels the in-flight request of a buffer, if any.
function M.cancel(bufnr)
  local s = buf_state(bufnr)
  if s.pending then
    pcall(util.cancel_request, s.pending.client, s.pending.id)
    s.pending = nil
  end
end

function M.clear(bufnr)
  buf_state(bufnr).suggestion = nil
  if vim.api.nvim_buf_is_valid(bufnr) then vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1) end
end

--- The shown suggestion of a buffer (nil when none): { version, edits, encoding, reason, result, start }.
function M.get(bufnr) return buf_state(bufnr or vim.api.nvim_get_current_buf()).suggestion end

local function render(bufnr, lines)
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local sug = buf_state(bufnr).suggestion
  for _, m in ipairs(M.marks(sug.edits, lines, sug.encoding, sug.reason, has_inline)) do
    m[3].strict = false
    pcall(vim.api.nvim_buf_set_extmark, bufnr, M.ns, m[1], m[2], m[3])
  end
end

--- Shows a hearth/nextEdit result in a buffer. False when it is not for the buffer's current version.
function M.show(bufnr, result, encoding)
  local version = vim.lsp.util.buf_versions[bufnr]
  if type(result) ~= "table" or type(result.edits) ~= "table" or #result.edits == 0 then return false end
  if result.version ~= nil and result.version ~= version then return false end
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local row, col = to_byte(lines, result.edits[1].range.start, encoding)
  buf_state(bufnr).suggestion = {
    version = version,
    edits = result.edits,
    encoding = encoding,
    reason = type(result.reason) == "string" and result.reason or nil,
    result = result,
    start = { row, col },
  }
  render(bufnr, lines)
  vim.api.nvim_exec_autocmds("User", { pattern = "HearthNextEdit", modeline = false, data = { buf = bufnr, result = result } })
  return true
end

local function on_result(bufnr, encoding, manual, err, result)
  if err then
    -- Superseded, cancelled, or the buffer changed meanwhile: the next pause asks again.
    if err.code == CANCELLED or err.code == CONTENT_MODIFIED then return end
    -- Automatic requests warn once per kind of error (the message may carry numbers), manual ones always.
    local key = tostring(err.code)
    if manual or not warned[key] then
      warned[key] = true
      notify("next edit: " .. tostring(err.message or vim.inspect(err)), vim.log.levels.WARN)
    end
    return
  end
  if not vim.api.nvim_buf_is_valid(bufnr) then return end
  if type(result) ~= "table" or type(result.edits) ~= "table" or #result.edits == 0 then
    if manual then notify("no next edit predicted") end
    return
  end
  if not M.show(bufnr, result, encoding) and manual then notify("the next edit came for an older version of the buffer") end
end

--- Sends hearth/nextEdit now for the buffer's version and cursor; the previous request is cancelled.
--- `manual`: say so when nothing comes back.
function M.request(bufnr, manual)
  M.cancel(bufnr)
  M.clear(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = "hearth" })[1]
  local win = window_of(bufnr)
  if not client or not win then
    if manual then notify("the server is not attached to this buffer", vim.log.levels.WARN) end
    return
  end
  local encoding = client.offset_encoding or "utf-16"
  local params = vim.lsp.util.make_position_params(win, encoding)
  params.textDocument.version = vim.lsp.util.buf_versions[bufnr]
  local s = buf_state(bufnr)
  local ok, id
  ok, id = util.request(client, M.method, params, function(err, result)
    if not s.pending or s.pending.id ~= id then return end -- superseded
    s.pending = nil
    on_result(bufnr, encoding, manual, err, result)
  end, bufnr)
  if ok and id then s.pending = { client = client, id = id } end
end

--- A buffer change: drop the suggestion and the request, and ask again after the pause.
local function on_change(bufnr)
  local s = buf_state(bufnr)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  -- TextChanged after insert mode repeats TextChangedI's change: keep what shows.
  if s.tick == tick then return end
  s.tick = tick
  M.clear(bufnr)
  M.cancel(bufnr)
  stop_timer(s.timer)
  s.timer = nil
  if not require("hearth").enabled then return end
  s.timer = vim.defer_fn(function()
    s.timer = nil
    if vim.api.nvim_buf_is_valid(bufnr) then M.request(bufnr, false) end
  end, cfg.next_edit.debounce_ms)
end

function M.attach(bufnr, config)
  cfg = config
  local s = buf_state(bufnr)
  s.tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local group = vim.api.nvim_create_augroup("hearth.next_edit." .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChanged", "TextChangedI", "TextChangedP" }, {
    group = group,
    buffer = bufnr,
    callback = function() on_change(bufnr) end,
  })
  vim.api.nvim_create_autocmd("BufLeave", {
    group = group,
    buffer = bufnr,
    callback = function() M.dismiss(bufnr) end,
  })
  vim.api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
      state[bufnr] = nil
    end,
  })
end

function M.detach(bufnr)
  pcall(vim.api.nvim_del_augroup_by_name, "hearth.next_edit." .. bufnr)
  M.dismiss(bufnr)
end

--- Hides the suggestion, cancels its request and the pending pause. Returns whether one showed.
function M.dismiss(bufnr)
  local s = buf_state(bufnr)
  local had = s.suggestion ~= nil
  stop_timer(s.timer)
  s.timer = nil
  M.cancel(bufnr)
  M.clear(bufnr)
  return had
end

--- Jumps to the first edit, or applies the edits when the cursor is there already (only over the
--- version they were made for). Returns "jump", "accept", or nil when there was nothing to do.
function M.accept(bufnr)
  local sug = buf_state(bufnr).suggestion
  local win = window_of(bufnr)
  if not sug or not win then return nil end
  local cursor = vim.api.nvim_win_get_cursor(win)
  if M.decide(sug, cursor[1] - 1, cursor[2]) == "jump" then
    vim.api.nvim_win_set_cursor(win, { sug.start[1] + 1, sug.start[2] })
    local at = vim.api.nvim_win_get_cursor(win)
    sug.landed = { at[1] - 1, at[2] }
    return "jump"
  end
  M.clear(bufnr)
  if vim.lsp.util.buf_versions[bufnr] ~= sug.version then
    notify("the next edit is out of date (the buffer changed); not applied", vim.log.levels.WARN)
    return nil
  end
  vim.lsp.util.apply_text_edits(vim.deepcopy(sug.edits), bufnr, sug.encoding)
  return "accept"
end

--- For <expr> keymaps (no buffer changes there): accept later; false when no suggestion shows.
function M.accept_scheduled(bufnr)
  if not M.get(bufnr) then return false end
  vim.schedule(function() M.accept(bufnr) end)
  return true
end

return M
