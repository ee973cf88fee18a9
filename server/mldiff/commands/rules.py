"""``mldiff rules``: the table of rules (code, family, severity, summary)."""
from __future__ import annotations

import json


def add_parser(sub) -> None:
    parser = sub.add_parser("rules", help="list every rule")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mldiff.rules.base import all_rules
    rules = all_rules()
    if args.format == "json":
        print(json.dumps([{"code": r.code, "name": r.name, "family": r.family, "severity": r.severity,
                           "summary": r.summary} for r in rules], indent=2))
        return 0
    width = max(len(r.name) for r in rules)
    family_width = max(len(r.family) for r in rules)
    for r in rules:
        print(f"{r.code:<7} {r.family:<{family_width}}  {r.severity:<11} {r.name:<{width}}  {r.summary}")
    return 0
