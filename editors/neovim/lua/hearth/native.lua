--- Ghost text through Neovim's own vim.lsp.inline_completion (0.12+), with Hearth's accept-word/line, dismiss and timeout.
local util = require("hearth.util")

local M = {}
M.ns_name = "nvim.lsp.inline_completion"

local cfg

function M.available() return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil end

function M.attach(bufnr, config)
  cfg = config
  vim.lsp.inline_completion.enable(require("hearth").enabled, { bufnr = bufnr })
  local group = vim.api.nvim_create_augroup("hearth.native." .. bufnr, { clear = true })
  -- Neovim sends a new request per keystroke but leaves the old one running: cancel it when the user types on.
  vim.api.nvim_create_autocmd({ "TextChangedI", "InsertLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function() M.cancel(bufnr) end,
  })
  -- And cancel any request still unanswered after timeout_ms.
  vim.api.nvim_create_autocmd("LspRequest", {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      local req = ev.data and ev.data.request
      if not req or req.type ~= "pending" or req.method ~= "textDocument/inlineCompletion" then return end
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      local id = ev.data.request_id
      vim.defer_fn(function()
        local still = client and client.requests and client.requests[id]
        if still and still.type == "pending" then
          pcall(util.cancel_request, client, id)
          vim.api.nvim_exec_autocmds("User", { pattern = "HearthTimeout", modeline = false })
        end
      end, cfg.timeout_ms)
    end,
  })
end

function M.detach(bufnr)
  pcall(vim.api.nvim_del_augroup_by_name, "hearth.native." .. bufnr)
  pcall(vim.lsp.inline_completion.enable, false, { bufnr = bufnr })
end

function M.set_enabled(bufnr, enabled) vim.lsp.inline_completion.enable(enabled, { bufnr = bufnr }) end

--- Cancels pending inline completion requests of Hearth's client in the buffer.
function M.cancel(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr, name = "hearth" })) do
    for id, req in pairs(client.requests or {}) do
      if req.type == "pending" and req.method == "textDocument/inlineCompletion" and req.bufnr == bufnr then
        pcall(util.cancel_request, client, id)
      end
    end
  end
end

--- The text the shown suggestion would add after the cursor, read back from Neovim's extmark.
function M.text(bufnr)
  local ns = vim.api.nvim_get_namespaces()[M.ns_name]
  if not ns then return nil end
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  local mark = marks[1]
  if not mark then return nil end
  local d = mark[4]
  local parts = {}
  local first = {}
  for _, chunk in ipairs(d.virt_text or {}) do
    if chunk[2] ~= "ComplHintMore" then first[#first + 1] = chunk[1] end
  end
  parts[1] = table.concat(first)
  for _, line in ipairs(d.virt_lines or {}) do
    local l = {}
    for _, chunk in ipairs(line) do
      if chunk[2] ~= "ComplHintMore" then l[#l + 1] = chunk[1] end
    end
    parts[#parts + 1] = table.concat(l)
  end
  local text = table.concat(parts, "\n")
  return text ~= "" and text or nil
end

--- Accepts all (part = nil) or a leading part of the suggestion. Returns false when none is shown.
--- `pick(suffix)` chooses the part from the text after the cursor.
function M.accept(bufnr, pick)
  if not pick then return vim.lsp.inline_completion.get({ bufnr = bufnr }) end
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = type(item.insert_text) == "string" and item.insert_text or item.insert_text.value
      local win = vim.fn.bufwinid(bufnr)
      local row, col = unpack(vim.api.nvim_win_get_cursor(win))
      row = row - 1
      local typed = ""
      if item.range and item.range.start.row == row and item.range.start.col < col then
        typed = vim.api.nvim_buf_get_text(bufnr, row, item.range.start.col, row, col, {})[1] or ""
      end
      local part = pick(util.suffix_after(text, typed))
      if part == "" then return end
      local lines = vim.split(part, "\n", { plain = true })
      vim.api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
      vim.api.nvim_win_set_cursor(win, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
    end,
  })
end

--- Hides the suggestion and cancels its request.
function M.dismiss(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr, on_accept = function() end })
end

function M.request(bufnr)
  -- The native module requests by itself on InsertEnter/CursorMovedI; an explicit request re-triggers it.
  vim.api.nvim_exec_autocmds("CursorMovedI", { buffer = bufnr, modeline = false })
end

return M
