"""Results and confirmations under ``<git-dir>/mldiff/``: never in the working tree.

Layout: ``results/<base commit>/<content key>.json``. Both parts are checked to be
hexadecimal hashes before they touch a path, so nothing a repository or a user types
can place a file outside the store. Writes go to a temp file in the same directory and
are moved into place with ``os.replace``: a reader sees the old file or the new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from mldiff.errors import MldiffError

_HASH = re.compile(r"[0-9a-f]{40,64}$")


def mldiff_dir(common: Path) -> Path:
    return Path(common) / "mldiff"


def results_dir(common: Path) -> Path:
    return mldiff_dir(common) / "results"


def _checked(name: str, value: str) -> str:
    if not _HASH.match(value):
        raise MldiffError(f"internal: {name} {value!r} is not a hash")
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def result_path(common: Path, base: str, key: str) -> Path:
    return results_dir(common) / _checked("base", base) / f"{_checked('key', key)}.json"


def save_result(common: Path, base: str, key: str, result: dict[str, Any]) -> Path:
    path = result_path(common, base, key)
    write_json_atomic(path, result)
    return path


def find_result(common: Path, key: str, prefer_base: str | None = None) -> dict[str, Any] | None:
    """The stored result for content ``key``: the one against ``prefer_base`` if any, else the newest."""
    _checked("key", key)
    if prefer_base is not None:
        preferred = read_json(result_path(common, prefer_base, key))
        if preferred is not None:
            return preferred
    candidates = [read_json(path) for path in results_dir(common).glob(f"*/{key}.json")]
    found = [c for c in candidates if isinstance(c, dict)]
    return max(found, key=lambda r: r.get("finished", 0), default=None)


def list_results(common: Path) -> list[dict[str, Any]]:
    """Every stored result, newest first."""
    found = [read_json(path) for path in results_dir(common).glob("*/*.json")]
    return sorted((r for r in found if isinstance(r, dict)), key=lambda r: r.get("finished", 0), reverse=True)


# -- confirmations: the exact command text a user agreed to run in this repository ------------

def _confirmations_path(common: Path) -> Path:
    return mldiff_dir(common) / "confirmed.json"


def command_digest(command_text: str) -> str:
    return hashlib.sha256(command_text.encode("utf-8")).hexdigest()


def is_confirmed(common: Path, command_text: str) -> bool:
    confirmed = read_json(_confirmations_path(common))
    return isinstance(confirmed, dict) and command_digest(command_text) in confirmed


def confirm(common: Path, command_text: str) -> None:
    path = _confirmations_path(common)
    confirmed = read_json(path)
    if not isinstance(confirmed, dict):
        confirmed = {}
    confirmed[command_digest(command_text)] = {"command": command_text, "confirmed": time.time()}
    write_json_atomic(path, confirmed)
