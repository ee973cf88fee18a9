"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One run. ``tool.driver.rules`` lists every rule (id, name, descriptions, help from the
rule's documentation, help URI, default level) and each result points into it with
``ruleIndex``. Locations are head-side, relative to the repository root
(``uriBaseId: %SRCROOT%``), with code-point columns (``columnKind``); end columns are
exclusive in both mldiff and SARIF. ``partialFingerprints`` hash the path, code and
message (plus an occurrence count for identical findings), not the line, so an alert
survives lines moving above it. Files that could not be analysed are
``toolExecutionNotifications``. Nothing is written to stderr: the output is one file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, TextIO
from urllib.parse import quote

from mldiff import __version__

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/mldiff/mldiff"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "mldiffFinding/v1"
_LINE_NUMBERS = re.compile(r"\blines? \d+(?:\s*(?:-|\.\.|to)\s*\d+)?")
LEVELS = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    json.dump(sarif_log(result), out, indent=2, ensure_ascii=False)
    out.write("\n")


def sarif_log(result) -> dict[str, Any]:
    """The SARIF log object for a ``CheckResult``."""
    rules = _rule_descriptors()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    occurrences: dict[tuple[str, str, str], int] = {}
    results = []
    for finding in result.findings:
        key = (finding.path, finding.code, finding.message)
        occurrences[key] = occurrences.get(key, 0) + 1
        results.append(_result(finding, index.get(finding.code), occurrences[key]))
    notifications = [_notification("error", error.message, error.path, error.line) for error in result.errors]
    notifications += [_notification("note", note) for note in result.notes]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mldiff",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"base": result.base, "head": result.head},
        }],
    }


def _rule_descriptors() -> list[dict[str, Any]]:
    from mldiff.docs import rule_url
    from mldiff.rules.base import all_rules
    descriptors = []
    for rule in all_rules():
        documentation = rule.documentation() or rule.summary
        first_paragraph = documentation.split("\n\n", 1)[0].replace("\n", " ")
        descriptors.append({
            "id": rule.code,
            "name": _pascal(rule.name),
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": first_paragraph},
            "help": {"text": documentation, "markdown": documentation},
            "helpUri": rule_url(rule.code),
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"family": rule.family, "tags": ["ml", rule.family]},
        })
    return descriptors


def _result(finding, rule_index: int | None, occurrence: int) -> dict[str, Any]:
    out: dict[str, Any] = {"ruleId": finding.code}
    if rule_index is not None:
        out["ruleIndex"] = rule_index
    out.update({
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding.path, finding.span)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.path, finding.code, finding.message,
                                                             occurrence)},
        "properties": {"family": finding.family, "severity": finding.severity, "before": finding.before,
                       "after": finding.after, "base_line": finding.base_line},
    })
    if finding.cell is not None:  # the location stays the .ipynb line; the cell is for readers
        out["properties"].update(cell=finding.cell.cell, cell_id=finding.cell.cell_id,
                                 cell_line=finding.cell.span.line)
    if finding.related:
        out["relatedLocations"] = [
            {"id": i, **_location(related.path or finding.path, related.span), "message": {"text": related.message}}
            for i, related in enumerate(finding.related)]
    return out


def fingerprint(path: str, code: str, message: str, occurrence: int = 1) -> str:
    """Stable across line shifts: what the finding is and where (file), not which line
    (line numbers inside the message, "used as Adam lr at line 4", are left out too)."""
    text = "\0".join((path, code, _LINE_NUMBERS.sub("line", message), str(occurrence)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _location(path: str, span) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": _artifact(path), "region": _region(span)}}


def _artifact(path: str) -> dict[str, str]:
    # Bytes, so an undecodable file name (kept with surrogateescape) is percent-encoded as is.
    return {"uri": quote(os.fsencode(path), safe="/"), "uriBaseId": SRCROOT}


def _region(span) -> dict[str, int]:
    line = max(1, span.line)
    column = max(1, span.column)
    region = {"startLine": line, "startColumn": column}
    if (span.end_line, span.end_column) >= (line, column):
        region["endLine"] = span.end_line
        region["endColumn"] = max(1, span.end_column)
    return region


def _notification(level: str, message: str, path: str | None = None, line: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"level": level, "message": {"text": message}}
    if path is not None:
        location: dict[str, Any] = {"artifactLocation": _artifact(path)}
        if line:
            location["region"] = {"startLine": line}
        out["locations"] = [{"physicalLocation": location}]
    return out


def _pascal(name: str) -> str:
    """``normalize-removed`` -> ``NormalizeRemoved``: SARIF viewers show names as identifiers."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)
