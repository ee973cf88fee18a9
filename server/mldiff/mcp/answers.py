"""The tools' answers: compact JSON for an agent's small context.

The most severe findings come first, at most ``limit`` of them, then counts of the rest;
each finding is the object of ``mldiff check --format json`` (the contract). Nothing here
reads files: the server hands in results.
"""
from __future__ import annotations

from typing import Any, Iterable

from mldiff.findings import SEVERITIES, SEVERITY_RANK, Finding

DEFAULT_LIMIT = 20
MAX_LIMIT = 500


def severity_first(findings: Iterable[Finding]) -> list[Finding]:
    """Errors, then warnings, information and hints; within one severity, by file and line."""
    return sorted(findings, key=lambda f: (SEVERITY_RANK[f.severity], f.path, f.span.line, f.span.column, f.code))


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, the severities that have any, most severe first."""
    found = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        found[finding.severity] += 1
    return {severity: count for severity, count in found.items() if count}


def check_answer(result, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """``mldiff check --format json``'s object, the findings most severe first and cut at
    ``limit`` (the errors and notes too), with what was left out counted."""
    ordered = severity_first(result.findings)
    shown = ordered[:limit]
    answer: dict[str, Any] = {
        "version": 1,
        "base": result.base,
        "head": result.head,
        "files_changed": result.files_changed,
        "files_analysed": result.files_analysed,
        "counts": counts(result.findings),
        "findings": [finding.to_json() for finding in shown],
        "errors": [error.to_json() for error in result.errors[:limit]],
    }
    left_out = ordered[limit:]
    if left_out:
        answer["omitted"] = {"findings": len(left_out), "counts": counts(left_out)}
    if len(result.errors) > limit:
        answer.setdefault("omitted", {})["errors"] = len(result.errors) - limit
    if result.notes:
        answer["notes"] = result.notes[:limit]
    return answer


def log_answer(items: Iterable[Any], walked: int, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The commits with findings (``history.CommitFindings``), newest first, each commit's
    findings most severe first, ``limit`` findings in all; the rest counted."""
    commits: list[dict[str, Any]] = []
    room = limit
    omitted_findings = omitted_commits = total = errors = 0
    for item in items:
        errors += len(item.errors)
        if not item.findings:
            continue
        total += len(item.findings)
        if room <= 0:
            omitted_commits += 1
            omitted_findings += len(item.findings)
            continue
        ordered = severity_first(item.findings)
        entry = {"commit": item.commit.sha, "short": item.commit.short, "date": item.commit.date,
                 "subject": item.commit.subject, "counts": counts(ordered),
                 "findings": [finding.to_json() for finding in ordered[:room]]}
        if len(ordered) > room:
            entry["omitted"] = len(ordered) - room
            omitted_findings += len(ordered) - room
        room -= len(entry["findings"])
        commits.append(entry)
    answer: dict[str, Any] = {"commits_walked": walked, "findings": total, "commits": commits}
    if omitted_findings:
        answer["omitted"] = {"findings": omitted_findings, "commits": omitted_commits}
    if errors:
        answer["files_not_analysed"] = errors
    return answer


def rule_summary(rule) -> dict[str, Any]:
    return {"code": rule.code, "name": rule.name, "family": rule.family, "severity": rule.severity,
            "summary": rule.summary}


def explain_answer(rule) -> dict[str, Any]:
    """A rule's documentation and its first example that reports (before, after, what)."""
    from mldiff.docs import rule_url
    answer = {**rule_summary(rule), "url": rule_url(rule.code), "documentation": rule.documentation()}
    example = next((e for e in rule.examples if e.expect), None)
    if example is not None:
        answer["example"] = {"path": example.path, "before": example.before, "after": example.after,
                             "reports": [{"line": expect.line, "message": expect.message}
                                         for expect in example.expect]}
    return answer


def validation_answer(result: dict[str, Any]) -> dict[str, Any]:
    """A validation result (``ValidationResult.to_json()``) without the per-step series: the
    verdict, the comparison, what the runs confirmed of each static finding (or contradicted:
    the part an agent must not miss), the commit trailers it would give, warnings, whether it
    is stored."""
    from mldiff.commit import trailers
    return {
        "verdict": result["verdict"],
        "base_commit": result["base_commit"],
        "steps": result["steps"],
        "runner": result["runner"],
        "command": result["command"],
        "comparison": result["comparison"],
        "confirmations": result.get("confirmations") or [],
        "trailers": dict(trailers(result)),
        "warnings": result.get("warnings") or [],
        "stored": bool(result.get("stored")),
    }
