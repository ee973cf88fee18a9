"""What an environment file says: container base images, package pins, wheel indexes.

The model the environment readers (``dockerfiles``, ``requirements``) fill in and the
environment rules compare; each entry keeps the span it was read from."""
from __future__ import annotations

from dataclasses import dataclass, field

from mldiff.findings import Span


@dataclass(frozen=True)
class Variable:
    """A Dockerfile ARG/ENV (or build arg) a value was substituted from."""

    name: str
    value: str
    span: Span


@dataclass(frozen=True)
class Image:
    """A container base image: a Dockerfile stage's ``FROM``, devcontainer ``image``,
    compose ``image:``, or a build argument that feeds one."""

    slot: str                     # what it is the image of: "stage builder", "service web", "image"
    ref: str                      # resolved reference, ARGs substituted
    written: str                  # as written
    span: Span
    via: tuple[Variable, ...] = ()
    is_build_arg: bool = False


@dataclass(frozen=True)
class Pin:
    """One package requirement: ``torch>=2.0``, ``pytorch-cuda=11.8``, poetry ``torch = "^2.1"``."""

    name: str                     # normalized: lowercase, "-" for "_" and "."
    display: str                  # as written
    spec: str                     # normalized version constraint ("" when unpinned), or "@ URL"
    written: str                  # the requirement as written
    span: Span
    group: str = ""               # "optional-dependencies.cuda", "conda", "conda pip", "RUN pip install"
    manager: str = "pip"          # "pip" or "conda"
    variant: str = ""             # compute variant: "cu118", "rocm5.7", "cpu" (local version, build string)
    via: tuple[Variable, ...] = ()


@dataclass(frozen=True)
class WheelIndex:
    """Where packages come from: an index or find-links URL, a conda channel, a uv/poetry source."""

    url: str
    option: str                   # "--extra-index-url", "conda channel", "tool.uv.index", ...
    span: Span
    via: tuple[Variable, ...] = ()


@dataclass
class Environment:
    images: list[Image] = field(default_factory=list)
    pins: list[Pin] = field(default_factory=list)
    indexes: list[WheelIndex] = field(default_factory=list)
