"""The ``mldiff.*`` settings as the server sees them, and where each comes from.

Lowest to highest: defaults, ``[tool.mldiff]`` in the repository's pyproject.toml,
``initializationOptions``, ``workspace/configuration`` (section ``mldiff``, global then
the workspace folder holding the file), and ``mldiff.setBase`` for the base. Editor
settings win over pyproject, as DESIGN.md says. Keys the engine does not know
(``trace``, a client's own options) are ignored; a bad value is reported once and
skipped, never fatal.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from mldiff.config import Settings

ENGINE_KEYS = ("base", "select", "ignore", "severity", "include", "exclude", "validate")
DIAGNOSTIC_MODES = ("auto", "push", "pull")


AUTO = "auto"


@dataclass(frozen=True)
class ServerOptions:
    """Settings only the server reads (``mldiff.debounceMs`` and friends).

    ``debounce_ms`` None is ``"auto"``: the delay follows the document's last analysis
    time (``lsp.scheduler.auto_delay_s``); a number fixes it for every document."""

    debounce_ms: int | None = None
    max_file_chars: int = 1_000_000
    diagnostic_mode: str = "auto"


@dataclass(frozen=True)
class ValidationSettings:
    """``mldiff.validate.*`` from the editor; None leaves it to ``[tool.mldiff.validate]``."""

    command: str | list[str] | None = None
    steps: int | None = None
    runner: str | None = None
    timeout: float | None = None


def validation_settings(value: Any) -> ValidationSettings:
    """The editor's ``mldiff.validate`` table, checked; ConfigError names the bad setting."""
    from mldiff.errors import ConfigError
    from mldiff.validate.command import check_runner
    if value is None or value == "":
        return ValidationSettings()
    if not isinstance(value, dict):
        raise ConfigError(f"mldiff.validate must be a table of settings, not {value!r}")
    command = value.get("command")
    if command in ("", [], None):
        command = None
    elif not (isinstance(command, str) or (isinstance(command, list) and all(isinstance(p, str) for p in command))):
        raise ConfigError(f"mldiff.validate.command must be a string or a list of strings, not {command!r}")
    steps, timeout = value.get("steps"), value.get("timeout")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"mldiff.validate.steps must be a positive integer, not {steps!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"mldiff.validate.timeout must be a positive number of seconds, not {timeout!r}")
    runner = value.get("runner") or None
    if runner is not None:
        if not isinstance(runner, str):
            raise ConfigError(f"mldiff.validate.runner must be a string, not {runner!r}")
        try:
            check_runner(runner)
        except ConfigError as exc:
            raise ConfigError(f"mldiff.validate.{exc}") from None
    return ValidationSettings(command, steps, runner, None if timeout is None else float(timeout))


def settings_table(value: Any) -> dict[str, Any]:
    """``{"mldiff": {...}}`` or ``{...}``, from initializationOptions or a configuration reply."""
    if not isinstance(value, dict):
        return {}
    nested = value.get("mldiff")
    return dict(nested) if isinstance(nested, dict) else dict(value)


class SettingsState:
    """Every source of settings, merged on demand for one file."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report                    # shows a problem to the user once
        self.initialization: dict[str, Any] = {}
        self.workspace: dict[str, dict[str, Any]] = {}  # scope URI ("" = global) -> table
        self.base_override: str | None = None
        self._pyproject: dict[str, tuple[tuple[int, int] | None, Settings]] = {}

    # -- the editor side ------------------------------------------------------------------
    def editor_table(self, uri: str | None = None) -> dict[str, Any]:
        table = dict(self.initialization)
        table.update(self.workspace.get("", {}))
        if uri is not None:
            scopes = sorted((s for s in self.workspace if s and uri.startswith(s.rstrip("/") + "/")), key=len)
            for scope in scopes:
                table.update(self.workspace[scope])
        return table

    def options(self) -> ServerOptions:
        table = self.editor_table()
        defaults = ServerOptions()
        debounce = _debounce(table.get("debounceMs"), self._report)
        limit = _number(table.get("maxFileBytes"), defaults.max_file_chars, "maxFileBytes", self._report)
        mode = table.get("diagnosticMode", defaults.diagnostic_mode)
        if mode not in DIAGNOSTIC_MODES:
            self._report(f"mldiff.diagnosticMode must be one of {', '.join(DIAGNOSTIC_MODES)}, not {mode!r}")
            mode = defaults.diagnostic_mode
        return ServerOptions(debounce, max(1, int(limit)), mode)

    # -- one file ---------------------------------------------------------------------------
    def settings_for(self, repo_root: str | None, uri: str | None = None) -> Settings:
        """pyproject's ``[tool.mldiff]`` overlaid with the editor's settings and setBase."""
        from mldiff.config import Settings, from_table
        from mldiff.errors import ConfigError
        base_settings = self._pyproject_settings(repo_root) if repo_root else Settings()
        overrides: dict[str, Any] = {}
        for key, value in self.editor_table(uri).items():
            if key not in ENGINE_KEYS or value is None or value == "" or value == [] or value == {}:
                continue  # unset (a client's declared default of "" or [] included)
            try:
                checked = from_table({key: value}, "mldiff settings")
            except ConfigError as exc:
                self._report(f"ignoring the setting mldiff.{key}: {exc}")
                continue
            overrides[key] = getattr(checked, key)
        if self.base_override:
            overrides["base"] = self.base_override
        return base_settings.merged(**overrides) if overrides else base_settings

    def _pyproject_settings(self, root: str) -> Settings:
        from mldiff.config import Settings, load
        from mldiff.errors import ConfigError
        stamp = _stamp(os.path.join(root, "pyproject.toml"))
        cached = self._pyproject.get(root)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            settings = load(root)
        except ConfigError as exc:
            self._report(f"{exc}; using the defaults")
            settings = Settings()
        self._pyproject[root] = (stamp, settings)
        return settings


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _debounce(value: Any, report: Callable[[str], None]) -> int | None:
    """``"auto"`` (or unset) -> None; a number of milliseconds -> that many (at least 0)."""
    if value is None or value == AUTO:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        report(f"mldiff.debounceMs must be \"auto\" or a number of milliseconds, not {value!r}")
        return None
    return max(0, int(value))


def _number(value: Any, default: int, name: str, report: Callable[[str], None]) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        report(f"mldiff.{name} must be a number, not {value!r}")
        return default
    return int(value)
