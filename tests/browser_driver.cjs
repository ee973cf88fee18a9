// What the Playwright drivers of the browser end-to-end tests share (vscode_e2e_driver.cjs,
// vscode_notebook_driver.cjs, jupyterlab_driver.cjs): the config file named on the command
// line, "step <name> <ms>" lines as the run goes, "pause <name>" where the test checks
// something itself (it answers "go" on stdin), screenshots into config.artifacts (on
// failure too), a deadline, and one JSON line at the end: {"ok": true, ...what it saw} or
// {"ok": false, "error": ..., "step": ...}.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

function createDriver(fields = {}) {
  const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const started = Date.now();
  const result = { ok: false, steps: {}, screenshots: [], ...fields };
  let current = "launch";
  let stdinLines = null;

  function step(name) {
    result.steps[current] = Date.now() - started;
    console.log(`step ${current} ${Date.now() - started}`);
    current = name;
  }

  async function pause(name) {
    stdinLines = stdinLines || readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
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

  /** Runs ``main(page)`` in a fresh headless Chromium, then prints the result and exits. */
  async function run(main, viewport) {
    const guard = setTimeout(() => {
      console.log(JSON.stringify({ ...result, error: `the driver ran over ${config.deadlineSeconds} s`, step: current }));
      process.exit(1);
    }, config.deadlineSeconds * 1000);
    const browser = await chromium.launch({ executablePath: config.browser, headless: true, args: BROWSER_ARGS });
    const page = await browser.newPage({ viewport });
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
  }

  return { config, result, step, pause, plain, screenshot, run };
}

module.exports = { createDriver };
