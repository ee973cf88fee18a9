-- Drives mldiff's language server from a real, headless Neovim (0.11, or 0.7 as an older
-- client): edit the buffer without saving, wait for mldiff's diagnostics, request code
-- actions, apply "Suppress", print one JSON line. Settings come from the JSON file named
-- by $MLDIFF_NVIM_TEST.
vim.g.loaded_python3_provider = 0
local cfg = vim.fn.json_decode(table.concat(vim.fn.readfile(os.getenv("MLDIFF_NVIM_TEST")), "\n"))
local out = { version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor) }
local new_api = vim.fn.has("nvim-0.11") == 1

local function finish(ok)
  io.stdout:write(vim.fn.json_encode(out) .. "\n")
  vim.cmd(ok and "qall!" or "cquit 1")
end

vim.defer_fn(function()
  out.error = out.error or "timed out"
  finish(false)
end, cfg.guard_ms)

local function mldiff_client(buf)
  if new_api then
    return vim.lsp.get_clients({ bufnr = buf, name = "mldiff" })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(buf)) do
    if client.name == "mldiff" then
      return client
    end
  end
end

local function mldiff_diagnostics(buf)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == "mldiff" then
      table.insert(found, d)
    end
  end
  return found
end

local function run()
  local buf = vim.api.nvim_get_current_buf()
  if new_api then
    dofile(cfg.setup_lua) -- the snippet from docs/editors/neovim.md
  else
    local id = vim.lsp.start_client({ name = "mldiff", cmd = cfg.cmd, root_dir = cfg.root })
    vim.lsp.buf_attach_client(buf, id)
  end
  if not vim.wait(cfg.wait_ms, function() return mldiff_client(buf) ~= nil end, 20) then
    out.error = "mldiff did not attach"
    return finish(false)
  end
  local client = mldiff_client(buf)
  out.encoding = client.offset_encoding
  -- remove the Normalize from the train transform, without saving
  vim.api.nvim_buf_set_lines(buf, cfg.line, cfg.line + 1, false, { cfg.new_text })
  if not vim.wait(cfg.wait_ms, function() return #mldiff_diagnostics(buf) > 0 end, 20) then
    out.error = "no diagnostics"
    return finish(false)
  end
  out.diagnostics = {}
  for _, d in ipairs(mldiff_diagnostics(buf)) do
    table.insert(out.diagnostics, { lnum = d.lnum, col = d.col, end_col = d.end_col, code = d.code,
                                    message = d.message })
  end
  local d = mldiff_diagnostics(buf)[1]
  local lsp_diagnostic
  if new_api then
    lsp_diagnostic = d.user_data.lsp
  else
    lsp_diagnostic = vim.lsp.diagnostic.get_line_diagnostics(buf, d.lnum, {}, client.id)[1]
  end
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = d.lnum, character = d.col }, ["end"] = { line = d.end_lnum, character = d.end_col } },
    context = { diagnostics = { lsp_diagnostic } },
  }
  local response
  if new_api then
    response = client:request_sync("textDocument/codeAction", params, cfg.wait_ms, buf)
  else
    response = client.request_sync("textDocument/codeAction", params, cfg.wait_ms, buf)
  end
  if not response or response.err then
    out.error = "codeAction failed: " .. vim.inspect(response)
    return finish(false)
  end
  out.titles = {}
  local suppress
  for _, action in ipairs(response.result or {}) do
    table.insert(out.titles, action.title)
    if action.title:find("^Suppress") then
      suppress = action
    end
  end
  if not suppress then
    out.error = "no Suppress action"
    return finish(false)
  end
  vim.lsp.util.apply_workspace_edit(suppress.edit, client.offset_encoding)
  out.line = vim.api.nvim_buf_get_lines(buf, cfg.line, cfg.line + 1, false)[1]
  out.cleared = vim.wait(cfg.wait_ms, function() return #mldiff_diagnostics(buf) == 0 end, 20)
  out.modified = vim.bo[buf].modified
  finish(true)
end

vim.api.nvim_create_autocmd("VimEnter", {
  callback = function()
    local ok, err = pcall(run)
    if not ok then
      out.error = tostring(err)
      finish(false)
    end
  end,
})
