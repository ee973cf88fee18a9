// Drives a real JupyterLab (with jupyterlab-lsp) in headless Chromium with Playwright for
// tests/test_jupyterlab_e2e.py. Usage: node jupyterlab_driver.cjs CONFIG.json
// Prints "step <name> <ms>" lines and one JSON line at the end: {"ok": true, ...what it
// saw} or {"ok": false, "error": ..., "step": ...}. Screenshots go to config.artifacts.
"use strict";
const { createDriver } = require("./browser_driver.cjs");

const { config, result, step, pause, plain, screenshot, run } = createDriver({ console: [] });

async function main(page) {
  page.on("console", (message) => {
    if (/lsp|mldiff/i.test(message.text())) result.console.push(message.text().slice(0, 300));
  });
  await page.goto(config.url);
  step("open-notebook");
  const line = page.locator(".jp-Notebook .jp-Cell .cm-line", { hasText: config.deleteLineContaining }).first();
  await line.waitFor({ timeout: 90_000 });
  // jupyterlab-lsp connects once the notebook is open: wait for its status to say so.
  const status = page.locator(".lsp-status-bar-item, .lsp-statusbar-item, [class*=lsp-status]").first();
  await status.waitFor({ timeout: 30_000 }).then(async () => {
    await page.waitForFunction((element) => /fully initialized|initialized/i.test(element.textContent || ""),
      await status.elementHandle(), { timeout: 60_000 });
    result.lspStatus = (await status.innerText()).trim();
  }, () => {});
  await screenshot(page, "1-notebook");

  step("edit");
  await line.click();
  await page.keyboard.press("End");
  await page.keyboard.press("Shift+Home");
  await page.keyboard.press("Shift+Home"); // the whole line, indentation too
  await page.keyboard.press("Backspace");
  await page.keyboard.press("Backspace"); // and its line break: the line is gone
  await page.locator(".jp-Notebook .cm-line", { hasText: config.deleteLineContaining }).waitFor({ state: "detached", timeout: 10_000 });

  step("diagnostic");
  const cell = page.locator(".jp-Notebook .jp-Cell", { hasText: config.flaggedLine }).first();
  const mark = cell.locator(".cm-lintRange").first();
  await mark.waitFor({ timeout: 60_000 });
  result.markedText = await mark.innerText();
  result.markClass = await mark.getAttribute("class");
  await mark.hover();
  const tooltip = page.locator(".cm-tooltip-lint, .cm-tooltip .cm-diagnostic").first();
  await tooltip.waitFor({ timeout: 15_000 }).then(async () => { result.tooltip = (await tooltip.innerText()).trim(); },
    () => {});
  await screenshot(page, "2-diagnostic");
  step("done");
  result.ok = true;
}

run(main, { width: 1400, height: 900 });
