--- Hearth's own ghost text (extmarks) for Neovim without vim.lsp.inline_completion, or with backend = "extmark".
--- Debounces keystrokes, cancels the pending request when the user types on or after timeout_ms, and inserts
--- accepted text as ordinary buffer changes.
local util = require("hearth.util")

local M = {}
M.ns = vim.api.nvim_create_namespace("hearth.ghost")

local state = {} -- bufnr -> { timer, timeout, pending = {client, id}, suggestion = {row, col, text, tick}, expect_tick }
local cfg

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

--- Cancels the in-flight request of a buffer, if any.
function M.cancel(bufnr)
  local s = buf_state(bufnr)
  stop_timer(s.timeout)
  s.timeout = nil
  if s.pending then
    pcall(util.cancel_request, s.pending.client, s.pending.id)
    s.pending = nil
  end
end

function M.clear(bufnr)
  local s = buf_state(bufnr)
  s.suggestion = nil
  if vim.api.nvim_buf_is_valid(bufnr) then vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1) end
end

local function render(bufnr)
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local sug = buf_state(bufnr).suggestion
  if not sug or sug.text == "" then return end
  local lines = vim.split(sug.text, "\n", { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], "HearthGhostText" } }
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, sug.row, sug.col, {
    virt_text = { { lines[1], "HearthGhostText" } },
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
end

local function cursor(bufnr)
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then return nil end
  local pos = vim.api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2]
end

local function on_result(bufnr, client, tick, row, col, err, result)
  local s = buf_state(bufnr)
  s.pending = nil
  stop_timer(s.timeout)
  s.timeout = nil
  if err or not result or not vim.api.nvim_buf_is_valid(bufnr) then return end
  -- A stale answer (the user typed or moved on) is dropped.
  local r, c = cursor(bufnr)
  if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick or r ~= row or c ~= col then return end
  if not vim.api.nvim_get_mode().mode:match("^i") then return end
  local items = result.items or result
  local item = items[1]
  if not item then return end
  local text = type(item.insertText) == "table" and item.insertText.value or item.insertText
  if type(text) ~= "string" then return end
  local typed = ""
  if item.range and item.range.start.line == row then
    local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
    local ok, start_col = pcall(vim.lsp.util._get_line_byte_from_position, bufnr, item.range.start, client.offset_encoding)
    if not ok then start_col = item.range.start.character end
    if start_col < col then typed = line:sub(start_col + 1, col) end
  end
  text = util.suffix_after(text, typed)
  if text == "" then return end
  s.suggestion = { row = row, col = col, text = text, tick = tick }
  render(bufnr)
end

--- Sends textDocument/inlineCompletion now (no debounce) for the cursor position.
function M.request(bufnr, trigger_kind)
  M.cancel(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = "hearth" })[1]
  if not client then return end
  local row, col = cursor(bufnr)
  if not row then return end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = trigger_kind or 2 }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local ok, id = util.request(
    client,
    "textDocument/inlineCompletion",
    params,
    function(err, result) on_result(bufnr, client, tick, row, col, err, result) end,
    bufnr
  )
  if not ok or not id then return end
  local s = buf_state(bufnr)
  s.pending = { client = client, id = id }
  s.timeout = vim.defer_fn(function()
    if s.pending and s.pending.id == id then
      M.cancel(bufnr)
      vim.api.nvim_exec_autocmds("User", { pattern = "HearthTimeout", modeline = false })
    end
  end, cfg.timeout_ms)
end

--- Called on each keystroke in insert mode: drop the shown suggestion, cancel the request, debounce a new one.
local function on_change(bufnr)
  local s = buf_state(bufnr)
  if s.expect_tick and s.expect_tick == vim.api.nvim_buf_get_changedtick(bufnr) then
    s.expect_tick = nil -- our own partial accept: keep the rest showing
    return
  end
  M.clear(bufnr)
  M.cancel(bufnr)
  if not cfg.auto_trigger or not require("hearth").enabled then return end
  stop_timer(s.timer)
  s.timer = vim.defer_fn(function()
    s.timer = nil
    if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:match("^i") then
      M.request(bufnr, 2)
    end
  end, cfg.debounce_ms)
end

function M.attach(bufnr, config)
  cfg = config
  local group = vim.api.nvim_create_augroup("hearth.ghost." .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "InsertEnter", "TextChangedI", "TextChangedP" }, {
    group = group,
    buffer = bufnr,
    callback = function() on_change(bufnr) end,
  })
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      local sug = buf_state(bufnr).suggestion
      local r, c = cursor(bufnr)
      if sug and (sug.row ~= r or sug.col ~= c) then on_change(bufnr) end
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      stop_timer(buf_state(bufnr).timer)
      buf_state(bufnr).timer = nil
      M.cancel(bufnr)
      M.clear(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = bufnr,
    callback = function()
      M.cancel(bufnr)
      state[bufnr] = nil
    end,
  })
end

function M.detach(bufnr)
  pcall(vim.api.nvim_del_augroup_by_name, "hearth.ghost." .. bufnr)
  M.cancel(bufnr)
  M.clear(bufnr)
end

function M.text(bufnr)
  local sug = buf_state(bufnr).suggestion
  return sug and sug.text or nil
end

--- Inserts `part` of the suggestion (all of it when nil) at the cursor; the rest stays as ghost text.
function M.accept(bufnr, part)
  local s = buf_state(bufnr)
  local sug = s.suggestion
  if not sug then return false end
  local text = part or sug.text
  local rest = sug.text:sub(#text + 1)
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, sug.row, sug.col, sug.row, sug.col, lines)
  local row = sug.row + #lines - 1
  local col = (#lines == 1 and sug.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(vim.fn.bufwinid(bufnr), { row + 1, col })
  if rest ~= "" then
    s.suggestion = { row = row, col = col, text = rest, tick = vim.api.nvim_buf_get_changedtick(bufnr) }
    s.expect_tick = s.suggestion.tick
    render(bufnr)
  else
    M.clear(bufnr)
  end
  return true
end

return M
