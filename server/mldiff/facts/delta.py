"""A value whose meaning changed: the fact the value rules of every family report.

Built by ``facts.value_changes`` (Python arguments and bindings) and
``facts.config_values`` (YAML / JSON / TOML settings)."""
from __future__ import annotations

from dataclasses import dataclass

from mldiff.analysis.values import Value, contrast, shorten
from mldiff.findings import Related, Span


@dataclass(frozen=True)
class ValueChange:
    """One value whose meaning changed, with what it is (``subject``) and where it goes."""

    family: str
    topic: str
    subject: str                 # "SGD lr", "learning_rate", "--lr default"
    old: Value | None
    new: Value | None
    span: Span
    base_line: int | None
    related: tuple[Related, ...] = ()
    flow: str = ""               # ", used as Adam lr at line 88"
    kind: str = "argument"       # argument | binding
    name: str = ""               # the parameter ("lr") or the bound name ("args.lr", "cudnn.benchmark")
    origin: str = ""             # the callee's qualified name, or the binding kind (assign, argparse, ...)

    def describe(self) -> str:
        if self.old is not None and self.new is not None:
            old, new = contrast(self.old.code, self.new.code)
            return f"{self.subject} {old} -> {new}{self.flow}"
        if self.new is not None:
            return f"{self.subject} set to {_show(self.new)}{self.flow}"
        return f"{self.subject} {_show(self.old)} removed{self.flow}"


def _show(value: Value | None) -> str:
    if value is None:
        return "(unset)"
    return shorten(value.code, 48)
