"""How calls and values read in messages: one renderer for every family."""
from __future__ import annotations

from mldiff.analysis.values import Value, node_code, shorten
from mldiff.facts.context import PythonContext
from mldiff.facts.sites import CallSite


def value_text(value: Value | None) -> str:
    return "(not set)" if value is None else shorten(value.code)


# How ``render_call`` names the call.
WRITTEN, API, READER, TORCH = "written", "api", "reader", "torch"


def render_call(site: CallSite, style: str = WRITTEN, width: int | None = 60) -> str:
    """A call as a message shows it, cut to ``width`` characters (None: whole). ``style``:
    ``written``: as in the code (``optim.AdamW(params, lr=3e-4)``);
    ``api``: the API's short name (``AdamW(...)``, ``transforms.Normalize(...)``, ``functional.normalize(...)``);
    ``reader``: as a reader knows it, functional APIs as ``F.`` (``F.cross_entropy(logits, y)``);
    ``torch``: ``reader`` with torch's layer classes as ``nn.`` (a file's own ``LayerNorm`` and torch's stay apart)."""
    code = node_code(site.call.node)
    if style == WRITTEN:
        return shorten(code, width) if width is not None else code
    if style == "torch":
        text = render_call(site, READER, width)
        qualname = site.qualname
        return "nn." + text if qualname.startswith("torch.nn.") and not qualname.startswith("torch.nn.functional.") \
            else text
    arguments = code[code.index("("):] if "(" in code else "(...)"
    name = site.short
    if style == READER:
        name = "F." + site.qualname.rsplit(".", 1)[-1] if site.qualname.startswith("torch.nn.functional.") else \
            name.replace("functional.", "F.")
    text = f"{name}{arguments}"
    return shorten(text, width) if width is not None else text


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
