"""Each static finding of the change, held against what the two runs observed.

- ``confirmed``: an observation of the finding's family differs between base and change,
  with the observed values (``learning_rate 0.05 -> 0.2 (param group 0, steps 1-12)``);
- ``contradicted``: the family was observed on both sides and did not change although the
  code says it did (the changed line never ran, or something overrides its value);
- ``not_observed``: the changed line did not run in the N steps (a branch not taken, a
  function not called), the file was not loaded, or the run records nothing of the family.

The changed lines come with the run (``probe_lines``: the step at which each first ran),
which tells "did not run" (not observed) from "ran and was overridden" (contradicted).
Which observations speak for a finding is ``observables``' table.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Callable

from mldiff.findings import Finding
from mldiff.validate import observables
from mldiff.validate.observed import Observation, observe

CONFIRMED, CONTRADICTED, NOT_OBSERVED = "confirmed", "contradicted", "not_observed"


@dataclass(frozen=True)
class Confirmation:
    code: str
    family: str
    status: str
    before: str | None
    after: str | None
    detail: str
    path: str
    line: int
    message: str
    observed: str | None = None      # the observation the status rests on
    where: str = ""                  # what and when it was observed: "param group 0, steps 1-12"

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @property
    def summary(self) -> str:
        """One line for a trailer or a status line."""
        if self.status == CONFIRMED:
            return f"{self.family} {self.before} -> {self.after}" + (f" ({self.where})" if self.where else "")
        return f"{self.family}: {self.detail}"


class LinesRan:
    """Which of the requested lines ran in one run: ``{path: {line: steps done when it first ran,
    or None}}``; a path mapped to None was requested but its file was never loaded."""

    def __init__(self, files: dict[str, dict[int, int | None] | None] | None = None) -> None:
        self.files = files or {}

    def state(self, path: str, lines: list[int]) -> tuple[str, int | None]:
        """("ran", first step) | ("not_run", None) | ("not_loaded", None) | ("unknown", None)."""
        if path not in self.files:
            return "unknown", None
        known = self.files[path]
        if known is None:
            return "not_loaded", None
        seen = [known[line] for line in lines if line in known]
        if not seen:
            return "unknown", None
        ran = [step for step in seen if step is not None]
        return ("ran", min(ran)) if ran else ("not_run", None)


def _keyword_line(lines: list[str], before: int, keyword: str) -> int | None:
    """The line (1-based) above ``before`` that starts with ``keyword`` (an ``else:``, a ``finally:``)."""
    for number in range(before - 1, 0, -1):
        if lines[number - 1].strip().startswith(keyword):
            return number
    return None


def enclosing_header(text: str | None, line: int) -> str | None:
    """The header of the innermost block holding ``line`` (``if args.finetune:``, ``else:``), from the source."""
    if not text:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.splitlines()
    blocks: list[tuple[int, int, int]] = []   # (header line, first line of the block, last line)

    def add(header: int | None, block: list[ast.stmt]) -> None:
        if header is not None and block:
            blocks.append((header, block[0].lineno, max(s.end_lineno or s.lineno for s in block)))

    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or isinstance(node, ast.Module):
            continue
        add(node.lineno, getattr(node, "body", None) or [])
        orelse = getattr(node, "orelse", None) or []
        if orelse and not (isinstance(node, ast.If) and isinstance(orelse[0], ast.If)
                           and orelse[0].col_offset == node.col_offset):
            add(_keyword_line(lines, orelse[0].lineno, "else"), orelse)
        for handler in getattr(node, "handlers", None) or []:
            add(handler.lineno, handler.body)
        finalbody = getattr(node, "finalbody", None) or []
        if finalbody:
            add(_keyword_line(lines, finalbody[0].lineno, "finally"), finalbody)
        for case in getattr(node, "cases", None) or []:
            add(case.pattern.lineno, case.body)
    inside = [block for block in blocks if block[1] <= line <= block[2]]
    if not inside:
        return None
    header = max(inside, key=lambda block: block[1])[0]
    return lines[header - 1].strip() if 0 < header <= len(lines) else None


def _float(text: str | None) -> float | None:
    try:
        value = float(str(text).strip().strip("'\""))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _line_phrase(state: str, first: int | None) -> str:
    if state != "ran":
        return ""
    return "before step 1" if first == 0 else f"first after step {first}"


def _cpu_note(finding: Finding, change: dict[str, Any]) -> str:
    environment = change.get("environment") or {}
    if finding.family != "precision" or environment.get("device_type") != "cpu":
        return ""
    return ("; on CPU: autocast and the dtypes it gives are observed, but not what they do on a GPU "
            "(tensor-core speed, memory, float16 underflow of CUDA kernels)")


def _rank_note(name: str, ranks: list[dict[str, Observation]]) -> str:
    texts = [observed[name].text if name in observed else "?" for observed in ranks]
    if len(set(texts)) <= 1:
        return ""
    return "; ranks differ: " + ", ".join(f"rank {rank} {text}" for rank, text in enumerate(texts))


class Confirmer:
    """Confirmations for the findings of one change, from its two runs."""

    def __init__(self, base: dict[str, Any], change: dict[str, Any], steps: int,
                 base_lines: LinesRan | None = None, change_lines: LinesRan | None = None,
                 head_text: Callable[[str], str | None] = lambda path: None) -> None:
        self.base, self.change = base, change
        self.base_observed, self.change_observed = observe(base), observe(change)
        ranks = change.get("ranks") or []
        self.change_ranks = [self.change_observed, *(observe(run) for run in ranks)] if ranks else []
        self.steps = steps
        self.base_lines = base_lines or LinesRan()
        self.change_lines = change_lines or LinesRan()
        self.head_text = head_text

    def confirm(self, finding: Finding) -> Confirmation:
        def make(status: str, before: str | None, after: str | None, detail: str,
                 observed: str | None = None, where: str = "") -> Confirmation:
            return Confirmation(finding.code, finding.family, status, before, after, detail, finding.path,
                                finding.line, finding.message, observed, where)

        reason = observables.not_observable(finding.code, finding.family)
        if reason:
            return make(NOT_OBSERVED, None, None, reason)
        base_line = finding.base_line
        removal = finding.after is None and finding.before is not None and base_line is not None
        if removal and base_line is not None:
            span = finding.span.end_line - finding.span.line
            state, first = self.base_lines.state(finding.path, list(range(base_line, base_line + span + 1)))
            where = f"base line {finding.base_line}"
        else:
            state, first = self.change_lines.state(finding.path, list(range(finding.line, finding.span.end_line + 1)))
            where = f"line {finding.line}"
        if state == "not_loaded":
            return make(NOT_OBSERVED, None, None, f"{finding.path} was not loaded by the run in {self.steps} steps")
        if state == "not_run":
            header = None if removal else enclosing_header(self.head_text(finding.path), finding.line)
            return make(NOT_OBSERVED, None, None, f"{finding.path} {where} did not run in {self.steps} steps"
                        + (f" (inside `{header}`)" if header else ""))
        names = [name for name in observables.observations_for(finding.code, finding.family)
                 if name in self.base_observed and name in self.change_observed]
        for name in names:
            before, after = self.base_observed[name], self.change_observed[name]
            if before.value == after.value:
                continue
            seen_where = after.where or before.where
            detail = f"{observables.label(name)}: {before.text} -> {after.text}"
            if seen_where:
                detail += f" ({seen_where})"
            code_after, seen_after = _float(finding.after), _float(after.text)
            if code_after is not None and seen_after is not None and \
                    not math.isclose(code_after, seen_after, rel_tol=1e-6):
                detail += f"; the code says {finding.after}, the run used {after.text}"
            elif code_after is not None and seen_after is not None:
                detail += ", as the code says"
            others = [n for n in names if n != name and self.base_observed[n].value != self.change_observed[n].value]
            if others:
                detail += "; also " + ", ".join(observables.label(n) for n in others[:3])
            detail += _rank_note(name, self.change_ranks) + _cpu_note(finding, self.change)
            return make(CONFIRMED, before.text, after.text, detail, name, seen_where)
        if names:
            name = names[0]
            seen = self.change_observed[name]
            said = f"{finding.before} -> {finding.after}" if finding.before is not None or finding.after is not None \
                else finding.message
            detail = (f"the code says {said}, but {observables.label(name)} was {seen.text} on both sides"
                      + (f" ({seen.where})" if seen.where else ""))
            if state == "ran":
                detail += f"; {finding.path} {where} ran ({_line_phrase(state, first)}): something overrides " \
                          "its value, or it does not reach what it was meant to change"
            elif not finding.path.endswith(".py"):
                detail += f"; is {finding.path} read by this command, or does a command-line value override it?"
            return make(CONTRADICTED, seen.text, seen.text, detail + _cpu_note(finding, self.change), name, seen.where)
        wanted = observables.observations_for(finding.code, finding.family)
        what = ", ".join(observables.label(name) for name in wanted[:3]) or f"{finding.family} facts"
        return make(NOT_OBSERVED, None, None, f"the runs recorded none of: {what}")


def confirm_all(findings: list[Finding], base: dict[str, Any], change: dict[str, Any], steps: int,
                base_lines: LinesRan | None = None, change_lines: LinesRan | None = None,
                head_text: Callable[[str], str | None] = lambda path: None) -> list[Confirmation]:
    confirmer = Confirmer(base, change, steps, base_lines, change_lines, head_text)
    return [confirmer.confirm(finding) for finding in findings]
