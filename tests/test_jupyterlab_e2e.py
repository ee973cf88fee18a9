"""End to end in a real JupyterLab: jupyterlab + jupyterlab-lsp from PyPI, mldiff found
through its ``jupyter_lsp_spec_v1`` entry point, driven by Playwright in headless Chromium
(tests/jupyterlab_driver.cjs).

The user's path: open the committed fixture notebook, delete the Normalize line in a cell
(unsaved), see mldiff's diagnostic in the cell. jupyterlab-lsp sends the cells joined into
one virtual document; the server maps it back onto the cells and compares them with the
committed notebook. Screenshots land under .artifacts/jupyterlab-e2e/.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import FIXTURES, GIT_ENV, Repo
from test_vscode_e2e import _announce
from vscode_tools import ARTIFACTS, NODE, PLAYWRIGHT_MODULES, chromium, node_env, require

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("jupyterlab_driver.cjs")
NOTEBOOK = FIXTURES / "notebooks" / "train.ipynb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """``jupyter lab`` in its own process group, every directory it writes under ``home``."""

    def __init__(self, home: Path, root: Path) -> None:
        self.root, self.port, self.log = root, _free_port(), home / "jupyterlab.log"
        self.env = {**os.environ, **GIT_ENV, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
                    "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                    "JUPYTER_PLATFORM_DIRS": "1", "IPYTHONDIR": str(home / "ipython")}
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
                 "--port", str(self.port), "--ServerApp.token=", "--ServerApp.password=",
                 "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=", "--ServerApp.root_dir", str(self.root)],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter lab exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url("/api"), timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("jupyter lab did not answer /api within 90 s")

    def lsp_status(self) -> dict:
        with urllib.request.urlopen(self.url("/lsp/status"), timeout=10) as answer:
            return json.load(answer)

    def stop(self) -> None:
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None


def _require_jupyterlab() -> None:
    """Skip (fail under MLDIFF_REQUIRE_TOOLS=1) without jupyterlab and jupyterlab-lsp."""
    import importlib.util
    missing = [name for name in ("jupyterlab", "jupyter_lsp") if importlib.util.find_spec(name) is None]
    if missing:
        message = f"missing {', '.join(missing)}: `pip install -e '.[dev]'` installs jupyterlab and jupyterlab-lsp"
        if os.environ.get("MLDIFF_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def jupyterlab_e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    browser = chromium()
    require(NODE, PLAYWRIGHT_MODULES, browser)
    _require_jupyterlab()
    started = time.monotonic()
    home = tmp_path_factory.mktemp("jupyterlab")
    repo = Repo(home / "project")
    for name in ("train.ipynb", "pyproject.toml"):
        shutil.copy2(FIXTURES / "notebooks" / name, repo.path / name)
    repo.commit("A training notebook")
    artifacts = ARTIFACTS / "jupyterlab-e2e"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    _announce(request, f"\njupyterlab-e2e: screenshots and logs in {artifacts}")
    lab = JupyterLab(home, repo.path)
    config = {"browser": browser, "artifacts": str(artifacts), "deadlineSeconds": 240,
              "deleteLineContaining": "transforms.Normalize(", "flaggedLine": "transform = transforms.Compose(["}
    try:
        lab.start()
        status = lab.lsp_status()
        config["url"] = lab.url("/lab/tree/train.ipynb")
        config_path = home / "driver-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        driver = subprocess.run([str(NODE), str(DRIVER), str(config_path)], capture_output=True, text=True,
                                timeout=300, env=node_env(NODE_PATH=str(PLAYWRIGHT_MODULES)))
        log = driver.stdout.splitlines()
        on_disk = (repo.path / "train.ipynb").read_text(encoding="utf-8")
        status_after = lab.lsp_status()
    finally:
        lab.stop()
        shutil.copy2(lab.log, artifacts / "jupyterlab.log")
    print("\n".join(line for line in log if not line.startswith("{")), driver.stderr[-2000:])
    last = log[-1] if log else ""
    result = json.loads(last) if last.startswith("{") else {"ok": False, "error": "\n".join(log[-30:])}
    result.update(seconds=round(time.monotonic() - started, 1), lsp_status=status, lsp_status_after=status_after,
                  on_disk=on_disk)
    _announce(request, f"jupyterlab-e2e: {'passed' if result['ok'] else 'FAILED'} in {result['seconds']} s; "
                       f"steps (ms): {result.get('steps')}; screenshots: {', '.join(result.get('screenshots', []))}")
    assert result["ok"], (f"the JupyterLab run failed at step {result.get('step')}: {result.get('error')}\n"
                          f"screenshots: {result.get('screenshots')}\nconsole: {result.get('console')}\n"
                          f"log: {(artifacts / 'jupyterlab.log').read_text(errors='replace')[-3000:]}")
    return result


def test_jupyter_lsp_finds_mldiff_through_its_entry_point(jupyterlab_e2e: dict) -> None:
    spec = jupyterlab_e2e["lsp_status"]["specs"]["mldiff"]
    assert spec["languages"] == ["python"] and "text/x-ipython" in spec["mime_types"]
    session = jupyterlab_e2e["lsp_status_after"]["sessions"]["mldiff"]
    assert session["last_server_message_at"] and session["last_handler_message_at"], session  # it served the lab
    assert jupyterlab_e2e.get("lspStatus") == "Fully initialized", jupyterlab_e2e.get("lspStatus")


def test_a_cell_edit_shows_the_mldiff_diagnostic_in_the_cell(jupyterlab_e2e: dict) -> None:
    assert jupyterlab_e2e["markedText"] == "])"   # the line that followed the deleted Normalize
    assert "warning" in (jupyterlab_e2e["markClass"] or "")
    assert "transforms.Normalize((0.1307,), (0.3081,)) removed" in jupyterlab_e2e.get("tooltip", ""), \
        jupyterlab_e2e.get("tooltip")
    assert jupyterlab_e2e["on_disk"] == NOTEBOOK.read_text(encoding="utf-8")   # unsaved: from the buffer
