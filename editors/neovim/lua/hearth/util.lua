--- Small helpers: client method calls across Neovim 0.10 (fields) and 0.11+ (methods), text splitting.
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

function M.request(client, method, params, handler, bufnr)
  if has_011 then return client:request(method, params, handler, bufnr) end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if has_011 then return client:request_sync(method, params, timeout_ms, bufnr) end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if has_011 then return client:notify(method, params) end
  return client.notify(method, params)
end

function M.cancel_request(client, id)
  if has_011 then return client:cancel_request(id) end
  return client.cancel_request(id)
end

function M.stop(client, force)
  if has_011 then return client:stop(force) end
  return client.stop(force)
end

--- The first "word" of a suggestion: leading blanks, then a run of word characters or a run of punctuation.
function M.first_word(text)
  local ws, rest = text:match("^(%s*)(.*)$")
  if rest == "" then return text end
  local word = rest:match("^[%w_]+") or rest:match("^[^%w_%s]+")
  return ws .. (word or rest:sub(1, 1))
end

--- The first line of a suggestion, with its line break when more follows.
function M.first_line(text)
  local nl = text:find("\n", 1, true)
  if not nl then return text end
  if nl == 1 then return "\n" end
  return text:sub(1, nl - 1)
end

--- What a suggestion adds after the cursor, given the item and the text already typed between its range start and the cursor.
function M.suffix_after(insert_text, typed)
  if typed ~= "" and insert_text:sub(1, #typed) == typed then return insert_text:sub(#typed + 1) end
  return insert_text
end

--- Length of a line in the units of an LSP position encoding.
function M.line_length(line, encoding)
  if encoding == "utf-8" then return #line end
  if encoding == "utf-32" then return vim.fn.strchars(line) end
  if has_011 then return vim.str_utfindex(line, "utf-16") end
  local _, utf16 = vim.str_utfindex(line)
  return utf16
end

--- Byte column of an LSP `character` in a line (clamped to the line's end), for a position encoding.
function M.byte_col(line, character, encoding)
  if character <= 0 then return 0 end
  if encoding == "utf-8" then return math.min(character, #line) end
  local ok, col
  if has_011 then
    ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  end
  if not ok or not col then return #line end
  return math.min(col, #line)
end

--- A unified diff of two texts.
function M.diff(a, b)
  local diff = vim.text and vim.text.diff or vim.diff
  return diff(a, b, { result_type = "unified", ctxlen = 3 })
end

--- A scratch buffer with the given lines in a new split (or tab).
function M.scratch(lines, filetype, how)
  vim.cmd(how or "botright new")
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "wipe"
  vim.bo[bufnr].swapfile = false
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].filetype = filetype
  return bufnr
end

return M
