"""Changed hyperparameters of a YAML / JSON / TOML config, as ``ValueChange`` entries.

``optimizer.lr: 1e-3 -> 1e-2`` is classified by its last key (``lr``), so ML301 and every
other family's value rule report config files the way they report Python constants.
Comments, formatting, key order and spellings of the same number produce nothing; a key
that moved to another section with the same value is a restructuring, not a change."""
from __future__ import annotations

from typing import Any, cast

from mldiff.analysis.configfiles import AUTO, MAX_CONFIG_CHARS, Leaf, _by_path, classify, leaves, settings
from mldiff.analysis.textfiles import TextChange
from mldiff.analysis.values import Value
from mldiff.facts.delta import ValueChange


def config_value_changes(change: TextChange) -> list[ValueChange]:
    """Changed, added and removed settings whose key has a role, head-side spans.

    Values are compared first, from the fast parsers; positions are read (a slower parse)
    only for a side that has something to report."""

    if change.base_text is None or change.head_text is None:
        return []   # a whole config added or deleted is a new setup, not a changed one
    if max(len(change.base_text), len(change.head_text)) > MAX_CONFIG_CHARS:
        return []
    base_documents, head_documents = change.documents("base"), change.documents("head")
    if not base_documents or not head_documents:
        return []   # one side does not parse: reported as a parse error, nothing to compare
    base = settings(change.kind, change.base_text, base_documents)
    head = settings(change.kind, change.head_text, head_documents)
    pairs = _changed_pairs(base, head)
    if not pairs:
        return []
    keys = frozenset(part for old, new, _ in pairs for leaf in (old, new) if leaf is not None
                     for part in leaf.keys)
    positioned = {side: _by_path(leaves(change.positioned(side, keys)))
                  for side in ("base", "head") if any(pair[side == "head"] is not None for pair in pairs)}

    def located(leaf: Leaf | None, side: str) -> Leaf | None:
        return None if leaf is None else positioned.get(side, {}).get(leaf.path, leaf)

    out: list[ValueChange] = []
    seen: set[tuple] = set()
    for old, new, role in pairs:
        old, new = located(old, "base"), located(new, "head")
        span = new.span if new is not None else change.head_anchor(cast(Leaf, old).span.line)  # one side is set
        key = (span.line, span.column, repr(old.value) if old else None, repr(new.value) if new else None)
        if key in seen:   # a YAML anchor feeding several keys: report it once, where it is written
            continue
        seen.add(key)
        out.append(ValueChange(role[0], role[1], cast(Leaf, new or old).path, _value(old) if old else None,
                               _value(new) if new else None, span,
                               old.span.line if old is not None else None, kind="config"))
    out.sort(key=lambda c: (c.span.line, c.span.column))
    return out


def _changed_pairs(base: dict[str, Leaf], head: dict[str, Leaf]) -> list[tuple[Leaf | None, Leaf | None, tuple]]:
    """(old, new, role) of every setting with a role whose value changed, appeared or went."""
    added = [leaf for path, leaf in head.items() if path not in base]
    removed = [leaf for path, leaf in base.items() if path not in head]
    moved_in, moved_out = _moves(removed, added)
    out: list[tuple[Leaf | None, Leaf | None, tuple]] = []
    candidates: list[tuple[Leaf | None, Leaf | None]] = [(base.get(path), new) for path, new in head.items()]
    candidates += [(old, None) for old in removed]
    for old, new in candidates:
        if old is not None and new is not None and same_value(old.value, new.value):
            continue
        if (new is not None and id(new) in moved_in) or (new is None and id(old) in moved_out):
            continue
        if (old is None or new is None) and (cast(Leaf, new or old).value == AUTO or
                                             cast(Leaf, new or old).value is None):
            continue  # a key added or removed as null / "auto" leaves the reader's default
        role = (classify(new) if new is not None else None) or (classify(old) if old is not None else None)
        if role is not None:
            out.append((old, new, role))
    return out


def same_value(old: Any, new: Any) -> bool:
    from mldiff.analysis.values import _literal_equal
    if isinstance(old, float) and isinstance(new, float) and old != old and new != new:
        return True   # NaN
    return _literal_equal(old, new)


def _value(leaf: Leaf) -> Value:
    return Value(code=leaf.written, key=repr(leaf.value), literal=leaf.value)


def _moves(removed: list[Leaf], added: list[Leaf]) -> tuple[set[int], set[int]]:
    """Settings that left one section and arrived in another with the same key and value,
    or were renamed in place keeping their value and role (``learning_rate`` -> ``lr``)."""
    moved_in: set[int] = set()
    moved_out: set[int] = set()
    waiting = list(removed)
    for new in added:
        for old in waiting:
            if not same_value(old.value, new.value):
                continue
            renamed = _section(old.path) == _section(new.path) and classify(old) is not None \
                and classify(old) == classify(new)
            if old.key == new.key or renamed:
                moved_in.add(id(new))
                moved_out.add(id(old))
                waiting.remove(old)
                break
    return moved_in, moved_out


def _section(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""
