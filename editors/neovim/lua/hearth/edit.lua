--- :HearthEdit, :HearthRefactor and :HearthContext: ask the server, review the diff, apply through the undo history.
local util = require("hearth.util")

local M = {}

local function notify(msg, level) vim.notify("hearth: " .. msg, level or vim.log.levels.INFO) end

--- Current text of a file as lines: its buffer when loaded, else the file on disk.
local function current_lines(uri)
  local bufnr = vim.uri_to_bufnr(uri)
  if vim.api.nvim_buf_is_loaded(bufnr) then return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), bufnr end
  local path = vim.uri_to_fname(uri)
  if vim.fn.filereadable(path) == 1 then return vim.fn.readfile(path), bufnr end
  return nil, bufnr
end

--- Per-file text edits of a WorkspaceEdit ("changes" and text "documentChanges").
local function file_edits(edit)
  local out, order = {}, {}
  local function add(uri, edits)
    if not out[uri] then
      out[uri] = {}
      order[#order + 1] = uri
    end
    vim.list_extend(out[uri], edits or {})
  end
  for uri, edits in pairs(edit.changes or {}) do
    add(uri, edits)
  end
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument then add(change.textDocument.uri, change.edits) end
  end
  return out, order
end

--- Builds the review: the unified diff of every file, and the changedtick of loaded buffers to detect later typing.
function M.preview(edit, encoding)
  local edits, order = file_edits(edit)
  local diff_lines, ticks, problems, files = {}, {}, {}, 0
  for _, uri in ipairs(order) do
    local before, bufnr = current_lines(uri)
    if not before then
      problems[#problems + 1] = vim.uri_to_fname(uri) .. ": cannot be read"
    else
      local scratch = vim.api.nvim_create_buf(false, true)
      vim.api.nvim_buf_set_lines(scratch, 0, -1, false, before)
      local ok, err = pcall(vim.lsp.util.apply_text_edits, edits[uri], scratch, encoding)
      local after = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
      vim.api.nvim_buf_delete(scratch, { force = true })
      if not ok then
        problems[#problems + 1] = vim.uri_to_fname(uri) .. ": " .. tostring(err)
      else
        local a, b = table.concat(before, "\n") .. "\n", table.concat(after, "\n") .. "\n"
        if a ~= b then
          files = files + 1
          local name = vim.fn.fnamemodify(vim.uri_to_fname(uri), ":.")
          diff_lines[#diff_lines + 1] = "--- a/" .. name
          diff_lines[#diff_lines + 1] = "+++ b/" .. name
          vim.list_extend(diff_lines, vim.split(util.diff(a, b), "\n", { trimempty = true }))
        end
        if vim.api.nvim_buf_is_loaded(bufnr) then ticks[bufnr] = vim.api.nvim_buf_get_changedtick(bufnr) end
      end
    end
  end
  return { diff = diff_lines, ticks = ticks, problems = problems, files = files }
end

local function apply(edit, encoding, ticks)
  for bufnr, tick in pairs(ticks) do
    if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      notify(
        ("not applied: %s changed after the edit was proposed; run it again"):format(vim.api.nvim_buf_get_name(bufnr)),
        vim.log.levels.ERROR
      )
      return false
    end
  end
  vim.lsp.util.apply_workspace_edit(edit, encoding)
  return true
end

--- The changedtick of every loaded buffer, taken when a request is sent (see M.review's opts.ticks).
function M.ticks()
  local ticks = {}
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then ticks[bufnr] = vim.api.nvim_buf_get_changedtick(bufnr) end
  end
  return ticks
end

--- Reviews a WorkspaceEdit from the server and applies it through the undo history (shared by
--- :HearthEdit and :HearthAgent). Returns the preview; its `outcome` is set once known.
--- opts: { apply = bool (no review), header = lines above the diff, title = what proposes it,
---         none = message when nothing changes, ticks = M.ticks() from when the request was sent,
---         on_done = fun(outcome: "applied"|"none"|"stale"|"discarded"|"failed")? }
function M.review(edit, encoding, opts)
  opts = opts or {}
  local preview = M.preview(edit, encoding)
  local function done(outcome)
    preview.outcome = outcome
    if opts.on_done then opts.on_done(outcome) end
  end
  -- The edit's ranges are against the text the request saw: a buffer edited since then is stale.
  for bufnr, tick in pairs(opts.ticks or {}) do
    if preview.ticks[bufnr] and preview.ticks[bufnr] ~= tick then
      notify(
        ("not applied: %s changed while Hearth worked on it; run it again"):format(vim.api.nvim_buf_get_name(bufnr)),
        vim.log.levels.ERROR
      )
      done("stale")
      return preview
    end
  end
  for _, p in ipairs(preview.problems) do
    notify("edit not applicable: " .. p, vim.log.levels.WARN)
  end
  if preview.files == 0 then
    notify(opts.none or "no changes proposed")
    done("none")
    return preview
  end
  local function go()
    local ok = apply(edit, encoding, preview.ticks)
    if ok then notify(("applied to %d file(s), unsaved (:wa writes them); u undoes it in each"):format(preview.files)) end
    done(ok and "applied" or "failed")
  end
  if opts.apply or not require("hearth").config.review_edits then
    go()
    return preview
  end
  local review = util.scratch(vim.list_extend(vim.deepcopy(opts.header or {}), preview.diff), "diff", "tabnew")
  vim.ui.select(
    { "Apply", "Discard" },
    { prompt = ("Apply %s edit to %d file(s)?"):format(opts.title or "Hearth's", preview.files) },
    function(choice)
      if vim.api.nvim_buf_is_valid(review) then vim.api.nvim_buf_delete(review, { force = true }) end
      if choice == "Apply" then
        go()
      else
        done("discarded")
      end
    end
  )
  return preview
end

--- opts: { instruction, scope = "selection"|"file"|"repository", range = {line1, line2}?, apply = bool,
---         bufnr?, uri?, lsp_range? (an LSP range, as the code action gives it) }
function M.run(opts)
  local hearth = require("hearth")
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local client = hearth.client(bufnr)
  local encoding = client and client.offset_encoding or "utf-16"
  local args = { instruction = vim.trim(opts.instruction or ""), scope = opts.scope, apply = false }
  if args.instruction == "" then return notify("the instruction is empty", vim.log.levels.ERROR) end
  if opts.scope ~= "repository" then args.uri = opts.uri or vim.uri_from_bufnr(bufnr) end
  if opts.scope == "selection" and opts.lsp_range then
    args.range = opts.lsp_range
  elseif opts.scope == "selection" and opts.range then
    local l1, l2 = opts.range[1], opts.range[2]
    local last = vim.api.nvim_buf_get_lines(bufnr, l2 - 1, l2, false)[1] or ""
    args.range = { start = { line = l1 - 1, character = 0 }, ["end"] = { line = l2 - 1, character = util.line_length(last, encoding) } }
  end
  notify("asking the model…")
  local ticks = M.ticks()
  hearth.execute("hearth.edit", args, bufnr, function(err, result, c)
    if err then return notify(err, vim.log.levels.ERROR) end
    if type(result) ~= "table" or type(result.edit) ~= "table" then return notify("hearth.edit returned no edit", vim.log.levels.ERROR) end
    local header = { "# Hearth proposes: " .. args.instruction }
    if result.report and result.report ~= "" then
      for _, l in ipairs(vim.split(result.report, "\n")) do
        header[#header + 1] = "# " .. l
      end
    end
    M.last = { result = result }
    M.last.preview = M.review(result.edit, c.offset_encoding, {
      apply = opts.apply,
      header = header,
      ticks = ticks,
      none = "no changes proposed" .. (result.report and result.report ~= "" and (": " .. result.report) or ""),
    })
  end)
end

--- The client side of the "Hearth: edit selection…" code action: its `hearth.edit` command comes
--- without an instruction, so ask for one (vim.ui.input), then run the edit like :HearthEdit.
function M.code_action(command, ctx)
  local args = (command.arguments or {})[1] or {}
  local bufnr = ctx and ctx.bufnr or vim.api.nvim_get_current_buf()
  vim.ui.input({ prompt = "Hearth: edit selection… " }, function(instruction)
    if instruction == nil or vim.trim(instruction) == "" then return end
    M.run({ instruction = instruction, scope = args.scope or "selection", uri = args.uri, lsp_range = args.range, bufnr = bufnr })
  end)
end

function M.context()
  local hearth = require("hearth")
  local bufnr = vim.api.nvim_get_current_buf()
  local client = hearth.client(bufnr)
  local encoding = client and client.offset_encoding or "utf-16"
  local params = vim.lsp.util.make_position_params(0, encoding)
  local where = ("%s:%d:%d"):format(vim.fn.expand("%:."), params.position.line + 1, params.position.character + 1)
  hearth.execute("hearth.context", { uri = params.textDocument.uri, position = params.position }, bufnr, function(err, result)
    if err then return notify(err, vim.log.levels.ERROR) end
    if type(result) ~= "table" or type(result.snippets) ~= "table" then
      return notify("hearth.context returned no snippets", vim.log.levels.ERROR)
    end
    local lines = { "# Context used at " .. where, "", ("%d retrieved snippet(s)."):format(#result.snippets), "" }
    for _, s in ipairs(result.snippets) do
      lines[#lines + 1] = ("## %s:%d-%d"):format(s.path, (s.startLine or 0) + 1, (s.endLine or 0) + 1)
      if s.reason and s.reason ~= "" then lines[#lines + 1] = "_" .. s.reason .. "_" end
      lines[#lines + 1] = "```"
      vim.list_extend(lines, vim.split(s.text or "", "\n"))
      lines[#lines + 1] = "```"
      lines[#lines + 1] = ""
    end
    lines[#lines + 1] = "## Full prompt"
    lines[#lines + 1] = "```"
    vim.list_extend(lines, vim.split(result.prompt or "", "\n"))
    lines[#lines + 1] = "```"
    util.scratch(lines, "markdown", "botright vnew")
  end)
end

return M
