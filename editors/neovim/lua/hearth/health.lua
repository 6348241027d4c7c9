--- :checkhealth hearth: Neovim version, the server binary, the model, next edit on/off, and the server's index state.
local M = {}

local h = vim.health

local function model_problem(path)
  if vim.fn.isdirectory(path) == 1 then
    local missing = {}
    for _, f in ipairs({ "config.json", "tokenizer.json" }) do
      if vim.fn.filereadable(path .. "/" .. f) == 0 then missing[#missing + 1] = f end
    end
    if #vim.fn.glob(path .. "/*.safetensors", false, true) == 0 then missing[#missing + 1] = "*.safetensors" end
    if #missing > 0 then return "the folder lacks " .. table.concat(missing, ", ") end
    return nil
  end
  if vim.fn.filereadable(path) == 1 then
    if path:match("%.gguf$") then return nil end
    return "a model file must be a .gguf"
  end
  -- Specs the server resolves itself (`hearth models list` shows what is local; `hearth models pull`
  -- fetches Hugging Face ones): an Ollama model, a Hugging Face id, or one GGUF file of a repository.
  if path:match("^ollama:[%w%-_.:/]+$") then return nil end
  if path:match("^[%w%-_.]+/[%w%-_.]+$") then return nil end
  if path:match("^[%w%-_.]+/[%w%-_.]+:[^/]+%.gguf$") then return nil end
  return "no such file or folder, and not a model spec (ollama:NAME, org/name, org/name:FILE.gguf)"
end

M._model_problem = model_problem

function M.check()
  h.start("hearth")
  local hearth = require("hearth")
  if vim.fn.has("nvim-0.10") == 1 then
    h.ok("Neovim " .. tostring(vim.version()))
  else
    h.error("Neovim 0.10 or newer is needed")
  end
  if not hearth.config then
    h.error("require('hearth').setup() has not been called", { "Add require('hearth').setup({}) to your init.lua" })
    return
  end
  local native = require("hearth.config").use_native(hearth.config)
  h.info("ghost text: " .. (native and "vim.lsp.inline_completion (built in)" or "Hearth's extmarks"))
  local ne = hearth.config.next_edit
  h.info("next edit: " .. (ne.enabled and ("on, %d ms after an edit"):format(ne.debounce_ms) or "off"))

  local path, err = hearth.find_binary()
  if path then
    local out = vim.fn.system({ path, "--version" })
    if vim.v.shell_error == 0 then
      h.ok(("server binary: %s (%s)"):format(path, vim.trim(out)))
    else
      h.error(("server binary %s does not run: %s"):format(path, vim.trim(out)))
    end
  else
    h.error("server binary: " .. err)
  end

  local model = hearth.config.server.model
  local cmd = hearth.config.cmd
  for i = 1, #cmd - 1 do
    if cmd[i] == "--model" then model = cmd[i + 1] end
  end
  if model then
    local problem = model_problem(vim.fn.expand(model))
    if problem then
      h.error(("model %s: %s"):format(model, problem))
    else
      h.ok("model: " .. model)
    end
  else
    h.info("model: the server's default (set server.model or --model in cmd)")
  end

  if hearth.config.log_prompts then
    h.warn(
      "log_prompts is on: the server's log (:HearthLog) holds source code",
      { "Set log_prompts = false and :HearthRestart when done debugging" }
    )
  end

  local client = hearth.client()
  if not client then
    h.warn("server: not running in this Neovim", { "Open a file of a configured filetype, or run :HearthRestart" })
    if hearth.last_error then h.error("last error: " .. hearth.last_error) end
    return
  end
  h.ok(("server: running (client %d, root %s)"):format(client.id, client.config.root_dir or "?"))
  local resp = require("hearth.util").request_sync(client, "workspace/executeCommand", { command = "hearth.status", arguments = {} }, 5000)
  local status = resp and resp.result or hearth.status[client.id]
  if resp and resp.err then h.warn("hearth.status failed: " .. tostring(resp.err.message)) end
  if type(status) ~= "table" then
    h.warn("index: state unknown (the server has not reported it yet)")
  elseif status.state == "ready" then
    h.ok("index: ready" .. (status.message and (" (" .. status.message .. ")") or ""))
  elseif status.state == "error" then
    h.error("index/model error: " .. tostring(status.message))
  else
    h.warn(("index: %s%s"):format(status.state, status.percentage and (" " .. math.floor(status.percentage) .. "%") or ""))
  end
end

return M
