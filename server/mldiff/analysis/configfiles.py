"""Hyperparameters in YAML / JSON / TOML configs: flatten both sides to dotted key paths,
compare values, classify changed keys by name.

``optimizer.lr: 1e-3 -> 1e-2`` is classified (``facts.config_values`` turns it into a ``ValueChange``) by the
last key (``lr``), so ML301 and every other family's value rule report config files the
way they report Python constants. Comments, formatting, key order and spellings of the
same number (``0.001`` / ``1e-3`` / ``1.0e-3``) produce nothing; a key that moved to
another section with the same value is a restructuring, not a change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mldiff.analysis.configtree import Node
from mldiff.analysis.values import shorten
from mldiff.findings import Span
from mldiff.knowledge.names import classify_in_section, classify_name

MAX_CONFIG_CHARS = 2_000_000   # larger JSON/YAML files are data (labels, results), not configs
MAX_LIST_OF_MAPS = 32          # a longer list of mappings is data (annotations, records)
# Keys that name the class a section builds: ``optimizer: {_target_: torch.optim.AdamW}``.
CLASS_KEYS = frozenset({"_target_", "class_path", "type", "name", "class", "cls", "target"})
# Sections that log what happened during a run (HF trainer_state.json's log_history).
LOG_KEYS = frozenset({"metrics", "log_history", "history", "train_info", "eval_info"})
# Keys that name a choice only when their value is a string: ``loss: 3.2`` is a logged metric.
_STRING_ONLY_KEYS = frozenset({"loss", "criterion", "loss_fn"})
# A value the framework fills in at run time (DeepSpeed / Accelerate configs): appearing or
# disappearing says nothing; a change from a number to "auto" still does.
AUTO = "auto"
# Keys whose value tells the items of a list of mappings apart better than their position.
_IDENTITY_KEYS = ("name", "id", "key", "_target_", "class_path", "type", "module", "layer")


@dataclass(frozen=True)
class Leaf:
    """One setting: its dotted path, last key, enclosing key, value and where it is written."""

    path: str          # "optimizer.lr", "param_groups[name=head].lr"
    key: str           # "lr"
    parent: str        # "optimizer" ("" at top level)
    value: Any         # as compared (see ``comparable``)
    written: str       # for messages
    span: Span
    keys: tuple[str, ...] = ()   # mapping keys along the path (and keys naming list items)


def leaves(documents: list) -> list[Leaf]:
    """Every setting of every document (documents after the first are prefixed ``1:``, ...).
    A document is a ``Node`` tree (positions) or a plain parsed value (no positions: values
    are compared first, and only what changed is looked up in a positioned parse)."""
    out: list[Leaf] = []
    for number, document in enumerate(documents):
        prefix = f"{number}:" if number else ""
        out.extend(_walk(document, prefix, "", "", ()))
    return out


_NOWHERE = Span(1, 1, 1, 1)


def _kind(item: Any) -> str:
    if isinstance(item, Node):
        return item.kind
    return "map" if isinstance(item, dict) else "list" if isinstance(item, list) else "scalar"


def _entries(item: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(item, Node):
        return item.items
    return item.items() if isinstance(item, dict) else enumerate(item)


def _scalar(item: Any) -> tuple[Any, str, Span]:
    if isinstance(item, Node):
        return item.value, item.written, item.span
    return item, str(item), _NOWHERE


def _walk(node: Any, path: str, key: str, parent: str, keys: tuple[str, ...]) -> Iterator[Leaf]:
    kind = _kind(node)
    if kind == "scalar":
        value, written, span = _scalar(node)
        yield Leaf(path, key, parent, comparable(value), written, span, keys)
        return
    if kind == "map":
        for item_key, child in _entries(node):
            name = str(item_key)
            if name in LOG_KEYS and _kind(child) != "scalar":
                continue
            yield from _walk(child, f"{path}.{name}" if path else name, name, key, keys + (name,))
        return
    children = [child for _, child in _entries(node)]
    if all(_kind(child) == "scalar" for child in children):
        scalars = [_scalar(child) for child in children]
        written = "[" + ", ".join(written for _, written, _ in scalars) + "]"
        span = node.span if isinstance(node, Node) else _NOWHERE
        yield Leaf(path, key, parent, [comparable(v) for v, _, _ in scalars], shorten(written, 60), span, keys)
        return
    maps = [child for child in children if _kind(child) == "map"]
    if len(maps) == len(children) and len(maps) > MAX_LIST_OF_MAPS:
        return  # records, not settings
    labels = _identities(children)
    for index, child in enumerate(children):
        label = labels[index]
        item_keys = keys + (label.split("=", 1)[0],) if "=" in label else keys
        yield from _walk(child, f"{path}[{label}]", key, parent, item_keys)


def _identities(children: list) -> list[str]:
    """``name=backbone`` for each item when the items carry a unique name-like key, else
    their positions: inserting a parameter group does not renumber the others."""
    if children and all(_kind(child) == "map" for child in children):
        for identity in _IDENTITY_KEYS:
            values = []
            for child in children:
                item = child.get(identity)
                if item is None or _kind(item) != "scalar":
                    break
                value = _scalar(item)[0]
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    break
                values.append(str(value))
            else:
                if len(set(values)) == len(values):
                    return [f"{identity}={value}" for value in values]
    return [str(i) for i in range(len(children))]


def classify(leaf: Leaf) -> tuple[str, str] | None:
    """(family, topic) of a setting, by its key; a class-naming key (``type``,
    ``_target_``) is classified by the section it builds (``optimizer.type: AdamW``)."""

    key = leaf.key.replace("-", "_")
    if not key:
        return None
    if leaf.key in CLASS_KEYS and leaf.parent and isinstance(leaf.value, str):
        role = classify_name(leaf.parent.replace("-", "_"), leaf.value)
        if role is not None:
            return role
        if leaf.key in ("name", "type"):
            return None   # wandb.name, dataset.type: a label, not a setting
    if key.lower() in _STRING_ONLY_KEYS and not isinstance(leaf.value, str):
        return None
    role = classify_name(key, leaf.value)
    if role is None and leaf.parent and leaf.key not in CLASS_KEYS and not isinstance(leaf.value, (dict, list)):
        role = classify_in_section(leaf.parent, key)
    return role










_SETTINGS_CACHE: dict[tuple[str, str], dict[str, Leaf]] = {}


def settings(kind: str, text: str, documents: list) -> dict[str, Leaf]:
    """A side's settings by path, cached by text: the language server re-analyses a buffer
    on every keystroke against the same base."""
    key = (kind, text)
    hit = _SETTINGS_CACHE.get(key)
    if hit is None:
        hit = _by_path(leaves(documents))
        if len(_SETTINGS_CACHE) >= 16:
            _SETTINGS_CACHE.pop(next(iter(_SETTINGS_CACHE)))
        _SETTINGS_CACHE[key] = hit
    return hit


def _by_path(items: Iterable[Leaf]) -> dict[str, Leaf]:
    out: dict[str, Leaf] = {}
    for leaf in items:
        out[leaf.path] = leaf
    return out


_NUMBER = re.compile(r"[+-]?(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|nan)", re.I)


def comparable(value: Any) -> Any:
    """A config value as compared: ``"1e-3"`` (YAML 1.1 reads it as a string) equals ``0.001``,
    and ``"(false, false)"`` (a tuple written as a string) equals ``[false, false]``."""
    if isinstance(value, str) and len(value) < 200 and re.fullmatch(r"\s*[(\[].*[)\]]\s*", value):
        import yaml
        try:
            parsed = yaml.safe_load("[" + value.strip()[1:-1] + "]")
        except yaml.YAMLError:
            parsed = None
        if isinstance(parsed, list):
            return [comparable(v) for v in parsed]
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return value
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?[\d_]+", value.strip()) else number
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value
