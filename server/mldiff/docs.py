"""Render docs/rules.md from the rule classes, so the reference cannot drift from the code.

``python -m mldiff.docs`` rewrites docs/rules.md; a test fails when the file is stale.
"""
from __future__ import annotations

import sys
from pathlib import Path

from mldiff.families import FAMILIES, FAMILY_NUMBERS

RULES_URL = "https://github.com/mldiff/mldiff/blob/main/docs/rules.md"


def anchor(code: str) -> str:
    """The heading anchor of a rule in docs/rules.md (GitHub style)."""
    return code.lower()


def rule_url(code: str) -> str:
    return f"{RULES_URL}#{anchor(code)}"


def _generic_section() -> str:
    """The generic rule's module docstring, its first line left out, as Markdown."""
    import inspect

    from mldiff.rules import generic
    text = inspect.cleandoc(generic.__doc__ or "").split("\n", 1)[1].strip()
    return text.replace("``", "`")


def render() -> str:
    from mldiff.rules.base import all_rules
    rules = all_rules()
    out = [
        "# Rules reference",
        "",
        "Generated from the rule classes by `python -m mldiff.docs`; do not edit by hand.",
        "",
        "Every finding belongs to one family. Codes are `ML` + the family's number + two digits "
        "(`ML201` is a normalization rule). Select or ignore rules by code, code prefix or family "
        "(`--select normalization`, `[tool.mldiff] ignore = [\"ML1102\"]`); a code prefix is a plain "
        "string prefix, so `ML1` also matches `ML10xx`-`ML13xx`: use family names to be exact. "
        "Suppress a finding on its line with `# mldiff: ignore[ML201]` or `# mldiff: ignore`.",
        "",
        "| code | family | severity | rule | what it reports |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in rules:
        out.append(f"| [{rule.code}](#{anchor(rule.code)}) | {rule.family} | {rule.severity} | "
                   f"`{rule.name}` | {rule.summary} |")
    out += ["", "## The generic rules (ML199 ... ML1299)", "", _generic_section()]
    for family, description in FAMILIES.items():
        family_rules = [r for r in rules if r.family == family]
        out += ["", f"## {family} (ML{FAMILY_NUMBERS[family]}xx)", "", description[0].upper() + description[1:] + "."]
        for rule in family_rules:
            out += ["", f"### {rule.code}", "", f"**{rule.name}** · default severity `{rule.severity}` · "
                    f"{rule.summary}", "", rule.documentation()]
            example = next((e for e in rule.examples if e.expect and not e.path.endswith(".ipynb")), None)
            if example is not None:
                language = "python" if example.path.endswith(".py") else ""
                out += ["", f"Example (`{example.path}`), before:", "", f"```{language}",
                        (example.before or "(no file: it is new)").rstrip("\n"), "```", "", "after:", "",
                        f"```{language}",
                        example.after.rstrip("\n"), "```", ""]
                for expect in example.expect:
                    if (expect.code or rule.code) == rule.code:
                        out.append(f"reports at line {expect.line}: `…{expect.message}…`")
            silent = next((e for e in rule.examples if not e.expect and e.note), None)
            if silent is not None:
                out += ["", f"Stays silent when: {silent.note}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    text = render()
    if argv and argv[0] == "--check":
        return 0 if target.exists() and target.read_text(encoding="utf-8") == text else 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.name} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
