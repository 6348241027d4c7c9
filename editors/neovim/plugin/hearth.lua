-- Hearth does nothing until require("hearth").setup({...}) is called; :checkhealth hearth works either way.
if vim.fn.has("nvim-0.10") == 0 then vim.api.nvim_echo({ { "hearth.nvim needs Neovim 0.10 or newer", "WarningMsg" } }, true, {}) end
