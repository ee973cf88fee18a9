"""The dev container Feature (devcontainer-feature/src/mldiff) and the sample project that
uses it (fixtures/ml-project/.devcontainer).

install.sh runs for real against Debian's own, externally managed python3 with a temp
prefix, the way the Feature runs in a Debian or Ubuntu based image; the devcontainer CLI
reads the fixture's configuration and resolves the Feature (with a stub docker: there is
no engine here, and building the CUDA image would need one).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES
from vscode_tools import CLIENT, DEVCONTAINER, NODE, ROOT, require

FEATURE = ROOT / "devcontainer-feature" / "src" / "mldiff"
PROJECT = FIXTURES / "ml-project"
VENDOR = ROOT / "scripts" / "vendor-devcontainer-feature.sh"
INTERPRETER = "/usr/local/share/mldiff/bin/python"


def _feature_metadata() -> dict:
    return json.loads((FEATURE / "devcontainer-feature.json").read_text(encoding="utf-8"))


def _vendored_project(tmp_path: Path) -> Path:
    project = tmp_path / "ml-project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("mldiff"))
    subprocess.run([str(VENDOR), str(project)], check=True, capture_output=True, timeout=60)
    return project


def _clean_env(**options: str) -> dict[str, str]:
    """What a Feature's install.sh sees: a plain PATH, no venv, no PYTHONPATH, options as variables."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": options.pop("HOME"),
            "LANG": "C.UTF-8", **options}


def test_metadata_follows_the_features_spec() -> None:
    metadata = _feature_metadata()
    assert metadata["id"] == FEATURE.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata["version"])
    for name, option in metadata["options"].items():
        assert option["type"] == "string" and isinstance(option["default"], str), name
        assert option["description"], name
    assert set(metadata["options"]) == {"version", "source", "python"}
    assert os.access(FEATURE / "install.sh", os.X_OK)
    assert (FEATURE / "install.sh").read_text().startswith("#!/bin/sh\n")


def test_feature_adds_the_extension_and_points_it_at_the_installed_python() -> None:
    client = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    vscode = _feature_metadata()["customizations"]["vscode"]
    assert vscode["extensions"] == [f"{client['publisher']}.{client['name']}"]
    assert vscode["settings"]["mldiff.interpreter"] == INTERPRETER
    assert "mldiff.interpreter" in client["contributes"]["configuration"]["properties"]


@pytest.mark.slow
def test_install_sh_leaves_a_working_mldiff(tmp_path: Path) -> None:
    python = Path("/usr/bin/python3")
    if not python.exists():
        pytest.skip("no /usr/bin/python3: this test needs a Debian-like system Python")
    project = _vendored_project(tmp_path)
    feature = project / ".devcontainer" / "mldiff"
    prefix = tmp_path / "prefix"
    home = tmp_path / "home"
    home.mkdir()
    # The option as the fixture sets it: a path relative to the Feature's folder.
    env = _clean_env(HOME=str(home), SOURCE="mldiff-src", VERSION="latest", PYTHON=str(python),
                     MLDIFF_PREFIX=str(prefix))
    for attempt in ("install", "reinstall"):  # a rebuild runs the Feature again over its own result
        result = subprocess.run([str(feature / "install.sh")], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{attempt}: {result.stdout}\n{result.stderr}"
    assert "installed mldiff 0.1.0" in result.stdout

    mldiff = prefix / "bin" / "mldiff"
    version = subprocess.run([str(mldiff), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "mldiff 0.1.0", version.stderr
    rules = subprocess.run([str(mldiff), "rules"], env=env, capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0 and "ML201" in rules.stdout, rules.stderr
    # The interpreter the extension is pointed at imports the installed mldiff, not this checkout.
    interpreter = prefix / "share" / "mldiff" / "bin" / "python"
    where = subprocess.run([str(interpreter), "-c", "import mldiff; print(mldiff.__file__)"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert str(prefix) in where.stdout and str(ROOT) not in where.stdout
    # Debian's python3 is externally managed: the Feature made a venv rather than break it.
    assert (prefix / "share" / "mldiff" / "venv" / "pyvenv.cfg").exists()
    assert "include-system-site-packages = true" in (prefix / "share" / "mldiff" / "venv" / "pyvenv.cfg").read_text()


def test_install_sh_stops_with_a_clear_message_for_a_missing_python(tmp_path: Path) -> None:
    env = _clean_env(HOME=str(tmp_path), PYTHON=str(tmp_path / "no-such-python"), MLDIFF_PREFIX=str(tmp_path / "p"))
    result = subprocess.run([str(FEATURE / "install.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"mldiff feature: error: python '{tmp_path / 'no-such-python'}' not found"
    assert not (tmp_path / "p").exists()


def test_fixture_is_a_pinned_cuda_pytorch_image_using_the_feature(tmp_path: Path) -> None:
    require(NODE, DEVCONTAINER)
    project = _vendored_project(tmp_path)
    docker = tmp_path / "docker"  # answers `docker ps` with no containers; nothing else is called
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(0o755)
    result = subprocess.run(
        [str(NODE), str(DEVCONTAINER), "read-configuration", "--workspace-folder", str(project),
         "--docker-path", str(docker), "--include-features-configuration"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    configuration = answer["configuration"]
    assert re.fullmatch(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime", configuration["image"])
    assert configuration["hostRequirements"]["gpu"] == "optional"
    (feature_set,) = answer["featuresConfiguration"]["featureSets"]
    assert feature_set["sourceInformation"]["userFeatureId"] == "./mldiff"
    (feature,) = feature_set["features"]
    assert feature["id"] == "mldiff"
    assert feature["value"] == {"source": "mldiff-src"}
    assert feature["customizations"]["vscode"]["settings"]["mldiff.interpreter"] == INTERPRETER
    # The Feature the CLI would build is this repository's, copied by the vendoring script.
    assert (Path(feature["cachePath"]) / "install.sh").read_bytes() == (FEATURE / "install.sh").read_bytes()
