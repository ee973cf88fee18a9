"""Validation results in commits: trailers, the prepare-commit-msg hook, git notes.

A stored result is attached only when its content key equals the key of what is being
committed (the index git commit uses; see ``mldiff.validate.content``): a result for
different content is never attached. Trailers go through ``git interpret-trailers`` so
that the user's message, comments and existing trailers stay as they are.
"""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mldiff.errors import MldiffError
from mldiff.validate import content, gitcmd, store
from mldiff.validate.report import format_bytes, format_loss, format_speed, jobs_line

HOOK_NAME = "prepare-commit-msg"
CHAINED_SUFFIX = ".mldiff-chained"
HOOK_MARKER = "# mldiff prepare-commit-msg hook"
NOTES_REF = "refs/notes/mldiff"
TRAILER_KEYS = ("ML-Validated", "ML-Loss", "ML-Throughput", "ML-Peak-Memory", "ML-Changes", "ML-Confirmed",
                "ML-Contradicted", "ML-Not-Observed", "ML-Slurm-Jobs")
# Trailers that only some results have: one left from an earlier message (an amend) is removed.
CONDITIONAL_KEYS = ("ML-Confirmed", "ML-Contradicted", "ML-Not-Observed", "ML-Slurm-Jobs")
MAX_LISTED = 4


@dataclass
class Match:
    """The stored result for the content being committed, or why there is none."""

    result: dict[str, Any] | None
    reason: str


# -- which result belongs to this content --------------------------------------------------

def staged_match(root: Path) -> Match:
    common = gitcmd.common_dir(root)
    key = content.index_key(root)
    try:
        head = gitcmd.resolve_commit(root, "HEAD")
    except MldiffError:
        head = None
    result = store.find_result(common, key, prefer_base=head)
    if result is not None:
        return Match(result, "")
    if any(r.get("content_key") == content.worktree_key(root) for r in store.list_results(common)):
        return Match(None, "the stored validation is for the working tree, which differs from what is staged "
                           "(stage exactly the validated files, or validate again)")
    if store.list_results(common):
        return Match(None, "no stored validation matches the staged content (it changed since `mldiff validate`)")
    return Match(None, "no validation results stored yet: run `mldiff validate`")


def commit_match(root: Path, rev: str) -> Match:
    commit = gitcmd.resolve_commit(root, rev)
    common = gitcmd.common_dir(root)
    key = content.commit_key(root, commit)
    parent = None
    try:
        parent = gitcmd.resolve_commit(root, f"{commit}^")
    except MldiffError:
        pass
    result = store.find_result(common, key, prefer_base=parent)
    if result is None:
        return Match(None, f"no stored validation matches the content of {rev} ({commit[:7]})")
    return Match(result, "")


# -- trailers -------------------------------------------------------------------------------

def _short(text: str, limit: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def changes_summary(root: Path, base: str, head: str = "index") -> str | None:
    """Static findings of the change by family, e.g. ``normalization (Normalize removed)``.

    None when the analysis is not available or fails: the other trailers still go in."""
    try:
        from mldiff.checking import run_check
    except ImportError:
        return None
    try:
        findings = run_check(repo=root, base=base, head=head).findings
    except MldiffError:
        return None
    by_family: dict[str, list[Any]] = {}
    for finding in findings:
        by_family.setdefault(finding.family, []).append(finding)
    parts = []
    for family, group in by_family.items():
        first = group[0]
        if first.before is not None and first.after is None:
            what = f"{_short(first.before)} removed"
        elif first.before is None and first.after is not None:
            what = f"{_short(first.after)} added"
        elif first.before is not None:
            what = f"{_short(first.before, 20)} -> {_short(first.after, 20)}"
        else:
            what = _short(first.message)
        more = f", +{len(group) - 1} more" if len(group) > 1 else ""
        parts.append(f"{family} ({what}{more})")
    return ", ".join(parts) if parts else "none"


def trailers(result: dict[str, Any], changes: str | None = None) -> list[tuple[str, str]]:
    comparison = result["comparison"]
    env = (result.get("change") or {}).get("environment") or {}
    device = env.get("device_name") or env.get("device") or "unknown device"
    torch_version = env.get("torch") or "?"
    out = [("ML-Validated", f"{result['steps']} steps on {device}, torch {torch_version}, "
                            f"base {result['base_commit'][:7]}")]
    base_loss, change_loss = comparison["final_loss"]
    relative = comparison.get("final_loss_relative")
    out.append(("ML-Loss", f"{format_loss(base_loss)} -> {format_loss(change_loss)} at step {comparison['steps']}"
                           + (f" ({relative:+.1%})" if relative is not None else "")
                           + (" (identical curves)" if comparison.get("identical") else "")))
    speed, ratio = comparison["throughput"], comparison.get("throughput_ratio")
    out.append(("ML-Throughput", f"{format_speed(speed[0])} -> {format_speed(speed[1])} "
                                 f"{comparison['throughput_unit']}" + (f" (x{ratio:.2f})" if ratio else "")
                                 + ("" if comparison.get("throughput_reliable", True) else ", too short to compare")
                                 + ("" if comparison.get("throughput_separable", True) else ", within noise")))
    memory, memory_ratio = comparison["memory_bytes"], comparison.get("memory_ratio")
    kind = "" if comparison.get("memory_kind") == "cuda_max_allocated" else " RSS"
    out.append(("ML-Peak-Memory", f"{format_bytes(memory[0])} -> {format_bytes(memory[1])}{kind}"
                                  + (f" ({memory_ratio - 1:+.0%})" if memory_ratio else "")))
    if changes:
        out.append(("ML-Changes", changes))
    out.extend(confirmation_trailers(result))
    jobs = jobs_line(result)
    if jobs:
        out.append(("ML-Slurm-Jobs", jobs))
    return out


def _listed(parts: list[str]) -> str:
    more = f"; +{len(parts) - MAX_LISTED} more" if len(parts) > MAX_LISTED else ""
    return " ".join("; ".join(parts[:MAX_LISTED]).split()) + more


def confirmation_trailers(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``ML-Confirmed`` (what the runs saw change), ``ML-Contradicted`` (what the code says
    changed and the runs did not see), ``ML-Not-Observed`` (changed code that did not run)."""
    confirmations = result.get("confirmations") or []
    out = []
    confirmed = [c for c in confirmations if c["status"] == "confirmed"]
    if confirmed:
        out.append(("ML-Confirmed", _listed([
            f"{c['family']} {c['before']} -> {c['after']}" + (f" ({c['where']})" if c.get("where") else "")
            for c in confirmed])))
    contradicted = [c for c in confirmations if c["status"] == "contradicted"]
    if contradicted:
        out.append(("ML-Contradicted", _listed([f"{c['family']} ({c['code']}, {c['path']}:{c['line']}): {c['detail']}"
                                                for c in contradicted])))
    missing = [c for c in confirmations if c["status"] == "not_observed"]
    if missing:
        out.append(("ML-Not-Observed", _listed([f"{c['family']} ({c['code']}, {c['path']}:{c['line']}): "
                                                f"{c['detail']}" for c in missing])))
    return out


def trailer_text(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{key}: {value}\n" for key, value in pairs)


def staged_trailers(root: Path) -> tuple[list[tuple[str, str]], str]:
    """(trailers, "") for the staged change, or ([], the reason there are none)."""
    match = staged_match(root)
    if match.result is None:
        return [], match.reason
    return trailers(match.result, changes_summary(root, match.result["base_commit"])), ""


def _drop_stale(root: Path, message_file: Path, keys: set[str]) -> None:
    """Remove trailers ``keys`` (ML-* ones the new result does not have) from the message's
    trailer block: only lines of that block that start with ``KEY:``, and their continuations."""
    path = Path(message_file)
    parsed = gitcmd.git(root, "interpret-trailers", "--parse", "--", str(path.resolve()))
    present = {line.split(":", 1)[0] for line in parsed.splitlines() if ":" in line}
    stale = keys & present
    if not stale:
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    body_end = len(lines)
    while body_end and (lines[body_end - 1].startswith("#") or not lines[body_end - 1].strip()):
        body_end -= 1
    block_start = body_end
    while block_start and lines[block_start - 1].strip():
        block_start -= 1
    kept, dropping = [], False
    for index, line in enumerate(lines):
        if block_start <= index < body_end:
            if any(line.startswith(f"{key}:") for key in stale):
                dropping = True
                continue
            if dropping and line[:1] in (" ", "\t"):
                continue
        dropping = False
        kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")


def add_trailers(root: Path, message_file: Path, pairs: list[tuple[str, str]]) -> None:
    """Append (or replace) ML-* trailers in ``message_file`` through git interpret-trailers;
    an ML-Contradicted (or other conditional trailer) the new result lacks is removed."""
    _drop_stale(root, message_file, set(CONDITIONAL_KEYS) - {key for key, _ in pairs})
    args = ["interpret-trailers", "--in-place", "--where", "end", "--if-exists", "replace"]
    for key, value in pairs:
        args += ["--trailer", f"{key}: {value}"]
    gitcmd.git(root, *args, "--", str(Path(message_file).resolve()))


# -- the hook ----------------------------------------------------------------------------------

def hooks_dir(root: Path) -> Path:
    """Where git looks for hooks (core.hooksPath respected)."""
    return Path(gitcmd.git(root, "rev-parse", "--path-format=absolute", "--git-path", "hooks",
                           hooks_off=False).strip())


def _is_ours(path: Path) -> bool:
    try:
        return HOOK_MARKER in path.read_text(encoding="utf-8", errors="replace")
    except (OSError, UnicodeError):
        return False


def hook_script(python: str = sys.executable) -> str:
    """A POSIX sh hook: the chained hook first (its failure stops the commit), then mldiff,
    whose problems never block a commit."""
    py = shlex.quote(python)
    return f"""#!/bin/sh
{HOOK_MARKER} (installed by `mldiff hook install`; `mldiff hook uninstall` removes it)
chained="$0{CHAINED_SUFFIX}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
if [ -x {py} ]; then
    {py} -m mldiff hook run {HOOK_NAME} "$@" || echo "mldiff: hook failed; the commit goes on without trailers" >&2
fi
exit 0
"""


def install_hook(root: Path) -> str:
    folder = hooks_dir(root)
    if str(folder) == os.devnull:
        raise MldiffError("core.hooksPath is /dev/null: hooks are disabled in this repository")
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / HOOK_NAME
    chained = folder / (HOOK_NAME + CHAINED_SUFFIX)
    message = f"installed {hook}"
    if hook.exists() or hook.is_symlink():
        if not _is_ours(hook):
            if chained.exists() or chained.is_symlink():
                raise MldiffError(f"{hook} is not mldiff's and {chained.name} exists already: "
                                  "move one of them away first")
            os.rename(hook, chained)
            message += f" (the existing hook now runs first, from {chained.name})"
        else:
            message = f"updated {hook}"
    _write_executable(hook, hook_script())
    return message


def _write_executable(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o755)
    os.replace(temporary, path)


def uninstall_hook(root: Path) -> str:
    folder = hooks_dir(root)
    hook = folder / HOOK_NAME
    chained = folder / (HOOK_NAME + CHAINED_SUFFIX)
    if not (hook.exists() and _is_ours(hook)):
        return f"no mldiff hook in {folder}"
    hook.unlink()
    if chained.exists() or chained.is_symlink():
        os.rename(chained, hook)
        return f"removed mldiff's hook; restored the previous {HOOK_NAME}"
    return f"removed {hook}"


def run_hook(root: Path, message_file: Path, source: str | None) -> str:
    """What the installed hook does: attach trailers when the staged content was validated."""
    if source in ("merge", "squash"):
        return ""
    pairs, reason = staged_trailers(root)
    if not pairs:
        return reason
    add_trailers(root, message_file, pairs)
    contradicted = dict(pairs).get("ML-Contradicted")
    if contradicted:
        return f"attached validation ({pairs[0][1]}); CONTRADICTED by the run: {contradicted}"
    return f"attached validation ({pairs[0][1]})"


# -- notes ---------------------------------------------------------------------------------------

def write_note(root: Path, rev: str) -> str:
    """The matching result as a git note on ``rev`` (refs/notes/mldiff): trailers, then the JSON."""
    import json

    match = commit_match(root, rev)
    if match.result is None:
        raise MldiffError(match.reason)
    commit = gitcmd.resolve_commit(root, rev)
    parent = match.result["base_commit"]
    text = trailer_text(trailers(match.result, changes_summary(root, parent, commit))) + "\n" + \
        json.dumps(match.result, indent=1, sort_keys=True) + "\n"
    gitcmd.git(root, "notes", "--ref", NOTES_REF, "add", "--force", "--file", "-", "--end-of-options", commit,
               input=text)
    return commit
