// Drives a real VS Code (code-server) in headless Chromium with Playwright for
// tests/test_vscode_e2e.py. Usage: node vscode_e2e_driver.cjs CONFIG.json
// Prints "step <name> <ms>" lines while it goes and one JSON line at the end:
// {"ok": true, ...what it saw} or {"ok": false, "error": ..., "step": ...}.
// Screenshots go to config.artifacts (on failure too).
"use strict";
const { createDriver } = require("./browser_driver.cjs");

const { config, result, step, pause, plain, screenshot, run } = createDriver({});

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ timeout: 10_000 });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: 10_000 });
  await row.click();
}

async function main(page) {
  await page.goto(config.url);
  await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });

  step("open-file");
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: config.file }).first().click({ timeout: 60_000 });
  const editor = page.locator(".editor-instance .monaco-editor").first();
  const target = editor.locator(".view-line", { hasText: config.deleteLineContaining }).first();
  if (config.gotoLine) {
    // Monaco renders only the lines in view: go to the line first.
    await editor.locator(".view-line").first().waitFor({ timeout: 30_000 });
    await editor.locator(".view-line").first().click();
    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget input").waitFor({ timeout: 10_000 });
    await page.keyboard.type(String(config.gotoLine));
    await page.keyboard.press("Enter");
  }
  await target.waitFor({ timeout: 30_000 });

  if (config.install) {
    // mldiff is missing from the interpreter: the extension says so and offers to install it.
    step("install");
    const toast = page.locator(".notifications-toasts .notification-list-item", { hasText: config.install.message }).first();
    await toast.waitFor({ timeout: 60_000 });
    result.missingMessage = plain(await toast.innerText());
    await screenshot(page, "0-not-installed");
    await toast.locator(".monaco-button", { hasText: config.install.button }).first().click();
    await page.locator(".statusbar-item", { hasText: "ML change" }).first().waitFor({ timeout: 180_000 });
  }

  step("edit");
  await target.click();
  await page.keyboard.press("Home");
  await page.keyboard.press("Control+Shift+K"); // delete line, unsaved: the server sees didChange
  await editor.locator(".view-line", { hasText: config.deleteLineContaining }).waitFor({ state: "detached", timeout: 10_000 });

  step("diagnostic");
  await editor.locator(".squiggly-warning").first().waitFor({ timeout: 60_000 });
  await page.keyboard.press("Control+Shift+M");
  const problem = page.locator(".markers-panel .monaco-list-row", { hasText: config.code }).first();
  await problem.waitFor({ timeout: 15_000 });
  result.problems = (await page.locator(".markers-panel .monaco-list-row").allInnerTexts()).map(plain);
  const status = page.locator(".statusbar-item", { hasText: "ML change" }).first();
  await status.waitFor({ timeout: 10_000 });
  result.statusBar = plain(await status.innerText());
  const lens = editor.locator(".codelens-decoration", { hasText: "ML:" }).first();
  await lens.waitFor({ timeout: 15_000 }).then(async () => { result.lens = plain(await lens.innerText()); }, () => {});
  await screenshot(page, "1-problems");

  if (config.quickFix) {
    await quickFixAndAttach(page, editor);
  }
  if (config.validate) {
    await validate(page);
  }
  step("done");
  result.ok = true;
}

async function quickFixAndAttach(page, editor) {
  step("quick-fix");
  await editor.locator(".view-line").first().click();
  await page.keyboard.press("F8"); // go to the problem: the cursor lands on its range
  await page.locator(".marker-widget").first().waitFor({ timeout: 10_000 });
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+.");
  const action = page.locator(".action-widget .monaco-list-row", { hasText: config.fixTitle }).first();
  await action.waitFor({ timeout: 15_000 });
  result.quickFixes = (await page.locator(".action-widget .monaco-list-row").allInnerTexts()).map(plain);
  await action.click();
  await editor.locator(".view-line", { hasText: config.expectAfterFix }).first().waitFor({ timeout: 10_000 });
  result.editorText = plain(await editor.locator(".view-lines").innerText());
  await page.keyboard.press("Control+S");
  await page.locator(".tab.active.dirty").waitFor({ state: "detached", timeout: 10_000 });
  // The suppressed finding goes away once the server has re-read the buffer.
  await editor.locator(".squiggly-warning").first().waitFor({ state: "detached", timeout: 30_000 })
    .then(() => { result.squiggleGoneAfterFix = true; }, () => { result.squiggleGoneAfterFix = false; });
  // ...and so does its code lens (the server asks VS Code to fetch the lenses again).
  await editor.locator(".codelens-decoration", { hasText: "ML:" }).first().waitFor({ state: "detached", timeout: 30_000 })
    .then(() => { result.lensGoneAfterFix = true; }, () => { result.lensGoneAfterFix = false; });
  await screenshot(page, "2-quick-fix");

  if (config.attach) {
    step("stage");
    await pause("saved"); // the test stores a validation result for the saved working tree
    await page.keyboard.press("Control+Shift+G");
    await runCommand(page, "Git: Stage All Changes");
    await page.locator(".scm-view .monaco-list-row", { hasText: "Staged Changes" }).first().waitFor({ timeout: 30_000 });
    await pause("staged"); // the test asks `mldiff attach` what the trailers are

    step("attach");
    const input = page.locator(".scm-editor .monaco-editor").first();
    await input.click();
    await page.keyboard.type(config.commitMessage);
    await runCommand(page, config.attachCommand);
    const attached = input.locator(".view-line", { hasText: config.expectTrailer }).first();
    const nothing = toast(page, "nothing to attach");
    await Promise.race([attached.waitFor({ timeout: 30_000 }), nothing.waitFor({ timeout: 30_000 })]);
    if (await nothing.isVisible()) {
      await screenshot(page, "3-nothing-to-attach");
      throw new Error(`no trailers: ${plain(await nothing.innerText())}`);
    }
    await input.click();
    await page.keyboard.press("Control+Home"); // the subject in view for the screenshot
    await page.waitForTimeout(500); // the box grows with its content: let it lay out every line
    result.commitBoxText = plain(await input.locator(".view-lines").innerText());
    await screenshot(page, "3-commit-message");
    // The box wraps long lines, so the DOM cannot say where lines break: commit, and let
    // the test read the message back from git.
    step("commit");
    await input.click();
    await page.keyboard.press("Control+Enter");
    await attached.waitFor({ state: "detached", timeout: 30_000 });
  }
}

function toast(page, text) {
  return page.locator(".notifications-toasts .notification-list-item", { hasText: text }).first();
}

/** Validate change from the palette: confirm the command, watch the progress, read the summary. */
async function validate(page) {
  step("save");
  await page.keyboard.press("Control+S"); // validation runs what is on disk
  await page.locator(".tab.active.dirty").waitFor({ state: "detached", timeout: 10_000 });

  step("validate-prompt");
  await runCommand(page, config.validate.command);
  const prompt = toast(page, config.validate.prompt);
  await prompt.waitFor({ timeout: 30_000 });
  result.validatePrompt = plain(await prompt.innerText());
  await screenshot(page, "4-validate-prompt");
  await prompt.locator(".monaco-button", { hasText: config.validate.button }).first().click();

  step("validate-progress");
  const progress = toast(page, "run: step");
  await progress.waitFor({ timeout: 120_000 });
  result.validateProgress = plain(await progress.innerText());
  await page.waitForTimeout(300);
  await screenshot(page, "5-validate-progress");

  step("validate-summary");
  const summary = toast(page, config.validate.summary);
  const failure = toast(page, /mldiff: (validation failed|cannot validate)/);
  await Promise.race([summary.waitFor({ timeout: 240_000 }), failure.waitFor({ timeout: 240_000 })]);
  if (await failure.isVisible()) {
    await screenshot(page, "6-validate-failed");
    throw new Error(plain(await failure.innerText()));
  }
  result.validateSummary = plain(await summary.innerText());
  await page.waitForTimeout(500); // the toast slides in
  await screenshot(page, "6-validate-summary");
}

run(main, { width: 1500, height: 950 });
