// Drives VS Code's notebook editor (code-server) in headless Chromium with Playwright for
// tests/test_vscode_notebook_e2e.py. Usage: node vscode_notebook_driver.cjs CONFIG.json
// Prints "step <name> <ms>" lines while it goes, "pause <name>" where the test checks
// something itself (it answers "go" on stdin), and one JSON line at the end:
// {"ok": true, ...what it saw} or {"ok": false, "error": ..., "step": ...}.
// Screenshots go to config.artifacts (on failure too).
"use strict";
const { createDriver } = require("./browser_driver.cjs");

const { config, result, step, pause, plain, screenshot, run } = createDriver({});

/**
 * Open the notebook from the Explorer in the notebook editor. Right after start-up the
 * built-in ipynb extension may not have registered its editor yet, and VS Code then opens
 * the file as JSON text: close that and open it again.
 */
async function openNotebook(page) {
  const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: config.file }).first();
  const cell = page.locator(".notebook-editor .view-line", { hasText: config.deleteLineContaining }).first();
  for (let attempt = 1; attempt <= 6; attempt++) {
    await row.click({ timeout: 60_000 });
    try {
      await cell.waitFor({ timeout: 10_000 });
      result.openAttempts = attempt;
      return cell;
    } catch {
      await screenshot(page, `0-opened-as-text-${attempt}`);
      await page.keyboard.press("Control+W"); // the JSON text editor, not the notebook
      await page.waitForTimeout(2_000);
    }
  }
  throw new Error(`${config.file} did not open in the notebook editor`);
}

async function main(page) {
  await page.goto(config.url);
  await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });

  step("open-notebook");
  const target = await openNotebook(page);
  await screenshot(page, "1-notebook");

  step("edit");
  await target.click();
  await page.keyboard.press("Home");
  await page.keyboard.press("Control+Shift+K"); // delete the line in the cell, unsaved
  const notebook = page.locator(".notebook-editor"); // (VS Code keeps two such elements)
  await notebook.locator(".view-line", { hasText: config.deleteLineContaining }).waitFor({ state: "detached", timeout: 10_000 });

  step("diagnostic");
  const squiggle = notebook.locator(".squiggly-warning").first();
  await squiggle.waitFor({ timeout: 60_000 });
  result.dirty = await page.locator(".tab.active.dirty").count() > 0;
  await pause("edited"); // the test checks that nothing was written to the notebook on disk
  const lens = notebook.locator(".codelens-decoration", { hasText: "ML:" }).first();
  await lens.waitFor({ timeout: 15_000 }).then(async () => { result.lens = plain(await lens.innerText()); }, () => {});
  await page.keyboard.press("Control+Shift+M");
  const problem = page.locator(".markers-panel .monaco-list-row", { hasText: config.code }).first();
  await problem.waitFor({ timeout: 15_000 });
  result.problems = (await page.locator(".markers-panel .monaco-list-row").allInnerTexts()).map(plain);
  const status = page.locator(".statusbar-item", { hasText: "ML change" }).first();
  await status.waitFor({ timeout: 10_000 }).then(async () => { result.statusBar = plain(await status.innerText()); }, () => {});
  await screenshot(page, "2-problems");

  step("quick-fix");
  const flagged = notebook.locator(".view-line", { hasText: config.flaggedLine }).first();
  await flagged.click();
  await page.keyboard.press("End");
  await page.keyboard.press("Control+.");
  const action = page.locator(".action-widget .monaco-list-row", { hasText: config.fixTitle }).first();
  await action.waitFor({ timeout: 15_000 });
  result.quickFixes = (await page.locator(".action-widget .monaco-list-row").allInnerTexts()).map(plain);
  await screenshot(page, "3-quick-fixes");
  await action.click();
  await notebook.locator(".view-line", { hasText: config.expectAfterFix }).first().waitFor({ timeout: 10_000 });
  result.fixedLine = plain(await notebook.locator(".view-line", { hasText: config.expectAfterFix }).first().innerText());
  result.deletedLineBack = await notebook.locator(".view-line", { hasText: config.deleteLineContaining }).count() > 0;
  await squiggle.waitFor({ state: "detached", timeout: 30_000 })
    .then(() => { result.squiggleGoneAfterFix = true; }, () => { result.squiggleGoneAfterFix = false; });
  // ...and so do its row in the Problems panel and its code lens (the server asks for the lenses again).
  await page.locator(".markers-panel .monaco-list-row", { hasText: config.code }).first().waitFor({ state: "detached", timeout: 30_000 })
    .then(() => { result.problemGoneAfterFix = true; }, () => { result.problemGoneAfterFix = false; });
  await notebook.locator(".codelens-decoration", { hasText: "ML:" }).first().waitFor({ state: "detached", timeout: 30_000 })
    .then(() => { result.lensGoneAfterFix = true; }, () => { result.lensGoneAfterFix = false; });
  await screenshot(page, "4-after-fix");
  step("done");
  result.ok = true;
}

run(main, { width: 1500, height: 950 });
