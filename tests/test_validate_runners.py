"""Runner command lines through a real @devcontainers/cli and a stub docker.

The stub docker answers `ps` and `inspect` like an engine would and runs `exec` payloads on
this machine, translating the container's paths back to the host's, so a whole validation
really runs "in the container" and every argv and working directory is checked.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, mldiff
from validation_support import RUN_ENV, edit, tiny_train_repo

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

TOOLS = ROOT / ".tools"
DEVCONTAINER_VERSION = "0.89.0"
CUDA_IMAGE = "pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime"

STUB = r'''#!PYTHON
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({"argv": args, "cwd": os.getcwd()}) + "\n")
inside, host = os.environ["STUB_MAP"].split("=", 1)
def to_host(text):
    return text.replace(inside, host)
if args[:1] == ["ps"]:
    print("c0ffee")
elif args[:1] == ["inspect"]:
    labels = {"devcontainer.local_folder": host,
              "devcontainer.config_file": host + "/.devcontainer/devcontainer.json",
              "devcontainer.metadata": json.dumps([{"remoteUser": "dev"}])}
    print(json.dumps([{"Id": "c0ffee", "Name": "/trainbox", "Created": "2024-01-01T00:00:00Z",
        "Config": {"Labels": labels, "Image": os.environ["STUB_IMAGE"], "Env": ["PATH=" + os.environ["PATH"]],
                   "User": "root"},
        "State": {"Status": "running", "Running": True, "StartedAt": "2024-01-01T00:00:00Z"},
        "Mounts": [{"Type": "bind", "Source": os.environ.get("STUB_MOUNT", host), "Destination": inside}],
        "NetworkSettings": {"Ports": {}}, "Platform": "linux", "Os": "linux"}]))
elif args[:1] == ["exec"]:
    i, env, workdir = 1, {}, None
    while args[i].startswith("-"):
        if args[i] in ("-e", "-u", "-w"):
            if args[i] == "-e":
                name, _, value = args[i + 1].partition("=")
                env[name] = to_host(value)
            if args[i] == "-w":
                workdir = to_host(args[i + 1])
            i += 2
        else:
            i += 1
    command = [to_host(a) for a in args[i + 1:]]
    if workdir:
        os.chdir(workdir)
    env.pop("PATH", None)  # the "container's" PATH (from its env probe) is not this machine's
    os.execvpe(command[0], command, {**os.environ, **env})
'''


@pytest.fixture(scope="session")
def devcontainer_cli() -> Path:
    """The real CLI, from .tools (`make tools` installs it; npm install here otherwise)."""
    cli = TOOLS / "devcontainers" / "node_modules" / ".bin" / "devcontainer"
    if not cli.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install @devcontainers/cli (make tools)"
        subprocess.run([npm, "install", "--prefix", str(TOOLS / "devcontainers"), "--no-audit", "--no-fund",
                        f"@devcontainers/cli@{DEVCONTAINER_VERSION}"], check=True, capture_output=True)
    return cli


def stub_env(tmp_path: Path, repo_path: Path, inside: str, image: str, **extra: str) -> dict[str, str]:
    stub = tmp_path / "docker"
    stub.write_text(STUB.replace("PYTHON", sys.executable))
    stub.chmod(0o755)
    return {**RUN_ENV, "MLDIFF_DOCKER": str(stub), "STUB_LOG": str(tmp_path / "calls.jsonl"),
            "STUB_MAP": f"{inside}={repo_path}", "STUB_IMAGE": image, **extra}


def calls(tmp_path: Path, verb: str) -> list[dict]:
    lines = (tmp_path / "calls.jsonl").read_text().splitlines()
    return [call for call in map(json.loads, lines) if call["argv"][:1] == [verb]]


def split_exec(argv: list[str], container: str) -> tuple[list[str], list[str]]:
    at = argv.index(container)
    return argv[:at], argv[at + 1:]


def check_probe_command(command: list[str], inside: str, side_cwd: str) -> None:
    run_dir = f"{inside}/.git/mldiff/runs/"
    assert command[0] == "python" and command[1].startswith(run_dir) and command[1].endswith("/probe.py")
    options = command[2:command.index("--")]
    assert options[:4] == ["--steps", "3", "--seed", "0"]
    assert options[4] == "--out" and options[5].startswith(run_dir)
    assert options[6:8] == ["--cwd", side_cwd] or (options[6] == "--cwd" and options[7].startswith(side_cwd))
    assert options[8] == "--watch-stdin"
    # The changed line (--lr's default), as the container sees the side's checkout.
    assert options[9:] == [f"--lines={options[7]}/train.py:31"]
    assert command[command.index("--") + 1:] == ["train.py", "--epochs", "2"]


def test_devcontainer_runner_runs_through_devcontainer_exec(tmp_path, devcontainer_cli):
    repo = tiny_train_repo(tmp_path)
    repo.write(".devcontainer/devcontainer.json", json.dumps({"image": CUDA_IMAGE, "remoteUser": "dev"}))
    repo.commit("dev container")
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    inside = f"/workspaces/{repo.path.name}"
    wrapper = tmp_path / "devcontainer"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$@\" > \"{tmp_path}/cli-$$.txt\"\n"
                       f"exec '{devcontainer_cli}' \"$@\"\n")
    wrapper.chmod(0o755)
    env = stub_env(tmp_path, repo.path, inside, CUDA_IMAGE, MLDIFF_DEVCONTAINER_CLI=str(wrapper))
    completed = mldiff("validate", "--json", "--steps", "3", "--runner", "devcontainer", cwd=repo.path, env=env)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["runner"] == "devcontainer" and result["comparison"]["first_difference_step"] == 2
    # Confirmed in the container too: the line markers' paths map back to the repository's.
    (confirmation,) = result["confirmations"]
    assert confirmation["status"] == "confirmed" and (confirmation["before"], confirmation["after"]) == ("0.05", "0.2")
    # A CUDA image but a CPU run: said loudly.
    assert any(w.startswith("RAN ON CPU, NOT GPU") and CUDA_IMAGE in w for w in result["warnings"])
    assert result["change"]["environment"]["container"]["image"] == CUDA_IMAGE

    # Our calls of the devcontainer CLI: read-configuration, then one exec per side.
    cli_calls = sorted((tmp_path.glob("cli-*.txt")), key=lambda p: p.stat().st_mtime_ns)
    argvs = [p.read_text().splitlines() for p in cli_calls]
    assert [a[1] for a in argvs] == ["read-configuration", "exec", "exec"]
    assert all(a[0] == str(repo.path) for a in argvs)  # run from the repository root
    assert argvs[0][1:] == ["read-configuration", "--workspace-folder", str(repo.path),
                            "--docker-path", env["MLDIFF_DOCKER"]]
    for argv in argvs[1:]:
        assert argv[1:6] == ["exec", "--workspace-folder", str(repo.path), "--docker-path", env["MLDIFF_DOCKER"]]
        assert argv[argv.index("--") + 1] == "python"
        remote_env = [argv[i + 1] for i, a in enumerate(argv) if a == "--remote-env"]
        assert remote_env == ["PYTHONHASHSEED=0", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
                              f"MLDIFF_CONTAINER_IMAGE={CUDA_IMAGE}"]

    # What the CLI finally ran: docker exec -i -u dev ... -w <workspaceFolder> c0ffee <probe command>.
    payload_runs = [c for c in calls(tmp_path, "exec") if "--watch-stdin" in c["argv"]]
    assert len(payload_runs) == 2
    for call, side_cwd in zip(payload_runs, (f"{inside}/.git/mldiff/worktrees/", inside)):
        options, command = split_exec(call["argv"], "c0ffee")
        assert options[:4] == ["exec", "-i", "-u", "dev"]
        assert options[-2:] == ["-w", inside]
        assert f"MLDIFF_CONTAINER_IMAGE={CUDA_IMAGE}" in options
        check_probe_command(command, inside, side_cwd)


def test_docker_runner_exec_argv_and_workdir(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    inside = "/workspace"
    image = "nvcr.io/nvidia/pytorch:24.05-py3"
    env = stub_env(tmp_path, repo.path, inside, image)
    completed = mldiff("validate", "--json", "--steps", "3", "--runner", "docker:trainbox", cwd=repo.path, env=env)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["runner"] == "docker:trainbox"
    assert any("RAN ON CPU" in w for w in result["warnings"])
    inspect = calls(tmp_path, "inspect")
    assert inspect[0]["argv"] == ["inspect", "--type", "container", "--", "trainbox"]
    runs = calls(tmp_path, "exec")
    assert len(runs) == 2
    for call, side_cwd in zip(runs, (f"{inside}/.git/mldiff/worktrees/", inside)):
        assert call["cwd"] == str(repo.path)
        options, command = split_exec(call["argv"], "trainbox")
        assert options[:3] == ["exec", "-i", "-w"] and options[3].startswith(side_cwd)
        assert options[4:] == ["-e", "PYTHONHASHSEED=0", "-e", "PYTHONDONTWRITEBYTECODE=1", "-e",
                               "PYTHONUNBUFFERED=1", "-e", f"MLDIFF_CONTAINER_IMAGE={image}"]
        check_probe_command(command, inside, options[3])


def test_docker_container_that_does_not_mount_the_repository(tmp_path):
    repo = tiny_train_repo(tmp_path)
    env = stub_env(tmp_path, repo.path, "/workspace", "python:3.11", STUB_MOUNT=str(tmp_path / "elsewhere"))
    completed = mldiff("validate", "--runner", "docker:trainbox", cwd=repo.path, env=env)
    assert completed.returncode == 2
    assert "is not inside what the docker:trainbox container mounts" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_auto_runner_detection(tmp_path):
    from mldiff.validate.runner import choose_runner, devcontainer_config, inside_container

    assert inside_container({"REMOTE_CONTAINERS": "true"}, dockerenv=str(tmp_path / "none"))
    assert inside_container({"CODESPACES": "true"}, dockerenv=str(tmp_path / "none"))
    assert not inside_container({}, dockerenv=str(tmp_path / "none"))
    repo = tiny_train_repo(tmp_path)
    assert devcontainer_config(repo.path) is None
    assert choose_runner(repo.path, "auto").kind == "local"
    missing = mldiff("validate", "--runner", "devcontainer", cwd=repo.path, env=RUN_ENV)
    assert missing.returncode == 2 and "no .devcontainer/devcontainer.json" in missing.stderr
    repo.write(".devcontainer.json", "{}")
    assert devcontainer_config(repo.path) == repo.path / ".devcontainer.json"
