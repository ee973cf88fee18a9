"""End to end in a real VS Code: code-server with the packaged .vsix, driven by Playwright
in headless Chromium (tests/vscode_e2e_driver.cjs).

The user's path: open the fixture repository, delete the Normalize line of train.py in the
editor, see mldiff's ML201 warning in the Problems panel, apply the "Suppress" quick fix,
then attach stored validation results to the commit message in the Source Control box.
A second path (marked ``validation_e2e``) runs a real validation of fixtures/tiny-train
from the Command Palette: the confirmation answered "Run", the progress, the summary.
Screenshots (on failure too) land under .artifacts/<test>/, printed in the log.
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

from conftest import FIXTURES, GIT_ENV, ROOT, Repo, mldiff
from validation_support import store_result
from vscode_tools import (ARTIFACTS, CODE_SERVER, NODE, PLAYWRIGHT_MODULES, build_vsix, chromium, node_env,
                          require)

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("vscode_e2e_driver.cjs")
ATTACH_COMMAND = "mldiff: Attach validation results to commit message"
COMMIT_MESSAGE = "Drop Normalize from the training transform"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CodeServer:
    """code-server in its own process group, so that stopping it stops its file watcher
    and extension host too; every directory it writes is under ``home``."""

    def __init__(self, home: Path, workspace: Path, env: dict[str, str]) -> None:
        self.home, self.workspace = home, workspace
        self.user_data, self.extensions = home / "user-data", home / "extensions"
        self.env = {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache")}
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log = home / "code-server.log"

    def command(self, *args: str) -> list[str]:
        return [str(NODE), str(CODE_SERVER), "--user-data-dir", str(self.user_data),
                "--extensions-dir", str(self.extensions), *args]

    def install(self, vsix: Path) -> None:
        result = subprocess.run(self.command("--install-extension", str(vsix)), env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert "successfully installed" in result.stdout, result.stdout + result.stderr

    def write_settings(self, settings: dict) -> None:
        path = self.user_data / "User" / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")

    def start(self) -> str:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command("--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}", "--disable-telemetry",
                             "--disable-update-check", "--disable-workspace-trust", "--reconnection-grace-time", "5",
                             str(self.workspace)),
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"code-server exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return f"http://127.0.0.1:{self.port}/?folder={self.workspace}"
            except OSError:
                time.sleep(0.2)
        raise AssertionError("code-server did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
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

    def extension_log(self) -> str:
        logs = sorted(self.user_data.glob("logs/*/exthost*/mldiff.mldiff/*.log"))
        return "\n".join(p.read_text(errors="replace") for p in logs)


def _fixture_repository(path: Path, fixture: str) -> Repo:
    """A sample ML project as a fresh git repository with the training script committed."""
    repo = Repo(path)
    for name in ("train.py", "pyproject.toml"):
        shutil.copy2(FIXTURES / fixture / name, path / name)
    repo.commit("Train a small classifier")
    return repo


def _drive(config_path: Path, repo: Repo) -> tuple[dict, str, str | None]:
    """Run the browser driver, doing the test's part at each of its pauses.
    Returns (its result, its log, the trailers `mldiff attach` printed)."""
    driver = subprocess.Popen([str(NODE), str(DRIVER), str(config_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                              env=node_env(NODE_PATH=str(PLAYWRIGHT_MODULES)))
    log: list[str] = []
    trailers = None
    try:
        assert driver.stdin is not None and driver.stdout is not None
        for line in driver.stdout:
            log.append(line.rstrip("\n"))
            if line.startswith("pause saved"):
                store_result(repo.path)
            elif line.startswith("pause staged"):
                attach = mldiff("attach", "--repo", str(repo.path))
                assert attach.returncode == 0, f"mldiff attach: {attach.stderr}"
                trailers = attach.stdout
            if line.startswith("pause "):
                driver.stdin.write("go\n")
                driver.stdin.flush()
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    last = log[-1] if log else ""
    result = json.loads(last) if last.startswith("{") else {"ok": False, "error": "\n".join(log[-30:])}
    return result, "\n".join(log), trailers


EDITOR_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "chat.disableAIFeatures": True,
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "telemetry.telemetryLevel": "off",
    "files.hotExit": "off",
    "git.autofetch": False,
    "git.openRepositoryInParentFolders": "never",
}


def _announce(request: pytest.FixtureRequest, line: str) -> None:
    """A line in the test log even when pytest captures output (CI looks for the artifacts there)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _session(request: pytest.FixtureRequest, home: Path, name: str, settings: dict, env: dict[str, str],
             fixture: str = "ml-project", **config: object) -> dict:
    """One fresh VS Code: install the .vsix, start code-server on the fixture repository,
    drive it; screenshots and logs go to .artifacts/NAME/."""
    browser = chromium()
    require(NODE, CODE_SERVER, PLAYWRIGHT_MODULES, browser)
    started = time.monotonic()
    vsix = build_vsix()
    repo = _fixture_repository(home / fixture, fixture)
    artifacts = ARTIFACTS / name
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    _announce(request, f"\n{name}: screenshots and logs in {artifacts}")
    server = CodeServer(home, repo.path, {**env, **GIT_ENV})
    server.install(vsix)
    server.write_settings({**EDITOR_SETTINGS, **settings})
    config = {
        "browser": browser, "artifacts": str(artifacts), "deadlineSeconds": 300,
        "file": "train.py", "deleteLineContaining": "transforms.Normalize(", "code": "ML201",
        "fixTitle": "Suppress ML201 on this line", "expectAfterFix": "# mldiff: ignore[ML201]",
        "attachCommand": ATTACH_COMMAND, "commitMessage": COMMIT_MESSAGE, "expectTrailer": "ML-Validated:",
        "quickFix": True, "attach": False, **config,
    }
    try:
        config["url"] = server.start()
        config_path = home / "driver-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        result, log, trailers = _drive(config_path, repo)
    finally:
        server.stop()
        shutil.copy2(server.log, artifacts / "code-server.log")
        (artifacts / "mldiff-extension.log").write_text(server.extension_log(), encoding="utf-8")
    print("\n".join(line for line in log.splitlines() if not line.startswith("{")))
    result["seconds"] = round(time.monotonic() - started, 1)
    result["trailers"] = trailers
    result["file_on_disk"] = (repo.path / "train.py").read_text(encoding="utf-8")
    result["committed_message"] = repo.git("log", "-1", "--format=%B")
    _announce(request, f"{name}: {'passed' if result['ok'] else 'FAILED'} in {result['seconds']} s "
                       f"(vsix build, code-server, browser); steps (ms): {result.get('steps')}; "
                       f"screenshots: {', '.join(result.get('screenshots', []))}")
    assert result["ok"], (f"the VS Code run failed at step {result.get('step')}: {result.get('error')}\n"
                          f"screenshots: {result.get('screenshots')}\nextension log:\n{server.extension_log()}")
    return result


@pytest.fixture(scope="module")
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The main path, with mldiff importable by the configured interpreter."""
    return _session(request, tmp_path_factory.mktemp("vscode-e2e"), "vscode-e2e", {"mldiff.interpreter": sys.executable},
                    dict(os.environ), attach=True)


def test_normalize_removal_shows_ml201_in_problems(e2e: dict) -> None:
    rows = [row for row in e2e["problems"] if "ML201" in row]
    assert rows, e2e["problems"]
    assert "Normalize((0.1307,), (0.3081,)) removed" in rows[0]
    assert "mldiff" in rows[0]
    assert "HEAD · 1 ML change" in e2e["statusBar"]


def test_suppress_quick_fix_edits_the_line(e2e: dict) -> None:
    assert any(title.startswith("Suppress ML201 on this line") for title in e2e["quickFixes"]), e2e["quickFixes"]
    assert "# mldiff: ignore[ML201]" in e2e["editorText"]
    on_disk = e2e["file_on_disk"]
    assert "transforms.Normalize(" not in on_disk
    assert on_disk.count("# mldiff: ignore[ML201]") == 1
    assert e2e["squiggleGoneAfterFix"], "the suppressed finding was still shown after the fix"
    assert e2e.get("lens") == "ML: normalization", e2e.get("lens")
    assert e2e["lensGoneAfterFix"], "the suppressed finding's code lens was still shown after the fix"


def test_attach_puts_trailers_after_the_typed_message(e2e: dict) -> None:
    assert "ML-Validated:" in e2e["commitBoxText"]
    # What VS Code committed from the box: the typed subject, a blank line, then exactly the
    # trailers that `mldiff attach` prints for the staged change.
    committed = e2e["committed_message"].rstrip("\n")
    assert committed == f"{COMMIT_MESSAGE}\n\n{e2e['trailers'].rstrip()}", committed
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=e2e["committed_message"],
                            capture_output=True, text=True, check=True).stdout
    assert [line.split(":", 1)[0] for line in parsed.splitlines()][:4] == [
        "ML-Validated", "ML-Loss", "ML-Throughput", "ML-Peak-Memory"]


def test_missing_mldiff_is_explained_and_installed_from_the_prompt(request: pytest.FixtureRequest,
                                                                    tmp_path: Path) -> None:
    """A fresh venv without mldiff: the extension names the interpreter and the pip command,
    its "Install mldiff" button installs mldiff (from a copy of this checkout), and the
    diagnostics come."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    package = tmp_path / "package"  # the vendoring script copies just the installable package
    package.mkdir()
    subprocess.run([str(ROOT / "scripts" / "vendor-devcontainer-feature.sh"), str(package)], check=True,
                   capture_output=True, timeout=60)
    source = package / ".devcontainer" / "mldiff" / "mldiff-src"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = _session(request, tmp_path / "home", "vscode-e2e-install",
                      {"mldiff.interpreter": str(python), "mldiff.install.source": str(source)}, env,
                      install={"message": "mldiff cannot run with", "button": "Install mldiff"}, quickFix=False)
    message = result["missingMessage"]
    assert str(python) in message and "No module named 'mldiff'" in message
    assert f"{python} -m pip install --upgrade {source}" in message
    assert any("ML201" in row for row in result["problems"]), result["problems"]
    installed = subprocess.run([str(python), "-c", "import mldiff; print(mldiff.__file__)"], env=env,
                               capture_output=True, text=True, timeout=60)
    assert str(venv) in installed.stdout, installed.stderr


@pytest.mark.validation_e2e
def test_validate_change_from_the_palette_runs_after_run_and_shows_the_summary(request: pytest.FixtureRequest,
                                                                              tmp_path: Path) -> None:
    """A real validation of fixtures/tiny-train (torch on the CPU): delete `optimizer.zero_grad()`
    in the editor, save, run "mldiff: Validate change", answer the confirmation with "Run"; the
    progress notification counts steps and the server's one-line summary appears."""
    if "validation_e2e" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a real validation in VS Code adds about 50 s to the e2e: select it with -m validation_e2e")
    pytest.importorskip("torch")
    lines = (FIXTURES / "tiny-train" / "train.py").read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "optimizer.zero_grad()" in text)
    # The user's settings: the extension host's PATH need not hold a `python` with torch, so
    # the command names this interpreter (which also checks that mldiff.validate.command is honoured).
    command = f"{sys.executable} train.py --epochs 2"
    settings = {"mldiff.interpreter": sys.executable, "mldiff.validate.steps": 3, "mldiff.validate.command": command}
    result = _session(request, tmp_path / "home", "vscode-e2e-validate", settings, dict(os.environ),
                      fixture="tiny-train", deleteLineContaining="optimizer.zero_grad()", gotoLine=line, code="ML801",
                      quickFix=False, validate={"command": "mldiff: Validate change",
                                                "prompt": "runs this project's training command",
                                                "button": "Run", "summary": "mldiff: validated"})
    # The notification collapses the text's runs of spaces, as HTML does.
    assert " ".join(f"{command}  (runner: auto)".split()) in " ".join(result["validatePrompt"].split())
    assert "run: step" in result["validateProgress"], result["validateProgress"]
    summary = result["validateSummary"]
    assert "mldiff: validated 3 steps against base" in summary, summary   # mldiff.validate.steps: 3
    assert "stored for a commit of exactly this content" in summary
