"""compile_distributed: torch.compile, DDP / FSDP / DataParallel, tensor parallelism, SyncBatchNorm, devices."""
from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from mldiff.analysis.values import evaluate, make_value
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.pairing import CallChange, assigned_key, binding_changes, call_changes, pair
from mldiff.facts.render import value_text
from mldiff.facts.sites import renamed
from mldiff.findings import Finding, Span
from mldiff.knowledge import apis
from mldiff.knowledge.arguments import argument_role
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.model_capacity import is_model_name
from mldiff.rules.reporting import report_binding_changes, report_call_changes
from mldiff.rules.values import SettingRule

_COMPILE_PATTERN = re.compile(r"compile|_dynamo|_inductor|jit\.")
_COMPILER_CONFIG = ("torch._dynamo.config.", "torch._inductor.config.", "torch._functorch.config.")
_WRAPPERS = (apis.DISTRIBUTED_WRAPPERS - {"torch.distributed.tensor.parallel.parallelize_module"}) | {
    "torch.nn.parallel.data_parallel", "torch.distributed.fsdp.FullyShardedDataParallel"}
_PROCESS_GROUP = frozenset({"torch.distributed.init_process_group"})
_WRAPPER_PATTERN = re.compile(r"DistributedDataParallel|DataParallel|DDP|FSDP|fully_shard|FullyShardedDataParallel|"
                              r"SyncBatchNorm|init_process_group|data_parallel|deepspeed")
_TP_STYLES = frozenset({"ColwiseParallel", "RowwiseParallel", "SequenceParallel", "PrepareModuleInput",
                        "PrepareModuleOutput", "PrepareModuleInputOutput"})
_TP_MODULE = "torch.distributed.tensor.parallel."
_ALL_DEVICES = re.compile(r"None|(?:list\()?range\((?:torch\.)?cuda\.device_count\(\)\)\)?")
_PLACEMENT_PATTERN = re.compile(r"\.cuda\(|\.to\(|set_device|CUDA_VISIBLE_DEVICES")


def _is_compile(qualname: str, call, view) -> bool:
    if qualname in apis.COMPILE:
        return True
    return call.method == "compile" and call.receiver is not None and is_model_name(call.receiver)


def _compiler_config(target: str) -> bool:
    return target.startswith(_COMPILER_CONFIG)


class CompileChanged(SettingRule, Rule):
    """``torch.compile`` (or ``torch._dynamo.optimize`` / ``torch.jit.script``) was added, removed,
    moved under another condition or given another mode / backend / options; a compile setting
    (``compile = True``, ``--compile``) or a ``torch._inductor.config`` / ``torch._dynamo.config``
    flag changed.

    Compiling fuses kernels: faster steps after a slow first one, small numerical differences,
    and new failure modes (graph breaks, recompilation on every new shape, higher memory while
    compiling). ``mode="max-autotune"`` or ``"reduce-overhead"`` (CUDA graphs) change memory and
    timing again. Check that throughput is measured after warm-up and that a compiled and an
    eager run agree on the loss.
    """

    code = "ML1201"
    family = "compile_distributed"
    name = "compile-changed"
    summary = "torch.compile added, removed, re-conditioned or its mode / options changed; compile setting changed"
    topics = ("compile",)
    examples = (
        Example(
            before="import torch\nmodel = GPT(conf)\nmodel.to(device)\n",
            after="import torch\nmodel = GPT(conf)\nmodel.to(device)\nif compile:\n    model = torch.compile(model)\n",
            expect=(Expect(5, "compile added: torch.compile(model) (when compile)"),),
        ),
        Example(
            before="import torch\nmodel = torch.compile(model)\n",
            after="import torch\nmodel = torch.compile(model, mode='max-autotune')\n",
            expect=(Expect(2, "compile mode (not set) -> 'max-autotune'"),),
        ),
        Example(
            before="backend = 'nccl'\n",
            after="backend = 'nccl'\ncompile_model = True # use PyTorch 2.0 to compile the model\n",
            expect=(Expect(2, "compile_model set to True"),),
        ),
        Example(
            before="compile = True\nif compile:\n    model = torch.compile(model)\n",
            after="compile = False\nif compile:\n    model = torch.compile(model)\n",
            expect=(Expect(1, "compile True -> False, used in `if compile:` at line 2"),),
        ),
        Example(
            before="import torch\n",
            after="import torch\ntorch._inductor.config.coordinate_descent_tuning = True\n",
            expect=(Expect(2, "torch._inductor.config.coordinate_descent_tuning = True set"),),
        ),
        Example(  # a regular expression compiled: not torch.compile
            before="import re\npattern = re.compile(r'\\d+')\n",
            after="import re\npattern = re.compile(r'[0-9]+')\n",
        ),
        Example(  # the compile flag's help text and a log line
            before="print('compiling the model...')\n",
            after="print('compiling the model... (takes a ~minute)')\n",
        ),
        Example(  # moved, same arguments and conditions
            before="import torch\nif compile:\n    model = torch.compile(model)\nx = 1\n",
            after="import torch\nx = 1\nif compile:\n    model = torch.compile(model)\n",
        ),
        Example(  # the compile flag renamed, same value
            before="compile_model = True # use PyTorch 2.0\nif compile_model:\n    model = torch.compile(model)\n",
            after="compile = True # use PyTorch 2.0\nif compile:\n    model = torch.compile(model)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        return super().accepts(ctx, value_change) and value_change.kind == "binding" \
            and not _compiler_config(value_change.name)

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        yield from report_call_changes(self, ctx, call_changes(ctx, _is_compile, _COMPILE_PATTERN), "compile")
        yield from report_binding_changes(self, ctx, binding_changes(ctx, _compiler_config, _COMPILE_PATTERN),
                                          lambda *a: "")


def _is_wrapper(qualname: str, call, view) -> bool:
    return qualname in _WRAPPERS or call.method in ("DistributedDataParallel", "FullyShardedDataParallel")


def _is_process_group(qualname: str, call, view) -> bool:
    return qualname in _PROCESS_GROUP


def _distributed_arguments(items: list[CallChange]) -> list[CallChange]:
    """Keep argument changes of distributed settings (``find_unused_parameters``, ``backend``,
    ``sharding_strategy``); device lists are ML1204's, the wrapped module a rename or refactor."""
    out = []
    for item in items:
        if item.kind == "arguments" and item.base_site.qualname == item.head_site.qualname:
            narrowed = item.with_arguments(tuple(
                a for a in item.arguments
                if argument_role(item.head_site.qualname, a[0]) == ("compile_distributed", "distributed")))
            if narrowed is None:
                continue
            item = narrowed
        out.append(item)
    return out


class DistributedWrappingChanged(SettingRule, Rule):
    """How the model is distributed changed: ``DistributedDataParallel`` / ``FullyShardedDataParallel``
    / ``fully_shard`` / ``DataParallel`` wrapping added, removed, swapped or moved under another
    condition, their settings changed (``find_unused_parameters``, ``sharding_strategy``,
    ``static_graph``...), ``SyncBatchNorm.convert_sync_batchnorm`` added or removed, or the process
    group backend changed.

    Wrapping decides how gradients are averaged across devices: without it each process trains its
    own copy; with ``DataParallel`` BatchNorm statistics are per device unless converted to
    ``SyncBatchNorm``; FSDP's sharding strategy trades memory for communication. The effective batch
    size is the per-device batch times the number of processes. Check the learning rate and batch
    size against the new world size, and that evaluation unwraps the model.
    """

    code = "ML1202"
    family = "compile_distributed"
    name = "distributed-wrapping"
    summary = "DDP / FSDP / DataParallel wrapping, SyncBatchNorm conversion or process-group backend changed"
    topics = ("distributed",)
    examples = (
        Example(
            before="import torch\nif args.distributed:\n    model = torch.nn.parallel.DistributedDataParallel(model)\n",
            after="import torch\nif args.gpu is None and args.distributed:\n"
                  "    model = torch.nn.parallel.DistributedDataParallel(model)\n",
            expect=(Expect(3, "DistributedDataParallel(model) now also requires args.gpu is None"),),
        ),
        Example(
            before="from torch.nn.parallel import DistributedDataParallel as DDP\nmodel = DDP(model, device_ids=[rank])\n",
            after="from torch.nn.parallel import DistributedDataParallel as DDP\n"
                  "model = DDP(model, device_ids=[rank], find_unused_parameters=True)\n",
            expect=(Expect(2, "DistributedDataParallel find_unused_parameters (not set) -> True"),),
        ),
        Example(
            before="import torch.nn as nn\nmodel = nn.DataParallel(model)\n",
            after="import torch.nn as nn\nmodel = nn.SyncBatchNorm.convert_sync_batchnorm(model)\nmodel = nn.DataParallel(model)\n",
            expect=(Expect(2, "wrapping added: nn.SyncBatchNorm.convert_sync_batchnorm(model)"),),
        ),
        Example(
            before="import torch.distributed as dist\ndist.init_process_group('gloo')\n",
            after="import torch.distributed as dist\ndist.init_process_group('nccl')\n",
            expect=(Expect(2, "init_process_group backend 'gloo' -> 'nccl'"),),
        ),
        Example(
            before="from torch.nn.parallel import DistributedDataParallel as DDP\nmodel = DDP(model)\n",
            after="from torch.distributed.fsdp import FullyShardedDataParallel as FSDP\nmodel = FSDP(model)\n",
            expect=(Expect(2, "wrapping changed: DDP(model) -> FSDP(model)"),),
        ),
        Example(  # a parallelism layout in a config file
            path="config.yaml",
            before="parallelism:\n  dp: 2\n  pp: 2\n  tp: 2\n",
            after="parallelism:\n  dp: 2\n  pp: 1\n  tp: 2\n",
            expect=(Expect(3, "parallelism.pp 2 -> 1"),),
        ),
        Example(  # rank variables renamed to lower case: the same wrapping
            before="from torch.nn.parallel import DistributedDataParallel as DDP\nDDP_LOCAL_RANK = int(env['LOCAL_RANK'])\n"
                   "device = f'cuda:{DDP_LOCAL_RANK}'\nmodel = DDP(model, device_ids=[DDP_LOCAL_RANK])\n",
            after="from torch.nn.parallel import DistributedDataParallel as DDP\nddp_local_rank = int(env['LOCAL_RANK'])\n"
                  "device = f'cuda:{ddp_local_rank}'\nmodel = DDP(model, device_ids=[ddp_local_rank])\n",
        ),
        Example(  # the wrapped model passed by another name after a consistent rename
            before="import torch.nn as nn\nnet = Net()\nnet = nn.DataParallel(net)\n",
            after="import torch.nn as nn\nmodel = Net()\nmodel = nn.DataParallel(model)\n",
        ),
        Example(  # the same wrapper around another attribute holding the model
            before="from torch.nn.parallel import DistributedDataParallel as DDP\nself.model = DDP(self.model, device_ids=ids)\n",
            after="from torch.nn.parallel import DistributedDataParallel as DDP\n"
                  "self.module = DDP(self.module, device_ids=ids)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        # a wrapper's own arguments are compared with the wrapping (``structural``)
        return super().accepts(ctx, value_change) and value_change.kind in ("binding", "config")

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        # the same wrapper first (DDP(self.model) -> DDP(self.module) is plumbing), then a swap at one name
        wrapping = call_changes(ctx, _is_wrapper, _WRAPPER_PATTERN, key=(None, assigned_key))
        yield from report_call_changes(self, ctx, _distributed_arguments(wrapping), "wrapping")
        groups = call_changes(ctx, _is_process_group, _WRAPPER_PATTERN)
        yield from report_call_changes(self, ctx, _distributed_arguments(groups), "process group")


def _is_parallelize(qualname: str, call, view) -> bool:
    return qualname == _TP_MODULE + "parallelize_module"


class TensorParallelPlanChanged(SettingRule, Rule):
    """A tensor / sequence parallel plan changed: an entry of a ``parallelize_module`` plan
    (``ColwiseParallel``, ``RowwiseParallel``, ``SequenceParallel``, ``PrepareModuleInput``...) added,
    removed or given other layouts, ``parallelize_module`` added or removed, or the device mesh
    (``init_device_mesh`` shape) changed.

    The plan decides how each weight is sharded and which layouts activations have between layers.
    A wrong pair (a column-wise layer feeding a row-wise one with the wrong input layout, or
    ``use_local_output`` flipped) either fails at run time or silently computes on partial tensors.
    Check that consecutive entries agree on layouts, and compare the loss with a single-device run.
    """

    code = "ML1203"
    family = "compile_distributed"
    name = "tensor-parallel-plan"
    summary = "Tensor / sequence parallel plan entry, parallelize_module call or device mesh changed"
    topics = ("tensor_parallel",)
    examples = (
        Example(
            before="from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel\n"
                   "plan = {\n    'attention.wq': ColwiseParallel(),\n    'attention.wo': RowwiseParallel(),\n}\n",
            after="from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel\n"
                  "plan = {\n    'attention.wq': ColwiseParallel(use_local_output=False),\n"
                  "    'attention.wo': RowwiseParallel(),\n}\n",
            expect=(Expect(3, "'attention.wq': ColwiseParallel() -> ColwiseParallel(use_local_output=False)"),),
        ),
        Example(
            before="from torch.distributed.tensor.parallel import ColwiseParallel, SequenceParallel\n"
                   "plan = {'norm': SequenceParallel(), 'w1': ColwiseParallel()}\n",
            after="from torch.distributed.tensor.parallel import ColwiseParallel, SequenceParallel\n"
                  "plan = {'w1': ColwiseParallel()}\n",
            expect=(Expect(2, "'norm': SequenceParallel() removed"),),
        ),
        Example(
            before="from torch.distributed.device_mesh import init_device_mesh\nmesh = init_device_mesh('cuda', (2, 4))\n",
            after="from torch.distributed.device_mesh import init_device_mesh\nmesh = init_device_mesh('cuda', (4, 2))\n",
            expect=(Expect(2, "init_device_mesh mesh_shape (2, 4) -> (4, 2)"),),
        ),
        Example(  # entries reordered and reformatted: the same plan
            before="from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel\n"
                   "plan = {'w1': ColwiseParallel(), 'w2': RowwiseParallel()}\n",
            after="from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel\n"
                  "plan = {\n    'w2': RowwiseParallel(),\n    'w1': ColwiseParallel(),  # column-wise\n}\n",
        ),
        Example(  # head-count bookkeeping removed next to the plan is not a plan entry
            before="from torch.distributed.tensor.parallel import parallelize_module\n"
                   "attn.n_heads = attn.n_heads // mesh.size()\nparallelize_module(block, mesh, plan)\n",
            after="from torch.distributed.tensor.parallel import parallelize_module\n"
                  "parallelize_module(block, mesh, plan)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if not super().accepts(ctx, value_change):
            return False
        # a plan written inline as a dict is compared entry by entry below
        return not any(v is not None and isinstance(v.node, cst.Dict) for v in (value_change.old, value_change.new))

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        selected = [item if item.kind != "arguments" else item.with_arguments(())
                    for item in call_changes(ctx, _is_parallelize, re.compile("parallelize_module"))]
        calls = [item for item in selected if item is not None]
        yield from report_call_changes(self, ctx, calls, "parallelize_module")
        yield from self._plans(ctx)

    def _plans(self, ctx: PythonContext):
        base = _plans(ctx, "base")
        head = _plans(ctx, "head")
        for b, h in pair(base, head, lambda plan: plan[0], lambda b, h: _same_entries(ctx, b[2], h[2])):
            if b is None or h is None:
                continue  # a whole plan added or removed comes with parallelize_module, or is moved
            yield from self._entries(ctx, b, h)

    def _entries(self, ctx: PythonContext, base, head):
        _, base_index, before = base
        _, head_index, after = head
        grouped: dict[tuple, list[str]] = {}
        for key in dict.fromkeys([*before, *after]):
            old, new = before.get(key), after.get(key)
            if old is not None and new is not None and old.same_as(new, ctx.renames):
                continue
            grouped.setdefault((old.key if old else None, new.key if new else None), []).append(key)
        for keys in grouped.values():
            old, new = before.get(keys[0]), after.get(keys[0])
            names = ", ".join(repr(k) for k in keys)
            if old is not None and new is not None:
                text = f"tensor-parallel plan {names}: {value_text(old)} -> {value_text(new)}"
            elif new is not None:
                text = f"tensor-parallel plan {names}: {value_text(new)} added"
            else:
                text = f"tensor-parallel plan {names}: {value_text(old)} removed"
            base_span = ctx.base.span(base_index, old.node) if old is not None else None
            if new is not None:
                spans = [ctx.head.span(head_index, after[k].node) for k in keys]
                span = Span(spans[0].line, spans[0].column, spans[-1].end_line, spans[-1].end_column)
            else:
                assert base_span is not None  # no head value: the key is the base's
                span = ctx.head_anchor(base_span.line - 1)
            yield self.report(ctx, span, text, base_line=base_span.line if base_span else None,
                              before=old.code if old is not None else None, after=new.code if new is not None else None)


def _plans(ctx: PythonContext, side: str) -> list[tuple[object, int, dict]]:
    """(pairing key, logical line, {module name: style value}) for each dict in the touched
    lines whose values are tensor-parallel styles."""
    view = ctx.view(side)
    out: list[tuple[object, int, dict]] = []
    for index in ctx.touched(side):
        unit = view.unit(index)
        if unit.statement is None or not any(style in view.source(index) for style in _TP_STYLES):
            continue
        finder = _DictFinder()
        unit.statement.visit(finder)
        targets = [b.target for b in view.facts(index).bindings]
        for number, node in enumerate(finder.dicts):
            entries = {}
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    continue
                key = evaluate(element.key)
                value = element.value
                if isinstance(key, str) and isinstance(value, cst.Call) and _is_style(view, value):
                    entries[key] = make_value(value)
            if entries:
                target = targets[0] if targets else ""
                if side == "base":
                    target = renamed(target, ctx.renames)
                out.append(((view.scope_names(index), target, number), index, entries))
    return out


def _is_style(view, call: cst.Call) -> bool:
    from mldiff.analysis.values import dotted_name
    name = dotted_name(call.func) or ""
    qualname = apis.canonical(view.resolve(name))
    last = qualname.rsplit(".", 1)[-1]
    return last in _TP_STYLES and (qualname.startswith(("torch.distributed.", "torch.")) or qualname == last)


def _same_entries(ctx: PythonContext, before: dict, after: dict) -> bool:
    return before.keys() == after.keys() and all(before[k].same_as(after[k], ctx.renames) for k in before)


class _DictFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.dicts: list[cst.Dict] = []

    def visit_Dict(self, node: cst.Dict) -> None:
        self.dicts.append(node)


_SET_DEVICE = frozenset({"torch.cuda.set_device", "torch.accelerator.set_device_index", "torch.xpu.set_device",
                         "torch.accelerator.set_device_idx"})


def _is_set_device(qualname: str, call, view) -> bool:
    return qualname in _SET_DEVICE


def _same_device_call(ctx: PythonContext, site, name: str) -> object:
    return "set_device"  # torch.cuda.set_device(i) -> torch.accelerator.set_device_index(i): the same choice


def _is_model_placement(qualname: str, call, view) -> bool:
    """``model.cuda(i)``, ``net.to(device)``, ``Net().to(device)``: where the model's weights live."""
    return call.method in ("cuda", "to") and call.receiver is not None


def _places_a_model(ctx: PythonContext, site) -> bool:
    receiver = site.call.receiver or ""
    if "(" not in receiver:
        return is_model_name(receiver)
    return is_model_name(_placement_key(ctx, site, ""))  # model = Net().to(device)


def _placement_key(ctx: PythonContext, site, name: str) -> str:
    """The model placed: the receiver (``net.cuda()``), or the name a constructed-and-placed model
    is bound to (``model = Net().to(device)``)."""
    receiver = site.call.receiver or ""
    if "(" in receiver:
        facts = ctx.view(site.side).facts(site.index)
        receiver = next((b.target for b in facts.bindings
                         if b.value is not None and b.value.node is site.call.node), "")
    return renamed(receiver, ctx.renames) if site.side == "base" else receiver


def _device_argument_change(ctx: PythonContext, item) -> tuple:
    """Only the device of ``.to(...)`` / ``.cuda(...)`` is placement (``dtype=`` is precision's):
    the ``device=`` keyword or the first positional argument, compared after renames."""
    def device(site):
        value = site.call.kwarg("device")
        if value is None and site.call.args:
            first = site.call.args[0]
            value = None if site.call.method == "to" and _looks_like_dtype(first.code) else first
        return value

    old, new = device(item.base), device(item.head)
    if old is None and new is None:
        return ()
    if old is not None and new is not None and old.same_as(new, ctx.renames):
        return ()
    return (("device", old, new),)


def _looks_like_dtype(code: str) -> bool:
    return "dtype" in code or code.startswith(("torch.float", "torch.bfloat", "torch.half", "torch.int"))


def _visible_devices(target: str) -> bool:
    return target == "os.environ.CUDA_VISIBLE_DEVICES"


class DevicePlacementChanged(SettingRule, Rule):
    """Which devices are used changed: ``device_ids`` / ``output_device`` of DataParallel or DDP,
    ``CUDA_VISIBLE_DEVICES``, ``torch.cuda.set_device``, a ``--gpu`` / ``--gpus`` / ``device``
    setting, or where the model is placed (``model.cuda(i)``, ``model.to(device)``).

    The device set decides the effective batch size under DataParallel (the batch is split across
    ``device_ids``), which process owns which GPU under DDP, and whether a run silently falls back
    to the CPU. Usually a deployment detail, so this is information; check that the model, its
    inputs and the loss end up on the same device.
    """

    code = "ML1204"
    family = "compile_distributed"
    name = "device-placement"
    summary = "GPU / device set or model placement changed (device_ids, CUDA_VISIBLE_DEVICES, set_device, --gpu)"
    severity = "information"
    topics = ("devices", "device_choice")
    examples = (
        Example(
            before="import torch\nnet = torch.nn.DataParallel(net, device_ids=[0,1,2,3])\n",
            after="import torch\nnet = torch.nn.DataParallel(net, device_ids=range(torch.cuda.device_count()))\n",
            expect=(Expect(2, "DataParallel device_ids [0,1,2,3] -> range(torch.cuda.device_count())"),),
        ),
        Example(
            before="import os\nos.environ['CUDA_VISIBLE_DEVICES'] = '0'\n",
            after="import os\nos.environ['CUDA_VISIBLE_DEVICES'] = '0,1'\n",
            expect=(Expect(2, "os.environ['CUDA_VISIBLE_DEVICES'] '0' -> '0,1'"),),
        ),
        Example(
            before="model = Net()\nmodel.cuda()\n",
            after="model = Net()\nmodel.cuda(args.gpu)\n",
            expect=(Expect(2, "model.cuda device (not set) -> args.gpu"),),
        ),
        Example(
            before="device = 'cuda:0'\n",
            after="device = 'cuda'\n",
            expect=(Expect(1, "device 'cuda:0' -> 'cuda'"),),
        ),
        Example(  # tensors (not the model) moved with the same arguments, reformatted
            before="x = x.cuda(non_blocking=True)\n",
            after="x = x.cuda(\n    non_blocking=True)\n",
        ),
        Example(  # .cuda() spelled .to(device): the same placement
            before="model = Net()\nmodel.cuda()\n",
            after="model = Net()\nmodel.to(device)\n",
        ),
        Example(  # the GPU option's help text
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--gpu', default=None, type=int, help='GPU')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--gpu', default=None, type=int, help='GPU id to use.')\n",
        ),
        Example(  # device_ids dropped: DataParallel's default is every visible GPU anyway
            before="import torch\nnet = torch.nn.DataParallel(net, device_ids=range(torch.cuda.device_count()))\n",
            after="import torch\nnet = torch.nn.DataParallel(net)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if value_change.name in ("device_ids", "output_device") and (value_change.old is None or value_change.new is None):
            present = value_change.new if value_change.new is not None else value_change.old
            assert present is not None  # a value change has a value on one side at least
            if _ALL_DEVICES.fullmatch(present.code.replace(" ", "")):
                return False  # the default: every visible device
        return super().accepts(ctx, value_change) and not value_change.name.startswith(("os.environ.", "environ."))

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        # another API for the same choice (cuda.set_device -> accelerator.set_device_index), or the
        # same placement of a model built another way, is no change: only the arguments count
        selections = [item if item.kind != "arguments" else item.with_arguments(item.arguments)
                      for item in call_changes(ctx, _is_set_device, _PLACEMENT_PATTERN, key=_same_device_call)]
        yield from report_call_changes(self, ctx, [i for i in selections if i is not None], "device selection")
        # `model = Net().to(device)` is matched only to absorb a `model.cuda()` it replaces; on its own
        # it is a model built where it is placed, not a placement change
        placed = [item if item.kind != "arguments" else item.with_arguments(
                      _device_argument_change(ctx, item) if item.base_site.call.method == item.head_site.call.method
                      else ())
                  for item in call_changes(ctx, _is_model_placement, _PLACEMENT_PATTERN,
                                           key=_placement_key, where=_places_a_model)]
        placements = [item for item in placed if item is not None
                      and not any("(" in (s.call.receiver or "") for s in (item.base, item.head) if s is not None)]
        yield from report_call_changes(self, ctx, placements, "model placement")
        yield from report_binding_changes(self, ctx, binding_changes(ctx, _visible_devices, _PLACEMENT_PATTERN),
                                          lambda *a: "")
