"""How calls and values read in messages: one renderer for every family."""
from __future__ import annotations

from mldiff.analysis.values import Value, shorten
from mldiff.facts.context import PythonContext
from mldiff.facts.sites import CallSite


def value_text(value: Value | None) -> str:
    return "(not set)" if value is None else shorten(value.code)


def call_code(site: CallSite, width: int = 60) -> str:
    """The call as written, on one line (shortened for messages)."""
    from mldiff.analysis.values import node_code
    return shorten(node_code(site.call.node), width)


def call_label(ctx: PythonContext, site: CallSite) -> str:
    """``Adam`` for an API call, ``model.cuda`` for a method of a local object."""
    call = site.call
    if call.receiver is not None and call.callee.split(".", 1)[0] not in ctx.view(site.side).aliases:
        return call.callee
    return site.short


def display_target(target: str) -> str:
    """``os.environ['PYTHONHASHSEED']`` for the binding target ``os.environ.PYTHONHASHSEED``."""
    for prefix in ("os.environ.", "environ."):
        if target.startswith(prefix):
            return f"{prefix[:-1]}[{target[len(prefix):]!r}]"
    return target


def call_text(site, width: int = 60) -> str:
    """``AdamW(model.parameters(), lr=3e-4)``, ``F.cross_entropy(logits, y)``: a call as a reader knows it."""
    from mldiff.analysis.values import node_code, shorten
    code = node_code(site.call.node)
    arguments = code[code.index("("):] if "(" in code else "(...)"
    qualname = site.qualname
    short = "F." + qualname.rsplit(".", 1)[-1] if qualname.startswith("torch.nn.functional.") else \
        site.short.replace("functional.", "F.")
    return shorten(f"{short}{arguments}", width)
