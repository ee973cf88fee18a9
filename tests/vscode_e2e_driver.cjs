// Drives a real VS Code (code-server) in headless Chromium with Playwright for
// tests/test_vscode_e2e.py. Usage: node vscode_e2e_driver.cjs CONFIG.json
// Prints "step <name> <ms>" lines while it goes and one JSON line at the end:
// {"ok": true, ...what it saw} or {"ok": false, "error": ..., "step": ...}.
// Screenshots go to config.artifacts (on failure too).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const started = Date.now();
const result = { ok: false, steps: {}, screenshots: [] };
let current = "launch";

function step(name) {
  result.steps[current] = Date.now() - started;
  console.log(`step ${current} ${Date.now() - started}`);
  current = name;
}

// The test does some steps itself (store a validation result, ask the CLI for the trailers):
// at "pause NAME" the driver waits for one line on stdin.
const stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function pause(name) {
  console.log(`pause ${name}`);
  const answer = await stdinLines.next();
  if (answer.done || answer.value.trim() !== "go") {
    throw new Error(`the test did not say go after ${name}: ${answer.value}`);
  }
}

/** Editor text as shown: Monaco renders spaces as U+00A0. */
function plain(text) {
  return text.replace(/\u00a0/g, " ");
}

async function screenshot(page, name) {
  const file = path.join(config.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  result.screenshots.push(file);
  console.log(`screenshot ${file}`);
}

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
  await screenshot(page, "1-problems");

  if (!config.quickFix) {
    step("done");
    result.ok = true;
    return;
  }

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
    const unavailable = page.locator(".notifications-toasts .notification-list-item", { hasText: "not available" }).first();
    await Promise.race([attached.waitFor({ timeout: 30_000 }), unavailable.waitFor({ timeout: 30_000 })]);
    if (await unavailable.isVisible()) {
      result.attachUnavailable = plain(await unavailable.innerText());
      await screenshot(page, "3-attach-unavailable");
    } else {
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
  step("done");
  result.ok = true;
}

(async () => {
  const guard = setTimeout(() => {
    console.log(JSON.stringify({ ...result, error: `the driver ran over ${config.deadlineSeconds} s`, step: current }));
    process.exit(1);
  }, config.deadlineSeconds * 1000);
  const browser = await chromium.launch({
    executablePath: config.browser,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  try {
    await main(page);
  } catch (error) {
    result.error = String(error && error.stack || error);
    result.step = current;
    await screenshot(page, `failure-${current}`).catch(() => {});
  } finally {
    await browser.close().catch(() => {});
  }
  clearTimeout(guard);
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
})();
