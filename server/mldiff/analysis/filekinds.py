"""Which analyser reads a path: Python, notebooks, configs, Dockerfiles, pins."""
from __future__ import annotations

import posixpath
import re

CONFIG_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
# A notebook's outputs (images, logs) are not what mldiff reads: the file may be this large,
# and its code cells count against the limit of every other file (analysis/notebook.py).
MAX_NOTEBOOK_BYTES = 100_000_000


def file_kind(path: str) -> str | None:
    """``python``, ``notebook``, ``setup`` (setup.py), ``dockerfile``, ``devcontainer``, ``compose``,
    ``requirements``, ``pyproject``, ``yaml``, ``json``, ``toml`` -- or None for files mldiff does not read."""
    name = posixpath.basename(path)
    lower = name.lower()
    _, suffix = posixpath.splitext(lower)
    if lower == "setup.py":
        return "setup"     # what it pins (analysis/setup_py.py), not training code
    if suffix in (".py", ".pyi"):
        return "python"
    if suffix == ".ipynb":
        return "notebook"
    if lower == "dockerfile" or lower.startswith("dockerfile.") or lower.endswith(".dockerfile") \
            or lower == "containerfile":
        return "dockerfile"
    if lower in ("devcontainer.json", ".devcontainer.json"):
        return "devcontainer"
    if lower in ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml") or (
            suffix in (".yml", ".yaml") and lower.startswith(("docker-compose.", "compose."))):
        return "compose"   # also docker-compose.override.yml, compose.gpu.yaml
    parent = posixpath.basename(posixpath.dirname(path)).lower()
    if suffix in (".txt", ".in") and ("requirements" in lower or lower.startswith("constraints")
                                      or parent in ("requirements", "reqs")):
        return "requirements"   # also requirements/base.txt
    if lower == "pyproject.toml":
        return "pyproject"
    if lower in ("environment.yml", "environment.yaml"):
        return "conda"
    if lower in ("package.json", "package-lock.json", "tsconfig.json") or lower.endswith("lock.json"):
        return None
    return CONFIG_SUFFIXES.get(suffix)


_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|testing)/|(?:^|/)test_[^/]*\.py$|_test\.py$|(?:^|/)conftest\.py$")


def is_test_file(path: str) -> bool:
    """Unit tests build optimizers, losses and schedulers to test them, not to train anything."""
    return bool(_TEST_PATH.search(path))
