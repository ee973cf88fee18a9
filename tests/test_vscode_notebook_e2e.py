"""End to end in VS Code's notebook editor: code-server with the packaged .vsix, driven by
Playwright in headless Chromium (tests/vscode_notebook_driver.cjs).

The user's path: open the committed fixture notebook (fixtures/notebooks/train.ipynb) in
the notebook editor, delete the Normalize line in a cell without saving, see mldiff's
ML201 on the cell (a squiggle, the code lens) and in the Problems panel, and apply the
"Suppress" quick fix in the cell. Screenshots land under .artifacts/vscode-notebook-e2e/.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, GIT_ENV, Repo
from test_vscode_e2e import EDITOR_SETTINGS, CodeServer, _announce
from vscode_tools import ARTIFACTS, CODE_SERVER, NODE, PLAYWRIGHT_MODULES, build_vsix, chromium, node_env, require

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("vscode_notebook_driver.cjs")
NOTEBOOK = FIXTURES / "notebooks" / "train.ipynb"


@pytest.fixture(scope="module")
def notebook_e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    browser = chromium()
    require(NODE, CODE_SERVER, PLAYWRIGHT_MODULES, browser)
    started = time.monotonic()
    vsix = build_vsix()
    home = tmp_path_factory.mktemp("vscode-notebook")
    repo = Repo(home / "project")
    for name in ("train.ipynb", "pyproject.toml"):
        shutil.copy2(FIXTURES / "notebooks" / name, repo.path / name)
    repo.commit("A training notebook")
    artifacts = ARTIFACTS / "vscode-notebook-e2e"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    _announce(request, f"\nvscode-notebook-e2e: screenshots and logs in {artifacts}")
    server = CodeServer(home, repo.path, {**os.environ, **GIT_ENV})
    server.install(vsix)
    # code-server saves edits on its own (files.autoSave): off, so the edit stays in the buffer
    server.write_settings({**EDITOR_SETTINGS, "files.autoSave": "off", "mldiff.interpreter": sys.executable})
    config = {"browser": browser, "artifacts": str(artifacts), "deadlineSeconds": 300, "file": "train.ipynb",
              "deleteLineContaining": "transforms.Normalize(", "code": "ML201",
              "flaggedLine": "])", "fixTitle": "Suppress ML201 on this line",
              "expectAfterFix": "# mldiff: ignore[ML201]"}
    on_disk_when_flagged = None
    try:
        config["url"] = server.start()
        config_path = home / "driver-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        driver = subprocess.Popen([str(NODE), str(DRIVER), str(config_path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                  env=node_env(NODE_PATH=str(PLAYWRIGHT_MODULES)))
        log: list[str] = []
        try:
            assert driver.stdin is not None and driver.stdout is not None
            for line in driver.stdout:
                log.append(line.rstrip("\n"))
                if line.startswith("pause edited"):
                    on_disk_when_flagged = (repo.path / "train.ipynb").read_text(encoding="utf-8")
                if line.startswith("pause "):
                    driver.stdin.write("go\n")
                    driver.stdin.flush()
            driver.wait(timeout=30)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    finally:
        server.stop()
        shutil.copy2(server.log, artifacts / "code-server.log")
        (artifacts / "mldiff-extension.log").write_text(server.extension_log(), encoding="utf-8")
    print("\n".join(line for line in log if not line.startswith("{")))
    last = log[-1] if log else ""
    result = json.loads(last) if last.startswith("{") else {"ok": False, "error": "\n".join(log[-30:])}
    result["seconds"] = round(time.monotonic() - started, 1)
    result["on_disk_when_flagged"] = on_disk_when_flagged
    _announce(request, f"vscode-notebook-e2e: {'passed' if result['ok'] else 'FAILED'} in {result['seconds']} s; "
                       f"steps (ms): {result.get('steps')}; screenshots: {', '.join(result.get('screenshots', []))}")
    assert result["ok"], (f"the notebook run failed at step {result.get('step')}: {result.get('error')}\n"
                          f"screenshots: {result.get('screenshots')}\nextension log:\n{server.extension_log()}")
    return result


def test_a_cell_edit_shows_ml201_on_the_cell_and_in_problems(notebook_e2e: dict) -> None:
    rows = [row for row in notebook_e2e["problems"] if "ML201" in row]
    assert rows, notebook_e2e["problems"]
    assert "transforms.Normalize((0.1307,), (0.3081,)) removed" in rows[0] and "mldiff" in rows[0]
    assert notebook_e2e.get("lens") == "ML: normalization", notebook_e2e.get("lens")
    assert "HEAD · 1 ML change" in notebook_e2e.get("statusBar", ""), notebook_e2e.get("statusBar")
    # the edit was never saved: the diagnostic came from the cell's buffer
    assert notebook_e2e["dirty"]
    assert notebook_e2e["on_disk_when_flagged"] == NOTEBOOK.read_text(encoding="utf-8")


def test_the_quick_fix_edits_the_cell(notebook_e2e: dict) -> None:
    assert any(title.startswith("Suppress ML201 on this line") for title in notebook_e2e["quickFixes"]), \
        notebook_e2e["quickFixes"]
    # a deleted line's finding sits on the line that followed it: the end of the Compose
    assert notebook_e2e["fixedLine"] == "])  # mldiff: ignore[ML201]"
    assert not notebook_e2e["deletedLineBack"]
    assert notebook_e2e["squiggleGoneAfterFix"], "the suppressed finding was still shown after the fix"
    assert notebook_e2e["problemGoneAfterFix"], "the suppressed finding stayed in the Problems panel"
    assert notebook_e2e["lensGoneAfterFix"], "the suppressed finding's code lens was still shown after the fix"
