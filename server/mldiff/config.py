"""Settings: ``[tool.mldiff]`` in pyproject.toml, overridden by editor or CLI settings.

```toml
[tool.mldiff]
base = "HEAD"                     # default diff base: a revision, "index", "merge-base:main"
select = ["normalization", "ML3"] # codes, code prefixes or family names; empty = all
ignore = ["ML1102"]
include = ["**/*.py", "configs/**/*.yaml"]   # globs; empty = every file mldiff understands
exclude = ["third_party/**"]

[tool.mldiff.severity]            # by code, prefix or family
ML201 = "error"
batch_size = "information"

[tool.mldiff.validate]            # see docs/validation.md
command = "python train.py"

[tool.mldiff.mcp]                 # see docs/agents.md
allow_validate = true             # the MCP server's validate tool may run the command above
```
"""
from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mldiff.errors import ConfigError
from mldiff.families import FAMILIES
from mldiff.findings import SEVERITIES



INDEX = "index"            # the base (or head) that is the staged content
WORKTREE = "worktree"      # the head that is the working tree
MERGE_BASE_PREFIX = "merge-base:"


@dataclass(frozen=True)
class Base:
    """A diff base as the user writes it (``HEAD``, ``index``, ``merge-base:main``, any revision), parsed."""

    revision: str                  # the revision, or for a merge base the branch to fork from
    merge_base: bool = False       # compare with the merge base of HEAD and ``revision``

    @property
    def is_index(self) -> bool:
        return self.revision == INDEX and not self.merge_base

    def __str__(self) -> str:
        return f"{MERGE_BASE_PREFIX}{self.revision}" if self.merge_base else self.revision


def parse_base(spec: str) -> Base:
    """The one reading of a base setting; ConfigError for ``merge-base:`` without a branch."""
    spec = spec.strip()
    if spec.startswith(MERGE_BASE_PREFIX):
        branch = spec[len(MERGE_BASE_PREFIX):].strip()
        if not branch:
            raise ConfigError(f"base {spec!r} names no branch: use merge-base:<branch>")
        return Base(branch, merge_base=True)
    return Base(spec or "HEAD")


# Test code changes no training run: skipped unless a path is named explicitly or
# `exclude` is set (to [] to read tests too).
DEFAULT_EXCLUDE = ("tests/**", "test/**", "**/tests/**", "**/test/**", "test_*.py", "**/test_*.py",
                   "*_test.py", "**/*_test.py", "conftest.py", "**/conftest.py")


@dataclass(frozen=True)
class Settings:
    base: str = "HEAD"
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    validate: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # [tool.mldiff.mcp] allow_validate: this repository lets `mldiff mcp` run its training command.
    mcp_allow_validate: bool = field(default=False, compare=False)

    def enabled(self, code: str, family: str) -> bool:
        if self.select and not any(_matches(s, code, family) for s in self.select):
            return False
        return not any(_matches(s, code, family) for s in self.ignore)

    def severity_for(self, code: str, family: str, default: str) -> str:
        """The most specific override wins: code, then prefix (longest), then family."""
        best, best_rank = default, -1
        for selector, level in self.severity:
            if selector == code:
                rank = 1000
            elif selector == family:
                rank = 1
            elif code.startswith(selector):
                rank = 2 + len(selector)
            else:
                continue
            if rank > best_rank:
                best, best_rank = level, rank
        return best

    def includes(self, path: str, explicit: bool = False) -> bool:
        """Is ``path`` analysed? A path the user named explicitly escapes the default excludes."""
        if self.include and not any(_glob(path, pattern) for pattern in self.include):
            return False
        if explicit and self.exclude == DEFAULT_EXCLUDE:
            return True
        return not any(_glob(path, pattern) for pattern in self.exclude)

    def merged(self, **overrides: Any) -> Settings:
        """A copy with the given non-empty settings replacing these (editor/CLI over file)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name, value in overrides.items():
            if value is None or value == () or value == []:
                continue
            if name == "severity" and isinstance(value, dict):
                value = _severity_pairs(value, "severity")
            elif name in ("select", "ignore", "include", "exclude"):
                value = _string_tuple(value, name)
            values[name] = value
        return Settings(**values)


def _matches(selector: str, code: str, family: str) -> bool:
    return selector == family or code.startswith(selector)


def _glob(path: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(path, pattern):
        return True
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(path, pattern[3:])
    return False


_SELECTOR = re.compile(r"ML\d*$")


def _check_selectors(values: Iterable[str], name: str) -> None:
    for value in values:
        if value not in FAMILIES and not _SELECTOR.match(value):
            raise ConfigError(
                f"{name}: {value!r} is neither a rule code or prefix (ML201, ML2) nor a family "
                f"({', '.join(FAMILIES)})")


def _string_tuple(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of strings, not {value!r}")
    if name in ("select", "ignore"):
        _check_selectors(value, name)
    return tuple(value)


def _severity_pairs(value: Any, name: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table of selector = level, not {value!r}")
    pairs = []
    for selector, level in value.items():
        _check_selectors([selector], name)
        if level not in SEVERITIES:
            raise ConfigError(f"{name}.{selector}: {level!r} is not one of {', '.join(SEVERITIES)}")
        pairs.append((selector, level))
    return tuple(pairs)


def from_table(table: dict[str, Any], origin: str = "[tool.mldiff]") -> Settings:
    """Settings from a ``[tool.mldiff]``-shaped mapping (also used for editor settings)."""
    known = {"base", "select", "ignore", "severity", "include", "exclude", "validate", "mcp"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    base = table.get("base", "HEAD")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{origin}: base must be a revision name, not {base!r}")
    validate = table.get("validate", {})
    if not isinstance(validate, dict):
        raise ConfigError(f"{origin}: validate must be a table")
    mcp = table.get("mcp", {})
    if not isinstance(mcp, dict):
        raise ConfigError(f"{origin}: mcp must be a table")
    unknown = sorted(set(mcp) - {"allow_validate"})
    if unknown:
        raise ConfigError(f"{origin}: mcp: unknown setting {unknown[0]!r} (known: allow_validate)")
    allow_validate = mcp.get("allow_validate", False)
    if not isinstance(allow_validate, bool):
        raise ConfigError(f"{origin}: mcp.allow_validate must be true or false, not {allow_validate!r}")
    return Settings(
        base=base.strip(),
        select=_string_tuple(table.get("select", []), "select"),
        ignore=_string_tuple(table.get("ignore", []), "ignore"),
        severity=_severity_pairs(table.get("severity", {}), "severity"),
        include=_string_tuple(table.get("include", []), "include"),
        exclude=_string_tuple(table["exclude"], "exclude") if "exclude" in table else DEFAULT_EXCLUDE,
        validate=validate,
        mcp_allow_validate=allow_validate,
    )


def load(root: Path | str | None) -> Settings:
    """``[tool.mldiff]`` from ``root/pyproject.toml``; defaults when there is none."""
    if root is None:
        return Settings()
    path = Path(root) / "pyproject.toml"
    try:
        data = path.read_bytes()
    except OSError:
        return Settings()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid UTF-8 ({exc.reason})") from None
    return loads(text, path.name)


def loads(text: str, name: str = "pyproject.toml") -> Settings:
    """``[tool.mldiff]`` from the text of a pyproject.toml (a bare repository has no file
    to open: its settings come from the head commit's blob)."""
    if sys.version_info >= (3, 11):  # imported here: most commands never read a pyproject.toml
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML ({exc})") from None
    table = document.get("tool", {}).get("mldiff", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: [tool.mldiff] must be a table")
    return from_table(table, f"{name} [tool.mldiff]")
