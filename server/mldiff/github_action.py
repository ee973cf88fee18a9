"""The GitHub Action's check step: ``python -m mldiff.github_action``, run by action.yml.

One check of the checked-out commit against the pull request's base (its merge base by
default), then everything GitHub reads from it: annotations (``--format github``, within
the per-step caps), a job summary (``--format markdown`` appended to
``$GITHUB_STEP_SUMMARY``), a SARIF file for code scanning, and step outputs in
``$GITHUB_OUTPUT`` (``sarif``, ``findings``, ``errors``, ``base``). The exit status is
``mldiff check``'s: 1 when a finding is at or above ``fail-on``, 2 when the check could
not run (with an ``::error`` saying why; a shallow checkout is told to use
``fetch-depth: 0``).

The inputs arrive as ``INPUT_*`` environment variables (action.yml maps them), the event
as ``GITHUB_EVENT_PATH``, so the step runs the same way outside GitHub, as the tests do.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from mldiff.errors import GitError, MldiffError

FETCH_DEPTH_HINT = ("actions/checkout fetches a single commit unless told otherwise: set `fetch-depth: 0` "
                    "in its `with:` so the base and the merge base are in the history")
NO_COMMIT = "0" * 40
TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off", "")


class ActionError(MldiffError):
    """The check could not run: the message is the ``::error`` annotation's text."""

    def __init__(self, message: str, title: str = "mldiff") -> None:
        super().__init__(message)
        self.title = title


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(f"INPUT_{name}", "").strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ActionError(f"input {name.lower().replace('_', '-')}: {value!r} is neither true nor false")


def _words(env: Mapping[str, str], name: str) -> list[str]:
    """An input of several values: one per line, or separated by spaces or commas on a line."""
    text = env.get(f"INPUT_{name}", "")
    return [word for line in text.splitlines() for word in line.replace(",", " ").split()]


def event_base(env: Mapping[str, str]) -> str | None:
    """What the event compares with: a pull request's base, a merge queue's base, the commit
    before a push. None when the event does not say."""
    path = env.get("GITHUB_EVENT_PATH")
    event: dict[str, Any] = {}
    if path:
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ActionError(f"cannot read the event at GITHUB_EVENT_PATH ({path}): {exc}") from None
    pull_request = event.get("pull_request") if isinstance(event, dict) else None
    if isinstance(pull_request, dict):
        sha = (pull_request.get("base") or {}).get("sha")
        if sha:
            return str(sha)
    merge_group = event.get("merge_group") if isinstance(event, dict) else None
    if isinstance(merge_group, dict) and merge_group.get("base_sha"):
        return str(merge_group["base_sha"])
    before = event.get("before") if isinstance(event, dict) else None
    if isinstance(before, str) and before and before != NO_COMMIT:
        return before
    if env.get("GITHUB_BASE_REF"):
        return f"origin/{env['GITHUB_BASE_REF']}"
    return None


def _check(env: Mapping[str, str]):
    from mldiff.checking import run_check
    from mldiff.gitview import RepoView
    base = env.get("INPUT_BASE", "").strip() or event_base(env)
    if not base:
        raise ActionError("nothing to compare with: this event names no base commit; set the action's `base` "
                          "input (a branch, tag or sha)")
    settings = {name.lower(): ",".join(_words(env, name)) for name in ("SELECT", "IGNORE") if _words(env, name)}
    view = RepoView.discover(".")
    try:
        try:
            result = run_check(view, base=base, head=env.get("INPUT_HEAD", "").strip() or "HEAD",
                               merge_base=_flag(env, "MERGE_BASE", True), paths=_words(env, "PATHS"),
                               settings=settings)
        except GitError as exc:
            if view.is_shallow:
                raise ActionError(f"{exc}. {FETCH_DEPTH_HINT}", title="mldiff: history missing") from None
            raise
        return result
    finally:
        view.close()


def _output(env: Mapping[str, str], values: dict[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                raise ActionError(f"output {name} would span lines: {value!r}")
            out.write(f"{name}={value}\n")


def _sarif_path(env: Mapping[str, str]) -> Path:
    given = env.get("INPUT_SARIF", "").strip()
    if given:
        return Path(given).resolve()
    return Path(env.get("RUNNER_TEMP") or ".").resolve() / "mldiff.sarif"


def run(env: Mapping[str, str] = os.environ, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from mldiff.commands.check import FAIL_ON, exit_status
    from mldiff.formats import github, markdown, sarif
    from mldiff.formats.text import summary
    fail_on = env.get("INPUT_FAIL_ON", "").strip() or "warning"
    if fail_on not in FAIL_ON:
        raise ActionError(f"input fail-on: {fail_on!r} is not one of {', '.join(FAIL_ON)}")
    result = _check(env)
    if _flag(env, "ANNOTATIONS", True):
        for line in github.annotations(result):
            out.write(line + "\n")
    out.write(summary(result) + "\n")
    out.flush()
    if _flag(env, "SUMMARY", True) and env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary_file:
            summary_file.write(markdown.render(result) + "\n")
    path = _sarif_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sarif.sarif_log(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _output(env, {"sarif": str(path), "findings": str(len(result.findings)), "errors": str(len(result.errors)),
                  "base": result.base})
    status = exit_status(result.findings, fail_on)
    if status:
        err.write(f"mldiff: failing the step: findings at or above fail-on {fail_on}\n")
    return status


def main() -> int:
    from mldiff.formats.github import command
    try:
        return run()
    except MldiffError as exc:   # ActionError, GitError, ConfigError: one annotation saying why
        print(command("error", str(exc), title=getattr(exc, "title", "mldiff")), flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
