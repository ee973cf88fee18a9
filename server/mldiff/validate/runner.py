"""Where the probe runs: here, in the project's dev container, in a named docker container, or
in a Slurm job.

- ``local``: mldiff already runs inside the dev container (REMOTE_CONTAINERS, CODESPACES,
  DEVCONTAINER or /.dockerenv), or the project configures no container.
- ``devcontainer``: ``devcontainer exec --workspace-folder ROOT -- ...``. Paths inside the
  container come from the workspace mount that ``devcontainer read-configuration`` reports.
- ``docker:NAME``: ``docker exec -i -w DIR NAME ...``; paths from the container's bind mounts.
- ``slurm``: ``srun [the slurm table's options] ...``, one job per side (``mldiff.validate.slurm``);
  paths are the same on the compute node (a shared file system).

Every path the probe sees (its own file, the base checkout, the result file) lies under the
repository's git dir, which lies inside the mounted workspace. The tools are found on PATH
or through MLDIFF_DEVCONTAINER_CLI / MLDIFF_DOCKER (environment only: a repository cannot
choose which program mldiff starts).
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping

from mldiff.errors import MldiffError
from mldiff.validate.command import SlurmConfig
from mldiff.validate.slurm import SlurmJobs

CONTAINER_MARKERS = ("REMOTE_CONTAINERS", "CODESPACES", "DEVCONTAINER")
_GPU_IMAGE_WORDS = ("cuda", "nvidia", "nvcr.io", "gpu", "rocm")


@dataclass
class Runner:
    """How to start a command, and where host paths are inside its environment."""

    kind: str                       # local | devcontainer | docker | slurm
    root: Path
    name: str | None = None         # the docker container
    image: str | None = None
    mounts: list[tuple[Path, str]] = field(default_factory=list)   # host dir -> container dir
    tool: list[str] = field(default_factory=list)                  # devcontainer CLI / docker argv prefix
    tool_options: list[str] = field(default_factory=list)          # after the subcommand (--docker-path)
    slurm: SlurmJobs | None = None

    @property
    def label(self) -> str:
        return f"docker:{self.name}" if self.kind == "docker" else self.kind

    @property
    def gpu_expected_by_image(self) -> bool:
        image = self.image or ""
        return bool(image) and any(word in image.lower() for word in _GPU_IMAGE_WORDS)

    def path(self, host_path: Path) -> str:
        """``host_path`` as the command sees it."""
        if self.kind in ("local", "slurm"):
            return str(host_path)
        for host_dir, container_dir in sorted(self.mounts, key=lambda m: len(str(m[0])), reverse=True):
            try:
                relative = Path(host_path).resolve().relative_to(host_dir.resolve())
            except ValueError:
                continue
            return str(PurePosixPath(container_dir, *relative.parts))
        raise MldiffError(f"{host_path} is not inside what the {self.label} container mounts "
                          f"({', '.join(str(h) for h, _ in self.mounts) or 'no bind mounts'}); "
                          "validation needs the repository and its .git dir inside the container")

    def argv(self, command: list[str], cwd: str, env: dict[str, str], side: str = "base") -> list[str]:
        """The full argv that runs ``command`` in ``cwd`` (a runner path) with ``env`` added
        (a Slurm job inherits the environment srun runs with)."""
        if self.kind == "local":
            return command
        if self.kind == "slurm":
            assert self.slurm is not None
            return self.slurm.argv(side, command, cwd)
        if self.kind == "devcontainer":
            remote_env = [part for name, value in env.items() for part in ("--remote-env", f"{name}={value}")]
            return [*self.tool, "exec", "--workspace-folder", str(self.root), *self.tool_options, *remote_env,
                    "--", *command]
        env_flags = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
        return [*self.tool, "exec", "-i", "-w", cwd, *env_flags, str(self.name), *command]


def inside_container(environ: Mapping[str, str] | None = None, dockerenv: str = "/.dockerenv") -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in CONTAINER_MARKERS) or os.path.exists(dockerenv)


def devcontainer_config(root: Path) -> Path | None:
    for candidate in (root / ".devcontainer" / "devcontainer.json", root / ".devcontainer.json"):
        if candidate.is_file():
            return candidate
    return None


def _tool(env_name: str, default: str) -> list[str]:
    return [os.environ.get(env_name) or default]


def _docker_path_option() -> list[str]:
    docker = os.environ.get("MLDIFF_DOCKER")
    return ["--docker-path", docker] if docker else []


def _run_tool(argv: list[str], what: str, cwd: Path) -> str:
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise MldiffError(f"{argv[0]} not found: {what} needs it on PATH "
                          "(or use --runner local)") from None
    except subprocess.TimeoutExpired:
        raise MldiffError(f"{what} did not answer within 120 s") from None
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise MldiffError(f"{what} failed: {detail}")
    return result.stdout


def devcontainer_runner(root: Path) -> Runner:
    cli = _tool("MLDIFF_DEVCONTAINER_CLI", "devcontainer")
    output = _run_tool([*cli, "read-configuration", "--workspace-folder", str(root), *_docker_path_option()],
                       "devcontainer read-configuration", root)
    try:
        data = json.loads(output.strip().splitlines()[-1])
        workspace = data["workspace"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise MldiffError("devcontainer read-configuration gave no workspace folder") from None
    mounts = []
    mount = _parse_mount(workspace.get("workspaceMount") or "")
    if mount is not None:
        mounts.append(mount)
    if workspace.get("workspaceFolder"):
        mounts.append((root, workspace["workspaceFolder"]))
    image = (data.get("configuration") or {}).get("image")
    return Runner("devcontainer", root, image=image if isinstance(image, str) else None, mounts=mounts, tool=cli,
                  tool_options=_docker_path_option())


def _parse_mount(spec: str) -> tuple[Path, str] | None:
    parts = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    source, target = parts.get("source") or parts.get("src"), parts.get("target") or parts.get("dst")
    return (Path(source), target) if source and target else None


def docker_runner(root: Path, name: str) -> Runner:
    docker = _tool("MLDIFF_DOCKER", "docker")
    output = _run_tool([*docker, "inspect", "--type", "container", "--", name], f"docker inspect {name}", root)
    try:
        info = json.loads(output)[0]
    except (ValueError, IndexError, KeyError):
        raise MldiffError(f"docker inspect {name} gave no container description") from None
    if not (info.get("State") or {}).get("Running", True):
        raise MldiffError(f"container {name} is not running")
    mounts = [(Path(m["Source"]), m["Destination"]) for m in info.get("Mounts") or []
              if m.get("Source") and m.get("Destination")]
    image = (info.get("Config") or {}).get("Image")
    return Runner("docker", root, name=name, image=image, mounts=mounts, tool=docker)


def choose_runner(root: Path, requested: str, slurm: SlurmConfig | None = None, token: str = "") -> Runner:
    """``auto`` picks local inside a container or without a devcontainer.json, else devcontainer."""
    if requested == "auto":
        requested = "local" if inside_container() or devcontainer_config(root) is None else "devcontainer"
    if requested == "local":
        return Runner("local", root)
    if requested == "slurm":
        return Runner("slurm", root, slurm=SlurmJobs(slurm or SlurmConfig(), token))
    if requested == "devcontainer":
        if devcontainer_config(root) is None:
            raise MldiffError("runner devcontainer: no .devcontainer/devcontainer.json in the repository")
        return devcontainer_runner(root)
    if requested.startswith("docker:"):
        return docker_runner(root, requested.split(":", 1)[1])
    raise MldiffError(f"unknown runner {requested!r}")
