"""data_pipeline: shuffle, drop_last, samplers (set_epoch), workers, pinning, dataset splits."""
from __future__ import annotations

import re
from typing import Iterator, cast

import libcst as cst

from mldiff.analysis.values import Value, _literal_equal
from mldiff.facts.anchors import base_line, site_span
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.equivalence import resolve_literal, same_when_inlined
from mldiff.facts.pairing import CallChange, assigned_key, call_changes, pair
from mldiff.facts.render import render_call, value_text
from mldiff.facts.sites import argument_of, call_sites
from mldiff.findings import Finding
from mldiff.knowledge import apis
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_call_changes
from mldiff.rules.values import SettingRule

# What PyTorch does when an argument is left out: adding `pin_memory=False` changes nothing.
_DEFAULTS: dict[str, dict[str, object]] = {
    "torch.utils.data.DataLoader": {"shuffle": False, "num_workers": 0, "pin_memory": False, "drop_last": False,
                                    "persistent_workers": False, "prefetch_factor": None, "sampler": None,
                                    "batch_sampler": None, "worker_init_fn": None, "generator": None},
    "torch.utils.data.distributed.DistributedSampler": {"shuffle": True, "drop_last": False, "seed": 0},
    "torch.utils.data.RandomSampler": {"replacement": False, "num_samples": None, "generator": None},
    "torch.utils.data.WeightedRandomSampler": {"replacement": True, "generator": None},
    "torch.utils.data.BatchSampler": {},
}

_SHUFFLE_FUNCTIONS = frozenset({"random.shuffle", "numpy.random.shuffle"})
_SHUFFLE_PATTERN = re.compile(r"shuffle")
_SAMPLER_PATTERN = re.compile(r"Sampler|set_epoch")
_SET_EPOCH = re.compile(r"\.set_epoch\(")


def same_as_default(ctx: Context, value_change: ValueChange) -> bool:
    """An argument added or dropped whose value is the API default (``shuffle=False`` on a
    DataLoader): the loader behaves the same."""
    if value_change.kind != "argument" or not isinstance(ctx, PythonContext) or \
            (value_change.old is not None and value_change.new is not None):
        return False
    defaults = _DEFAULTS.get(apis.canonical(value_change.origin), {})
    if value_change.name not in defaults:
        return False
    present = value_change.new if value_change.new is not None else value_change.old
    view = ctx.head if value_change.new is not None else ctx.base
    literal = resolve_literal(view, present)
    default = defaults[value_change.name]
    return literal is default or (literal is not None and default is not None and _literal_equal(literal, default))


class DataValueRule(SettingRule):
    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        return super().accepts(ctx, value_change) and not same_as_default(ctx, value_change)


def _is_shuffle_call(qualname: str, call, view) -> bool:
    """``random.shuffle(items)``, ``np.random.shuffle(x)``, ``dataset.shuffle()``: reorders data."""
    if qualname in _SHUFFLE_FUNCTIONS:
        return True
    return call.method == "shuffle" and call.receiver is not None and not qualname.startswith(("torch.", "numpy."))


class ShuffleChanged(DataValueRule, Rule):
    """Shuffling changed: a DataLoader's or sampler's ``shuffle``, a shuffle setting, or a shuffle
    call over the data (``random.shuffle``, ``dataset.shuffle()``) added or removed.

    An unshuffled training set is seen in the same order every epoch (often sorted by class or
    length), which can slow or bias training; a shuffled evaluation set is harmless but makes
    per-batch logs irreproducible. Check that training data is shuffled and evaluation is not,
    and that a DataLoader with a ``sampler`` does not also pass ``shuffle=True`` (it raises).
    """

    code = "ML1001"
    family = "data_pipeline"
    name = "shuffle-changed"
    summary = "DataLoader / sampler shuffle changed, or a shuffle of the data added or removed"
    topics = ("shuffle",)
    examples = (
        Example(
            before="from torch.utils.data import DataLoader\nloader = DataLoader(data, batch_size=64)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(data, shuffle=True, batch_size=64)\n",
            expect=(Expect(2, "DataLoader shuffle set to True"),),
        ),
        Example(
            before="import torch\ntrain = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)\n",
            after="import torch\ntrain = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False)\n",
            expect=(Expect(2, "DataLoader shuffle True -> False"),),
        ),
        Example(
            before="def train_epoch(epoch):\n    order = list(range(n))\n    for i in order:\n        step(i)\n",
            after="def train_epoch(epoch):\n    if opt.extra_shuffle:\n        data.shuffle()\n"
                  "    order = list(range(n))\n    for i in order:\n        step(i)\n",
            expect=(Expect(3, "shuffle added: data.shuffle() (when opt.extra_shuffle)"),),
        ),
        Example(
            before="SHUFFLE_TRAIN = True\n",
            after="SHUFFLE_TRAIN = False\n",
            expect=(Expect(1, "SHUFFLE_TRAIN True -> False"),),
        ),
        Example(  # the default spelled out: no change
            before="from torch.utils.data import DataLoader\nloader = DataLoader(data, batch_size=64)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(data, batch_size=64, shuffle=False)\n",
        ),
        Example(  # reformatted, with a comment
            before="from torch.utils.data import DataLoader\nloader = DataLoader(data, shuffle=True)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(\n    data,\n"
                  "    shuffle=True,  # reshuffle every epoch\n)\n",
        ),
        Example(  # a logging line that mentions shuffling
            before="print('shuffle:', args.shuffle)\n",
            after="print(f'shuffling is {args.shuffle}')\n",
        ),
    )

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        yield from report_call_changes(self, ctx, call_changes(ctx, _is_shuffle_call, _SHUFFLE_PATTERN),
                                       "shuffle")


class LoaderSettingsChanged(DataValueRule, Rule):
    """DataLoader settings changed: ``drop_last`` (what is trained on), or ``num_workers``,
    ``pin_memory``, ``persistent_workers``, ``prefetch_factor`` (how fast it is fed).

    ``drop_last`` decides whether the last, smaller batch is trained on (and with BatchNorm, a
    batch of one can fail); it is a warning. The others change throughput and memory, not the
    result (except that random augmentation in workers depends on worker seeding), so they are
    information: check that the new values fit the machine (CPU cores, shared memory).
    """

    code = "ML1002"
    family = "data_pipeline"
    name = "loader-settings"
    summary = "DataLoader drop_last (warning) or num_workers / pin_memory / prefetch settings (information) changed"
    topics = ("drop_last", "loader")
    severity_by_topic = {"loader": "information"}
    examples = (
        Example(
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=32)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=32, drop_last=True)\n",
            expect=(Expect(2, "DataLoader drop_last set to True"),),
        ),
        Example(
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, num_workers=2, pin_memory=False)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(ds, num_workers=8, pin_memory=True)\n",
            expect=(Expect(2, "DataLoader num_workers 2 -> 8"), Expect(2, "DataLoader pin_memory False -> True")),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('-j', '--workers', default=4, type=int)\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('-j', '--workers', default=16, type=int)\n",
            expect=(Expect(3, "--workers default 4 -> 16"),),
        ),
        Example(  # the default spelled out
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=32)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=32, num_workers=0)\n",
        ),
        Example(  # help text only
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--workers', default=4, help='workers')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--workers', default=4, help='number of data loading workers')\n",
        ),
        Example(  # a keyword dict with the same settings, reformatted
            before="kwargs = {'num_workers': 1, 'pin_memory': True}\n",
            after="kwargs = {'num_workers': 1,\n          'pin_memory': True}\n",
        ),
        Example(  # the same loader settings moved from an update() call into their own dict
            before="kwargs = {'batch_size': 64}\nif use_cuda:\n    kwargs.update({'num_workers': 1, 'pin_memory': True})\n",
            after="kwargs = {'batch_size': 64}\nif use_cuda:\n    cuda_kwargs = {'num_workers': 1, 'pin_memory': True}\n"
                  "    kwargs.update(cuda_kwargs)\n",
        ),
    )


def _is_sampler(qualname: str, call, view) -> bool:
    return qualname in apis.SAMPLERS


def _is_set_epoch(qualname: str, call, view) -> bool:
    return call.method == "set_epoch" and call.receiver is not None


class SamplerChanged(DataValueRule, Rule):
    """A sampler was added, removed or swapped (``DistributedSampler``, ``RandomSampler``,
    ``WeightedRandomSampler``...), a DataLoader's ``sampler=`` / ``batch_sampler=`` changed, a
    sampler's own settings changed, or ``sampler.set_epoch(epoch)`` was added or removed.

    The sampler decides which examples each step (and each rank) sees. ``DistributedSampler``
    shuffles with a seed derived from the epoch: without ``sampler.set_epoch(epoch)`` at the start
    of every epoch, every epoch repeats the same order. A weighted sampler changes the class
    balance the model is trained on. Check the sampler on both training and evaluation loaders.
    """

    code = "ML1003"
    family = "data_pipeline"
    name = "sampler-changed"
    summary = "Sampler added, removed or swapped; sampler settings changed; set_epoch added or removed"
    topics = ("sampler",)
    examples = (
        Example(
            before="class Trainer:\n    def run_epoch(self, epoch):\n        for x, y in self.train_data:\n"
                   "            self.step(x, y)\n",
            after="class Trainer:\n    def run_epoch(self, epoch):\n        self.train_data.sampler.set_epoch(epoch)\n"
                  "        for x, y in self.train_data:\n            self.step(x, y)\n",
            expect=(Expect(3, "set_epoch added: self.train_data.sampler.set_epoch(epoch)"),),
        ),
        Example(
            before="from torch.utils.data import DataLoader\nfrom torch.utils.data.distributed import DistributedSampler\n"
                   "loader = DataLoader(ds, batch_size=32, shuffle=True)\nfor epoch in range(10):\n    train(loader)\n",
            after="from torch.utils.data import DataLoader\nfrom torch.utils.data.distributed import DistributedSampler\n"
                  "loader = DataLoader(ds, batch_size=32, sampler=DistributedSampler(ds))\nfor epoch in range(10):\n"
                  "    train(loader)\n",
            expect=(Expect(3, "sampler added: DistributedSampler(ds); this file never calls sampler.set_epoch"),
                    Expect(3, "shuffle True removed", code="ML1001")),
        ),
        Example(
            before="import torch.utils.data as tud\nsampler = tud.RandomSampler(ds)\n",
            after="import torch.utils.data as tud\nsampler = tud.WeightedRandomSampler(weights, len(ds))\n",
            expect=(Expect(2, "sampler changed: tud.RandomSampler(ds) -> tud.WeightedRandomSampler(weights, len(ds))"),),
        ),
        Example(
            before="import torch.utils.data as tud\nsampler = tud.RandomSampler(ds, replacement=False)\n",
            after="import torch.utils.data as tud\nsampler = tud.RandomSampler(ds, replacement=True)\n",
            expect=(Expect(2, "RandomSampler replacement False -> True"),),
        ),
        Example(  # moved, same arguments
            before="def epoch(e):\n    sampler.set_epoch(e)\n    log(e)\n",
            after="def epoch(e):\n    log(e)\n    sampler.set_epoch(e)\n",
        ),
        Example(  # the sampler variable renamed everywhere
            before="from torch.utils.data import DataLoader, DistributedSampler\ns = DistributedSampler(ds)\n"
                   "loader = DataLoader(ds, sampler=s)\nfor e in range(3):\n    s.set_epoch(e)\n",
            after="from torch.utils.data import DataLoader, DistributedSampler\ntrain_sampler = DistributedSampler(ds)\n"
                  "loader = DataLoader(ds, sampler=train_sampler)\nfor e in range(3):\n    train_sampler.set_epoch(e)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        # `sampler = DistributedSampler(ds)`, `DataLoader(sampler=DistributedSampler(ds))`: the
        # constructor itself is compared below
        return super().accepts(ctx, value_change) and \
            not any(_constructs_sampler(ctx, v) for v in (value_change.old, value_change.new))

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        # a sampler's own arguments are value changes (above); here: added, removed, swapped, re-conditioned
        selected = [item if item.kind != "arguments" or item.base_site.qualname != item.head_site.qualname
                    else item.with_arguments(())
                    for item in call_changes(ctx, _is_sampler, _SAMPLER_PATTERN, key=assigned_key)]
        samplers = [item for item in selected if item is not None]
        yield from report_call_changes(self, ctx, samplers, "sampler",
                                       lambda group: _missing_set_epoch(ctx, group))
        # the same call on another spelling of the loader (self.loader -> loader) is no change
        calls = [item if item.kind != "arguments" or item.arguments else item.with_arguments(())
                 for item in call_changes(ctx, _is_set_epoch, _SAMPLER_PATTERN,
                                          key=lambda ctx, site, name: "set_epoch")]
        set_epoch = [item for item in calls if item is not None]
        yield from report_call_changes(self, ctx, set_epoch, "set_epoch", _set_epoch_note)


def _missing_set_epoch(ctx: PythonContext, group: list[CallChange]) -> tuple[str, str | None]:
    """A shuffling DistributedSampler that comes in with this change, in a file that never calls set_epoch."""
    for item in group:
        site = item.head
        if item.kind not in ("added", "arguments") or site is None or \
                site.qualname != "torch.utils.data.distributed.DistributedSampler":
            continue
        shuffle = argument_of(site.call, site.qualname, "shuffle")
        if shuffle is not None and shuffle.literal is False:
            continue
        if ctx.head._lines_matching(_SET_EPOCH):
            return "", None
        return "; this file never calls sampler.set_epoch(epoch): every epoch will see the same order", None
    return "", None


def _set_epoch_note(group: list[CallChange]) -> tuple[str, str | None]:
    kind = group[0].kind
    if kind == "added":
        return ": a new shuffle order every epoch", None
    if kind == "removed":
        return ": a DistributedSampler now repeats the same order every epoch", None
    return "", None


def _constructs_sampler(ctx: Context, value: Value | None) -> bool:
    if value is None or value.node is None or value.node.__class__.__name__ != "Call" or \
            not isinstance(ctx, PythonContext):
        return False
    from mldiff.analysis.values import dotted_name
    callee = dotted_name(cast(cst.Call, value.node).func)  # a Call, as tested above
    if not callee:
        return False
    return any(apis.canonical(view.resolve(callee)) in apis.SAMPLERS for view in (ctx.base, ctx.head))


def _reads_dataset(qualname: str, call, view) -> bool:
    return qualname in apis.DATALOADERS


def _selects_split(qualname: str, call, view) -> bool:
    """A dataset constructor that picks a split: torchvision's ``train=``, anyone's ``split=``."""
    if call.kwarg("split") is not None:
        return True
    return call.kwarg("train") is not None and qualname.startswith(("torchvision.datasets.", "torchtext.datasets."))


class DatasetSplitChanged(DataValueRule, Rule):
    """What data a loader reads changed: the dataset passed to a DataLoader, a dataset's split
    (``train=True`` -> ``False``, ``split='train'`` -> ``'validation'``), ``random_split`` lengths,
    ``Subset`` indices, or a split setting (``val_split``, ``train_ratio``, ``max_samples``).

    A training loader fed the validation set, or a split that moved, silently changes what the
    model learns from and what its metrics mean (validation data leaking into training inflates
    them). Check which split each loader reads, and that train and validation stay disjoint.
    """

    code = "ML1004"
    family = "data_pipeline"
    name = "dataset-split"
    summary = "Dataset a loader reads, split selection, random_split lengths or Subset indices changed"
    topics = ("split", "dataset")
    examples = (
        Example(
            before="from torch.utils.data import DataLoader\ntrain_set, val_set = load()\n"
                   "train_loader = DataLoader(train_set, batch_size=64, shuffle=True)\n",
            after="from torch.utils.data import DataLoader\ntrain_set, val_set = load()\n"
                  "train_loader = DataLoader(val_set, batch_size=64, shuffle=True)\n",
            expect=(Expect(3, "DataLoader dataset train_set -> val_set"),),
        ),
        Example(
            before="from torchvision import datasets\ntest = datasets.MNIST('../data', train=False, download=True)\n",
            after="from torchvision import datasets\ntest = datasets.MNIST('../data', train=True, download=True)\n",
            expect=(Expect(2, "MNIST train False -> True"),),
        ),
        Example(
            before="from torch.utils.data import random_split\ntrain, val = random_split(ds, [50000, 10000])\n",
            after="from torch.utils.data import random_split\ntrain, val = random_split(ds, [55000, 5000])\n",
            expect=(Expect(2, "random_split lengths [50000, 10000] -> [55000, 5000]"),),
        ),
        Example(
            before="ds = load_dataset('imdb', split='train')\n",
            after="ds = load_dataset('imdb', split='train[:10%]')\n",
            expect=(Expect(1, "split 'train' -> 'train[:10%]'"),),
        ),
        Example(
            before="val_split = 0.1\n",
            after="val_split = 0.2\n",
            expect=(Expect(1, "val_split 0.1 -> 0.2"),),
        ),
        Example(  # the dataset variable renamed everywhere
            before="from torch.utils.data import DataLoader\nds1 = make()\nloader = DataLoader(ds1, batch_size=8)\n",
            after="from torch.utils.data import DataLoader\ntrain_ds = make()\nloader = DataLoader(train_ds, batch_size=8)\n",
        ),
        Example(  # the dataset built inline instead of in a variable: the same data
            before="from torch.utils.data import DataLoader\nfrom torchvision import datasets\n"
                   "loader = DataLoader(datasets.MNIST('data', train=True), batch_size=8)\n",
            after="from torch.utils.data import DataLoader\nfrom torchvision import datasets\n"
                  "dataset1 = datasets.MNIST('data', train=True)\nloader = DataLoader(dataset1, batch_size=8)\n",
        ),
        Example(  # the dataset now comes from the caller
            before="import torch\ndef train(args):\n    loader = torch.utils.data.DataLoader(make_train_set(), batch_size=8)\n",
            after="import torch\ndef train(args, dataset):\n    loader = torch.utils.data.DataLoader(dataset, batch_size=8)\n",
        ),
    )

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        yield from self._compare(ctx, _reads_dataset, ("dataset",))
        yield from self._compare(ctx, _selects_split, ("split", "train"))

    def _compare(self, ctx: PythonContext, predicate, params: tuple[str, ...]):
        base = call_sites(ctx, "base", predicate)
        head = call_sites(ctx, "head", predicate)
        key = lambda site: (site.qualname, ctx.view(site.side).scope_names(site.index))  # noqa: E731

        def same(b, h) -> bool:
            return not self._differences(ctx, b, h, params)

        for b, h in pair(base, head, key, same):
            if b is None or h is None:
                continue
            parts = self._differences(ctx, b, h, params)
            if parts:
                text = f"{h.short} " + ", ".join(f"{p} {value_text(o)} -> {value_text(n)}" for p, o, n in parts)
                yield self.report(ctx, site_span(ctx, h), text, base_line=base_line(ctx, b),
                                  before=render_call(b), after=render_call(h))

    @staticmethod
    def _differences(ctx: PythonContext, base, head, params):
        out = []
        for param in params:
            old = argument_of(base.call, base.qualname, param)
            new = argument_of(head.call, head.qualname, param)
            if old is None or new is None:
                continue
            if old.same_as(new, ctx.renames) or same_when_inlined(ctx, old, new) \
                    or _same_source(ctx, old, new):
                continue
            if _is_parameter(ctx.base, base.index, old) or _is_parameter(ctx.head, head.index, new):
                continue  # the dataset now comes from the caller: which one, this file cannot say
            out.append((param, old, new))
        return out


def _is_parameter(view, index: int, value) -> bool:
    """A plain name that is a parameter of the function around line ``index``."""
    from mldiff.analysis.values import dotted_name
    name = dotted_name(value.node) if value.node is not None else None
    function = view.enclosing_def(index)
    return bool(name) and function >= 0 and name in view.facts(function).def_params


def _same_source(ctx: PythonContext, old, new) -> bool:
    """``ImageFolder(valdir, transform=a)`` -> ``ImageFolder(valdir, transform=b)``: the same data
    read through another transform (augmentation and normalization are other families' concern).
    The same constructor with the same root and split counts as the same dataset."""
    import libcst as cst
    if not (isinstance(old.node, cst.Call) and isinstance(new.node, cst.Call)):
        return False
    from mldiff.analysis.values import dotted_name, make_value
    if dotted_name(old.node.func) != dotted_name(new.node.func):
        return False

    def source(node):
        positional = [a.value for a in node.args if a.keyword is None and not a.star][:1]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None
                    and a.keyword.value in ("root", "split", "train", "path", "data_dir", "name")}
        return positional, keywords

    (old_pos, old_kw), (new_pos, new_kw) = source(old.node), source(new.node)
    if len(old_pos) != len(new_pos) or old_kw.keys() != new_kw.keys():
        return False
    pairs = list(zip(old_pos, new_pos)) + [(old_kw[k], new_kw[k]) for k in old_kw]
    return all(make_value(a).same_as(make_value(b), ctx.renames) for a, b in pairs)
