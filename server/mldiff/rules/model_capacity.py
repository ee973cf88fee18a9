"""model_capacity: layers, width, heads, context length, architecture."""
from __future__ import annotations

import re
from typing import Iterator

from mldiff.analysis.values import NOT_LITERAL, Value
from mldiff.facts.anchors import base_line, site_span
from mldiff.facts.context import Context, PythonContext, view_fact
from mldiff.facts.equivalence import resolve_literal, same_after_resolving
from mldiff.facts.pairing import CallChange, assigned_key, call_changes, pair
from mldiff.facts.render import render_call, value_text
from mldiff.facts.sites import CallSite, call_sites, renamed
from mldiff.findings import Finding
from mldiff.knowledge import apis
from mldiff.knowledge.arguments import argument_role
from mldiff.knowledge.names import classify_name
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_call_changes
from mldiff.rules.values import SettingRule

# Names that hold a model (or a part of one) when assigned a constructor call.
MODEL_NAME = re.compile(r"(?:model|net|network|backbone|encoder|decoder|generator|discriminator|classifier|"
                        r"teacher|student|\w+_model|model_(?:ema|without_ddp|engine)|\w+_net|\w*net|net_[gd]|"
                        r"net[gd])$")
_NOT_CONSTRUCTORS = frozenset({"torch.load", "copy.deepcopy", "deepcopy", "torch.jit.load", "torch.nn.DataParallel",
                               "dict", "list", "tuple", "getattr", "partial", "functools.partial", "type", "super"})
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "Parameter", "ParameterList", "ParameterDict",
                         "Module", "Buffer", "Identity"})
_LAYER_ARGUMENTS_IGNORED = frozenset({"inplace", "device", "dtype", "#0"})
_WRAPPERS = apis.DISTRIBUTED_WRAPPERS | {"torch.nn.DataParallel", "torch.nn.parallel.DistributedDataParallel"}
_FACTORIES = frozenset({"create_model", "get_model", "from_pretrained", "from_config", "build_model"})
_LOADED_NOT_MODELS = frozenset({"noise_scheduler", "preprocessor"})
# Calls whose size keywords are model sizes: configs and model classes, not loaders or image tools.
_CONFIG_CALL = re.compile(r"(?:Config|Cfg|Args|Arguments|Params|Transformer|GPT|ViT|Net|Model|Encoder|Decoder)$|"
                          r"^(?:create_model|build_model|get_model|from_pretrained|_create_\w+)$")
_OTHER_FAMILIES = re.compile(r"Norm|Drop|Loss")
_COMPOSITE = re.compile(r"Conv|Linear|Attention|Attn|Mlp|Block|Embed")  # Conv2dNorm is a conv, not a norm
_CLASS_LINE = re.compile(r"^[ \t]*class[ \t]+\w+", re.M)


def is_model_name(target: str) -> bool:
    """``model``, ``self.net``, ``netG``, ``backbone``, ``ema_model``: a name that holds a model."""
    return bool(MODEL_NAME.match(target.rsplit(".", 1)[-1].lower()))


def _assigned_target(view, site: CallSite) -> str | None:
    """The name a call's result is bound to (``model`` in ``model = Net()``)."""
    table: dict[int, dict[int, str]] = view_fact(view, "call_targets", dict)  # per line: call node id -> bound name
    if site.index not in table:
        table[site.index] = {id(b.value.node): b.target for b in view.facts(site.index).bindings
                             if b.value is not None}
    return table[site.index].get(id(site.call.node))


class ModelSizeChanged(SettingRule, Rule):
    """The model's size changed: number of layers, heads, width / embedding size, context length
    (block size), vocabulary size, MLP ratio, a layer's in/out features or channels, or a model
    config's size argument (``GPTConfig(n_layer=12)``).

    Size changes the parameter count, memory, speed and what a checkpoint fits: a checkpoint saved
    before no longer loads, learning rate and warmup tuned for one width may not suit another, and
    a longer context costs quadratic attention memory. Check that checkpoints, positional
    embeddings and the batch size still fit.
    """

    code = "ML1101"
    family = "model_capacity"
    name = "model-size"
    summary = "Layers, heads, width, context length, vocab size or a layer's size changed"
    topics = ("size",)
    examples = (
        Example(
            before="n_layer = 4\nn_head = 4\nn_embd = 128\n",
            after="n_layer = 6\nn_head = 4\nn_embd = 384\n",
            expect=(Expect(1, "n_layer 4 -> 6"), Expect(3, "n_embd 128 -> 384")),
        ),
        Example(
            before="batch_size = 32\nblock_size = 512 # context\n",
            after="batch_size = 32\nblock_size = 1024 # context\n",
            expect=(Expect(2, "block_size 512 -> 1024"),),
        ),
        Example(
            before="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                   "        super().__init__()\n        self.fc = nn.Linear(512, 10)\n",
            after="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.fc = nn.Linear(512, 100)\n",
            expect=(Expect(5, "Linear out_features 10 -> 100"),),
        ),
        Example(
            before="config = GPTConfig(n_layer=12, n_head=12, n_embd=768)\n",
            after="config = GPTConfig(n_layer=24, n_head=12, n_embd=768)\n",
            expect=(Expect(1, "GPTConfig n_layer 12 -> 24"),),
        ),
        Example(  # a comment on the line corrected, the value unchanged
            before="block_size = 256 # context of up to 128 previous characters\n",
            after="block_size = 256 # context of up to 256 previous characters\n",
        ),
        Example(  # per-shard bookkeeping derived from the real head count is not a size setting
            before="attn.n_heads = attn.n_heads // tp_mesh.size()\nparallelize(attn)\n",
            after="parallelize(attn)\n",
        ),
        Example(  # the same size read from a constant instead of a literal
            before="import torch.nn as nn\nfc = nn.Linear(512, 10)\n",
            after="import torch.nn as nn\nNUM_CLASSES = 10\nfc = nn.Linear(512, NUM_CLASSES)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change) -> bool:
        if value_change.kind == "binding" and any(_builds_modules(v) for v in (value_change.old, value_change.new)):
            return False  # `self.convs = nn.ModuleList([...])` is layers, not a size
        return super().accepts(ctx, value_change)

    def severity_for(self, ctx: Context, value_change):
        """A size computed from other values on both sides (``dicts['words'].size()`` ->
        ``dicts.size()``) may well be the same number: information, not a warning."""
        if isinstance(ctx, PythonContext) and value_change.old is not None and value_change.new is not None \
                and resolve_literal(ctx.base, value_change.old) is NOT_LITERAL \
                and resolve_literal(ctx.head, value_change.new) is NOT_LITERAL:
            return "information"
        return super().severity_for(ctx, value_change)

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        yield from self._config_arguments(ctx)

    def _config_arguments(self, ctx: PythonContext):
        """Size keywords of calls the API table does not know: ``GPTConfig(n_layer=...)``,
        ``VisionTransformer(depth=..., embed_dim=...)``."""
        def unknown(qualname, call, view) -> bool:
            if apis.parameters(qualname) or not _CONFIG_CALL.search(qualname.rsplit(".", 1)[-1]):
                return False
            return any(classify_name(k) == ("model_capacity", "size") for k, _ in call.kwargs)

        base = call_sites(ctx, "base", unknown)
        head = call_sites(ctx, "head", unknown)
        key = lambda site: (site.qualname, ctx.view(site.side).scope_names(site.index))  # noqa: E731
        for b, h in pair(base, head, key, lambda b, h: not _size_kwargs_changed(ctx, b, h)):
            if b is None or h is None:
                continue
            for name, old, new in _size_kwargs_changed(ctx, b, h):
                yield self.report(ctx, ctx.head.span(h.index, new.node if new is not None else h.call.node),
                                  f"{h.short} {name} {value_text(old)} -> {value_text(new)}",
                                  base_line=base_line(ctx, b), before=old.code if old else None,
                                  after=new.code if new else None)


def _size_kwargs_changed(ctx: PythonContext, base: CallSite,
                         head: CallSite) -> list[tuple[str, Value | None, Value | None]]:
    before = {k: v for k, v in base.call.kwargs if classify_name(k) == ("model_capacity", "size")}
    after = {k: v for k, v in head.call.kwargs if classify_name(k) == ("model_capacity", "size")}
    out: list[tuple[str, Value | None, Value | None]] = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            continue  # a keyword added or dropped falls back to a default we do not know
        if old.same_as(new, ctx.renames) or same_after_resolving(ctx, old, new):
            continue
        out.append((name, old, new))
    return out


def _is_model_constructor(qualname: str, call, view) -> bool:
    """A call that builds a model (not ``model.to(device)``, ``DDP(model)``, ``torch.compile(model)``
    or ``torch.load``): a class or factory, by plain name or through an imported module."""
    if qualname in _NOT_CONSTRUCTORS or qualname in apis.COMPILE or qualname in apis.DISTRIBUTED_WRAPPERS:
        return False
    if qualname.startswith("torch.nn."):
        return False  # layers and nn.Sequential(...): compared layer by layer
    if "[" in call.callee:
        return call.callee.startswith(("models.__dict__[", "models["))
    if "(" in call.callee:
        return False
    first = call.args[0].node if call.args else None
    if first is not None and first.__class__.__name__ == "Name" and is_model_name(first.value):
        return False  # model = convert_sync_batchnorm(model): a transform of a model, not a new one
    root = call.callee.split(".", 1)[0]
    return call.receiver is None or root in view.aliases  # not a method of an object: model.half()


def _layer_classes(view) -> frozenset[str]:
    """Classes of this file that are modules: ``class Block(nn.Module)``, ``class Stem(nn.Sequential)``,
    and classes built on those (``class Bottleneck(Block)``)."""
    bases_of: dict[str, tuple[str, ...]] = {}
    for index in view._lines_matching(_CLASS_LINE):
        facts = view.facts(index)
        if facts.def_name:
            bases_of[facts.def_name] = facts.bases
    out: set[str] = set()
    grew = True
    while grew:
        grew = False
        for name, bases in bases_of.items():
            if name not in out and any(b in out or b.endswith("Module") or
                                       apis.canonical(view.resolve(b)).startswith("torch.nn.") for b in bases):
                out.add(name)
                grew = True
    return frozenset(out)


class ArchitectureChanged(SettingRule, Rule):
    """The architecture changed: another model class or factory (``ResNet18()`` -> ``SimpleDLA()``,
    ``create_model('resnet50')`` -> ``create_model('vit_base_patch16_224')``), another ``arch`` /
    ``model_name`` choice, or layers added, removed or swapped in an existing model definition
    (``nn.ReLU`` -> ``nn.GELU``, a new ``nn.Conv2d`` in ``__init__``, a kernel size or stride).

    A different architecture changes everything downstream: parameter count, what a checkpoint
    loads into, the learning rate and regularization that suit it, and the meaning of any
    comparison with earlier runs. Check that checkpoints, pretrained weights and input sizes
    still match, and compare against a baseline of the same architecture.
    """

    code = "ML1102"
    family = "model_capacity"
    name = "architecture"
    summary = "Model class or factory swapped, arch choice changed, or layers added / removed / swapped"
    topics = ("architecture",)
    examples = (
        Example(
            before="from models import *\n# net = SimpleDLA()\nnet = ResNet18()\nnet = net.to(device)\n",
            after="from models import *\n# net = ResNet18()\nnet = SimpleDLA()\nnet = net.to(device)\n",
            expect=(Expect(3, "model changed: ResNet18() -> SimpleDLA()"),),
        ),
        Example(
            before="import timm\nmodel = timm.create_model('resnet50', pretrained=True)\n",
            after="import timm\nmodel = timm.create_model('vit_base_patch16_224', pretrained=True)\n",
            expect=(Expect(2, "model changed: timm.create_model('resnet50', pretrained=True) -> "),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--arch', default='resnet18')\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--arch', default='resnet50')\n",
            expect=(Expect(3, "--arch default 'resnet18' -> 'resnet50'"),),
        ),
        Example(
            before="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                   "        super().__init__()\n        self.conv = nn.Conv2d(1, 32, 3)\n        self.act = nn.ReLU()\n",
            after="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.conv = nn.Conv2d(1, 32, 5)\n        self.act = nn.GELU()\n",
            expect=(Expect(5, "Conv2d kernel_size 3 -> 5"), Expect(6, "layer changed: nn.ReLU() -> nn.GELU()")),
        ),
        Example(
            before="import torch.nn as nn\nmodel = nn.Sequential(\n    nn.Linear(784, 128),\n    nn.ReLU(),\n"
                   "    nn.Linear(128, 10),\n)\n",
            after="import torch.nn as nn\nmodel = nn.Sequential(\n    nn.Linear(784, 128),\n    nn.ReLU(),\n"
                  "    nn.Linear(128, 128),\n    nn.ReLU(),\n    nn.Linear(128, 10),\n)\n",
            expect=(Expect(5, "layer added: nn.Linear(128, 128), nn.ReLU()"),),
        ),
        Example(  # the model moved to the device another way: no architecture change
            before="model = Net()\nmodel = model.cuda()\n",
            after="model = Net()\nmodel = model.to(device)\n",
        ),
        Example(  # a new model class added to a library is no change of an existing model
            before="import torch.nn as nn\n",
            after="import torch.nn as nn\nclass Tiny(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.fc = nn.Linear(4, 2)\n",
        ),
        Example(  # inplace=True changes memory, not the architecture
            before="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                   "        super().__init__()\n        self.act = nn.ReLU()\n",
            after="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.act = nn.ReLU(inplace=True)\n",
        ),
        Example(  # the same model built by the same call, renamed variable
            before="net = ResNet18()\nnet.train()\n",
            after="model = ResNet18()\nmodel.train()\n",
        ),
        Example(  # device/dtype keywords threaded through every layer
            before="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, dim):\n        super().__init__()\n"
                   "        self.fc = nn.Linear(dim, dim)\n",
            after="import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, dim, device=None):\n"
                  "        super().__init__()\n        dd = {'device': device}\n        self.fc = nn.Linear(dim, dim, **dd)\n",
        ),
        Example(  # converting the model's BatchNorm layers transforms it; it does not build another
            before="import torch\nmodel = convert_syncbn_model(model)\n",
            after="import torch\nmodel = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)\n",
            expect=(Expect(2, "wrapping added: torch.nn.SyncBatchNorm.convert_sync_batchnorm(m", code="ML1202"),),
        ),
    )

    def accepts(self, ctx: Context, value_change) -> bool:
        # `self.model_type = 'Transformer'` records what a model is; settings live outside it
        return super().accepts(ctx, value_change) and not value_change.name.startswith("self.")

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        yield from self._models(ctx)
        yield from self._layers(ctx)

    def _models(self, ctx: PythonContext):
        def builds_a_model(ctx: PythonContext, site: CallSite) -> bool:
            target = _assigned_target(ctx.view(site.side), site)
            if site.call.method in _FACTORIES and "." in site.qualname \
                    and apis.role_of(site.qualname.rsplit(".", 1)[0]) in _LOADED_NOT_MODELS:
                return False  # DDPMScheduler.from_pretrained(...), AutoTokenizer.from_pretrained(...)
            return site.call.method in _FACTORIES or (target is not None and is_model_name(target))

        def same_place(ctx: PythonContext, site: CallSite, name: str) -> object:  # the same name in the same function
            return (ctx.view(site.side).scope_names(site.index), assigned_key(ctx, site, name))

        for item in call_changes(ctx, _is_model_constructor, None, key=same_place, where=builds_a_model):
            if item.kind != "arguments":
                continue  # a model built where none was (or moved into a function) is not a swap
            base, head = item.base_site, item.head_site
            if _registered_under_own_name(ctx, item):
                continue  # def vit_b_224(): _create('vit_b_224') renamed with its function
            same_class = base.qualname.rsplit(".", 1)[-1] == head.qualname.rsplit(".", 1)[-1]
            if same_class and (base.qualname == head.qualname or not item.arguments) and not _names_another_model(item):
                continue  # the same class, imported another way (RNNModel -> model.RNNModel)
            yield self.report(ctx, site_span(ctx, head),
                              f"model changed: {render_call(base, width=48)} -> {render_call(head, width=48)}",
                              base_line=base_line(ctx, base), before=render_call(base), after=render_call(head))

    def _layers(self, ctx: PythonContext):
        local: list[frozenset[str]] = []  # this file's module classes, read only when a call might be one

        def layer(qualname, call, view) -> bool:
            last = qualname.rsplit(".", 1)[-1]
            if (_OTHER_FAMILIES.search(last) and not _COMPOSITE.search(last)) or not (
                    last[:1].isupper() or _LAYER_PARAMETER.search(last)):
                return False  # a home-made LayerNorm or DropPath is theirs
            if qualname.startswith("torch.nn."):
                return qualname.count(".") == 2 and not (
                    last in _CONTAINERS or apis.is_norm_layer(qualname) or apis.is_dropout(qualname)
                    or apis.is_loss(qualname) or qualname in _WRAPPERS)
            if "." not in qualname and _LAYER_PARAMETER.search(qualname):
                return True  # attn_layer(dim, ...): a layer class passed in
            if "." not in qualname and not any(c.islower() for c in qualname):
                return False  # CONSTANTS(...) are not classes
            if "." in qualname:  # an imported block (timm.layers.LayerScale): a layer where a model is built
                return last[:1].isupper() and not qualname.startswith(("torch.", "numpy.", "math.", "collections.",
                                                                       "typing."))
            if not local:
                local.append(_layer_classes(ctx.head) | _layer_classes(ctx.base))
            return qualname in local[0]

        items = []
        existing: list[frozenset[str]] = []
        renamed_classes: list[dict[str, str]] = []  # read only when two layers' classes differ
        for item in call_changes(ctx, layer, None, key=assigned_key, callee=_class_name):
            site = item.site
            view = ctx.view(site.side)
            if not existing:
                existing.append(_layer_classes(ctx.base) & _layer_classes(ctx.head))
                existing.append(_class_names(ctx.base) & _class_names(ctx.head))
            if not _in_existing_model(view, site.index, existing[0], existing[1]) or not _builds_a_layer(view, site):
                continue
            if item.kind in ("added", "removed") and _still_assigned(ctx, item.site):
                continue  # self.attn = Attention(...) -> self.attn = make_attn(...): still an attn we cannot judge
            if item.kind == "arguments":
                before, after = _class_name(item.base_site.qualname), _class_name(item.head_site.qualname)
                if before != after and not item.arguments:
                    if not renamed_classes:
                        renamed_classes.append(_renamed_classes(ctx))
                    if renamed_classes[0].get(before) == after:
                        continue  # class Conv2d_BN renamed to Conv2dNorm in this file: the same layer
                if before != after and _defaults_to(ctx.head, item.head_site, before):
                    continue  # Attention(...) -> attn_layer(...) with attn_layer=Attention: configurable, same default
                if before == after:
                    # sizes are ML1101's, dropout and norm arguments their families', **kwargs unknown,
                    # and a home-made block's keywords too varied to judge: what is left, or the condition
                    arguments = tuple((p, o, n) for p, o, n in item.arguments
                                      if item.head_site.qualname.startswith("torch.nn.")
                                      and p not in _LAYER_ARGUMENTS_IGNORED and not p.startswith("**")
                                      and classify_name(p) is None
                                      and argument_role(item.head_site.qualname, p) is None
                                      and not _default_spelled_out(item.head_site.qualname, p, o, n))
                    narrowed = item.with_arguments(arguments)
                    if narrowed is None:
                        continue
                    item = narrowed
            items.append(item)
        yield from report_call_changes(self, ctx, items, "layer")


# Layer arguments whose default is spelled out (or dropped) without changing the layer.
_LAYER_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros",
                   "batch_first": False, "bidirectional": False, "ceil_mode": False, "count_include_pad": True,
                   "approximate": "none", "negative_slope": 0.01, "dim": None}


def _default_spelled_out(qualname: str, param: str, old, new) -> bool:
    if not qualname.startswith("torch.nn.") or (old is not None and new is not None) or param not in _LAYER_DEFAULTS:
        return False
    present = old if old is not None else new
    default = _LAYER_DEFAULTS[param]
    return present.is_literal and (present.literal is default or (
        default is not None and type(present.literal) is type(default) and present.literal == default))


def _still_assigned(ctx: PythonContext, site: CallSite) -> bool:
    """The ``self.x`` a layer was (or is) assigned to is assigned on the other side too, in the same
    class, by something this rule cannot read (a factory function, a parameter)."""
    view = ctx.view(site.side)
    target = _assigned_target(view, site)
    if not target or not target.startswith("self."):
        return False
    other = ctx.head if site.side == "base" else ctx.base
    if site.side == "base":
        target = renamed(target, ctx.renames)
    scope = view.scope_names(site.index)[:1]
    return any(other.scope_names(index)[:1] == scope for index, _ in other.definitions(target))


_LAYER_PARAMETER = re.compile(r"^(?!norm|drop)[a-z]\w*_(?:layer|cls|class|block|module)$")  # norm_layer is theirs


def _defaults_to(view, site: CallSite, class_name: str) -> bool:
    """Is the called name a parameter of the enclosing function whose default is ``class_name``?"""
    function = view.enclosing_def(site.index)
    if function < 0:
        return False
    for binding in view.facts(function).bindings:
        if binding.kind == "param" and binding.target == site.call.callee and binding.value is not None:
            return binding.value.code.rsplit(".", 1)[-1] == class_name
    # attn_cls = AttentionRope if rope else EvaAttention; self.attn = attn_cls(...): the old class is still a choice
    for index in view.block(function):
        if index > site.index:
            break
        for binding in view.facts(index).bindings if site.call.callee in view.source(index) else ():
            if binding.target == site.call.callee and binding.value is not None and class_name in binding.value.names:
                return True
    return False


def _class_name(qualname: str) -> str:
    """Layers pair by class name: ``LayerScale`` moved into ``timm.layers`` is the same layer (and
    ``nn.LogSoftMax``, an old spelling, is ``nn.LogSoftmax``)."""
    return qualname.rsplit(".", 1)[-1].lower()


def _renamed_classes(ctx: PythonContext) -> dict[str, str]:
    """Classes the base defines and the head does not, paired in order with classes only the head
    defines: ``class Conv2d_BN`` renamed ``class Conv2dNorm``."""
    base, head = _class_names(ctx.base), _class_names(ctx.head)
    gone = [n for n in _class_order(ctx.base) if n not in head]
    new = [n for n in _class_order(ctx.head) if n not in base]
    return {a.lower(): b.lower() for a, b in zip(gone, new)} if len(gone) == len(new) else {}


def _class_order(view) -> list[str]:
    return [view.facts(i).def_name or "" for i in view._lines_matching(_CLASS_LINE)]


def _builds_a_layer(view, site: CallSite) -> bool:
    """The call becomes part of a model: assigned to ``self.x``, inside ``nn.Sequential(...)`` /
    ``nn.ModuleList(...)``, or appended to a list of layers, outside ``forward``."""
    if view.enclosing_def(site.index) >= 0 and view.facts(view.enclosing_def(site.index)).def_name == "forward":
        return False
    facts = view.facts(site.index)
    for binding in facts.bindings:
        if binding.target.startswith("self.") and binding.value is not None and binding.value.node is site.call.node:
            return True
        if binding.kind == "augassign":
            return True
    for call in facts.calls:
        if call.method in ("append", "extend", "add_module", "insert"):
            return True
        name = apis.canonical(view.qualname(call))
        if name.startswith("torch.nn.") and name.rsplit(".", 1)[-1] in ("Sequential", "ModuleList", "ModuleDict"):
            return True
    return False


def _registered_under_own_name(ctx: PythonContext, item: CallChange) -> bool:
    """Model registries build each variant in a function named after it (``def vit_small(...):
    _create_vit('vit_small', ...)``); renaming the function and its string together is no swap."""
    names = []
    for site in (item.base_site, item.head_site):
        view = ctx.view(site.side)
        function = view.enclosing_def(site.index)
        first = site.call.args[0].literal if site.call.args else None
        if function < 0 or not isinstance(first, str) or view.facts(function).def_name != first.split(".")[0]:
            return False
        names.append(first)
    return True


def _names_another_model(item: CallChange) -> bool:
    """Same factory, another model: a string argument (``'resnet50'``) or a ``model_name`` changed."""
    for param, old, new in item.arguments:
        if param in ("model_name", "arch", "pretrained_model_name_or_path", "model_type"):
            return True
        if any(v is not None and isinstance(v.literal, str) for v in (old, new)):
            return True
    return False


def _class_names(view) -> frozenset[str]:
    return frozenset(view.facts(i).def_name or "" for i in view._lines_matching(_CLASS_LINE))


def _in_existing_model(view, index: int, existing: frozenset[str], both: frozenset[str]) -> bool:
    """Inside a module class that both sides define, or in an ``nn.Sequential(...)`` outside any class
    or in a class both sides define (a new class is new code, not a changed model)."""
    lines = view.logical
    classes = [view.facts(a).def_name for a in view.ancestors(index) if lines[a].keyword == "class"]
    if classes and classes[0] in existing:
        return True
    if classes and classes[0] not in both:
        return False
    return any(apis.canonical(view.qualname(call)) == "torch.nn.Sequential" for call in view.facts(index).calls)


def _builds_modules(value) -> bool:
    """A value that builds modules or lists of them (``nn.ModuleList([...])``, ``Block(dim)``,
    ``[Conv(c) for c in chs]``) rather than a number."""
    node = value.node if value is not None else None
    return _module_node(node, value)


def _module_node(node, value) -> bool:
    import libcst as cst
    if isinstance(node, cst.IfExp):
        return _module_node(node.body, value) or _module_node(node.orelse, value)
    if isinstance(node, (cst.ListComp, cst.GeneratorExp, cst.List, cst.Tuple)) and value.literal is NOT_LITERAL:
        return True
    if isinstance(node, cst.Call):
        from mldiff.analysis.values import dotted_name
        name = (dotted_name(node.func) or "").rsplit(".", 1)[-1]
        return name[:1].isupper()
    return False
