"""``mldiff explain CODE``: a rule's documentation and examples."""
from __future__ import annotations

import textwrap

from mldiff.errors import MldiffError


def add_parser(sub) -> None:
    parser = sub.add_parser("explain", help="show a rule's documentation")
    parser.add_argument("code", help="rule code (ML201) or name (normalize-transform)")
    parser.set_defaults(run=run)


def find_rule(code: str):
    from mldiff.rules.base import all_rules
    wanted = code.strip()
    for rule in all_rules():
        if rule.code.lower() == wanted.lower() or rule.name == wanted:
            return rule
    raise MldiffError(f"no rule {code!r}; `mldiff rules` lists them")


def run(args) -> int:
    rule = find_rule(args.code)
    print(f"{rule.code} {rule.name} [{rule.family}] default severity: {rule.severity}")
    print()
    print(rule.summary)
    print()
    print(rule.documentation())
    fires = [e for e in rule.examples if e.expect]
    if fires:
        example = fires[0]
        print("\nExample\n-------\nbefore:")
        print(textwrap.indent((example.before or "(no file: it is new)").rstrip("\n"), "    "))
        print("after:")
        print(textwrap.indent(example.after.rstrip("\n"), "    "))
        for expect in example.expect:
            print(f"reports at line {expect.line}: ...{expect.message}...")
    return 0
