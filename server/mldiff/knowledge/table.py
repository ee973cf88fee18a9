"""The shape of the API table's entries (``knowledge/apis.py``, ``knowledge/libraries.py``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Api:
    """One API: its canonical name, role, parameters (positional order) and relations."""

    name: str
    role: str
    params: tuple[str, ...] = ()
    wraps: bool = False            # returns its first argument wrapped (DDP(model), compile(model))
    also: tuple[str, ...] = ()     # families it touches besides its role's (ZeRO: an optimizer, distributed)
    replacement: str | None = None  # the current spelling of a deprecated API


@dataclass(frozen=True)
class RolePattern:
    """APIs of ``role`` recognised by shape: a prefix of the name and a pattern of its last part."""

    role: str
    prefixes: tuple[str, ...]
    last: str                      # regex the last component must match (fullmatch)
    exclude: str = ""              # regex of whole names that are not of this role
