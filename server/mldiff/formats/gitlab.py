"""``--format gitlab``: a GitLab Code Quality report (a JSON array of Code Climate issues).

Each finding is one issue with the fields GitLab reads: ``description``, ``check_name``
(the rule code), ``fingerprint``, ``severity`` (``error`` -> ``critical``, ``warning`` ->
``major``, ``information`` -> ``minor``, ``hint`` -> ``info``) and ``location.path`` /
``location.lines.begin`` (head side); ``type`` and ``categories`` make it a Code Climate
issue as well. GitLab compares the fingerprints of the merge request's report with the
target branch's, so they leave the line out (as SARIF's do): an issue keeps its
fingerprint when lines above it move, and identical findings in one file are told apart
by an occurrence count. Everything else the JSON contract has for a finding (family,
before, after, base_line, columns, related, notebook cells...) rides along under
``mldiff``, keys passed through as they come. Files that could not be analysed, notes and
the summary go to stderr: stdout is the report file.
"""
from __future__ import annotations

import json
from typing import Any, TextIO

SEVERITIES = {"error": "critical", "warning": "major", "information": "minor", "hint": "info"}
_MAPPED = ("path", "code", "message")


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    from mldiff.formats.text import write_side
    json.dump(report(result), out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()
    write_side(result, err, color=err_color)


def report(result) -> list[dict[str, Any]]:
    """The Code Quality issues for a ``CheckResult``, in the result's order."""
    from mldiff.formats.sarif import fingerprint
    occurrences: dict[tuple[str, str, str], int] = {}
    issues = []
    for finding in result.findings:
        key = (finding.path, finding.code, finding.message)
        occurrences[key] = occurrences.get(key, 0) + 1
        data = finding.to_json()
        lines = {"begin": finding.span.line}
        if finding.span.end_line > finding.span.line:
            lines["end"] = finding.span.end_line
        issues.append({
            "type": "issue",
            "check_name": finding.code,
            "description": f"{finding.code} [{finding.family}] {finding.message}",
            "categories": ["Bug Risk"],
            "severity": SEVERITIES[finding.severity],
            "fingerprint": fingerprint(finding.path, finding.code, finding.message, occurrences[key]),
            "location": {"path": finding.path, "lines": lines},
            "mldiff": {name: value for name, value in data.items() if name not in _MAPPED},
        })
    return issues
