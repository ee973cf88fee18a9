"""determinism: seeds, cuDNN determinism and benchmark, deterministic algorithms, worker seeding."""
from __future__ import annotations

import re
from typing import Iterator

from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.pairing import CallChange, binding_changes, call_changes
from mldiff.facts.sites import CallSite, resolved_target
from mldiff.findings import Finding
from mldiff.knowledge import apis
from mldiff.knowledge.names import classify_name
from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.reporting import report_binding_changes, report_call_changes
from mldiff.facts.setting_equivalence import is_inert_option
from mldiff.rules.values import SettingRule

# Seeding functions of libraries, and the names projects give their own seeding helpers.
_SEED_FUNCTIONS = re.compile(
    r"(?:manual_seed(?:_all)?|seed|seed_everything|seed_all|set_(?:random_|global_)?seeds?|"
    r"(?:fix|setup|init|reset)_(?:random_)?seeds?|random_seed|seed_torch|set_determinism|PRNGKey)$")
_SEED_CONSTRUCTORS = frozenset({"numpy.random.default_rng", "numpy.random.RandomState", "random.Random",
                                "jax.random.PRNGKey", "jax.random.key"})
_SEED_PATTERN = re.compile(r"seed|PRNGKey|default_rng|RandomState")
_MANUAL_SEED = re.compile(r"manual_seed\(")

_CUDNN_FLAGS = {"torch.backends.cudnn.benchmark": False, "torch.backends.cudnn.deterministic": False,
                "torch.backends.cudnn.enabled": True}
_CUDNN_PATTERN = re.compile(r"cudnn|\.benchmark\b|\.deterministic\b")

_DETERMINISTIC_CALLS = frozenset({"torch.use_deterministic_algorithms", "torch.set_deterministic",
                                  "torch.set_deterministic_debug_mode"})
_DETERMINISM_ENV = frozenset({"CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED", "TF_DETERMINISTIC_OPS",
                              "TF_CUDNN_DETERMINISTIC", "CUDA_LAUNCH_BLOCKING"})
_DETERMINISTIC_PATTERN = re.compile(r"deterministic|CUBLAS_WORKSPACE_CONFIG|PYTHONHASHSEED|TF_DETERMINISTIC_OPS|"
                                    r"TF_CUDNN_DETERMINISTIC|CUDA_LAUNCH_BLOCKING")


def is_seed_call(qualname: str, call, view) -> bool:
    """``torch.manual_seed``, ``np.random.seed``, ``env.seed``, ``seed_everything``, a project's
    ``set_seed``, ``torch.Generator().manual_seed``: calls that fix (or re-draw) a random stream."""
    name = qualname.replace("(...)", "")
    return name in apis.SEEDS or name in _SEED_CONSTRUCTORS or bool(_SEED_FUNCTIONS.match(call.method))


class SeedChanged(SettingRule, Rule):
    """Random seeding changed: a seed call (``torch.manual_seed``, ``torch.cuda.manual_seed_all``,
    ``random.seed``, ``np.random.seed``, ``seed_everything``, ``set_seed``, ``env.seed``...) was added,
    removed, given another seed or moved under another condition, or a seed setting changed
    (``seed = 1337``, ``--seed`` default, how a seed is derived such as ``1337 + seed_offset``).

    Seeds decide weight initialisation, data order, dropout masks and augmentation. A removed
    seed makes runs irreproducible; a changed one makes before/after comparisons differ by
    chance alone; a seed that stops depending on the rank makes every DDP process draw the same
    noise. Check that every library the code draws from (Python, NumPy, torch, CUDA) is still
    seeded, and compare runs only at equal seeds.
    """

    code = "ML701"
    family = "determinism"
    name = "seed-changed"
    summary = "Seed call added, removed, re-seeded or made conditional; seed setting changed"
    topics = ("seed",)
    examples = (
        Example(
            before="import torch\ntorch.manual_seed(0)\n",
            after="import torch\ntorch.manual_seed(42)\n",
            expect=(Expect(2, "manual_seed seed 0 -> 42"),),
        ),
        Example(
            before="import random\nimport torch\nrandom.seed(1)\ntorch.manual_seed(1)\nmodel = build()\n",
            after="import random\nimport torch\nmodel = build()\n",
            expect=(Expect(3, "seeding removed: random.seed(1), torch.manual_seed(1)"),),
        ),
        Example(
            before="import torch\nseed = opt.seed\ntorch.manual_seed(seed)\n",
            after="import torch\nseed = opt.seed\ntorch.manual_seed(seed)\nif opt.cuda:\n"
                  "    torch.cuda.manual_seed_all(seed)\n",
            expect=(Expect(5, "seeding added: torch.cuda.manual_seed_all(seed) (when opt.cuda)"),),
        ),
        Example(
            before="import torch\ntorch.manual_seed(args.seed)\n",
            after="import torch\nif args.seed is not None:\n    torch.manual_seed(args.seed)\n",
            expect=(Expect(3, "now only when args.seed is not None"),),
        ),
        Example(
            before="seed_offset = ddp_rank if ddp else 0\ntorch.manual_seed(1337 + seed_offset)\n",
            after="seed_offset = ddp_rank if ddp else 0\ntorch.manual_seed(1337)\n",
            expect=(Expect(2, "seed 1337 + seed_offset -> 1337"),),
        ),
        Example(  # an offset that is 0 on every branch: the same seed
            before="if ddp:\n    seed_offset = 0\nelse:\n    seed_offset = 0\ntorch.manual_seed(1337 + seed_offset)\n",
            after="if ddp:\n    seed_offset = 0\nelse:\n    seed_offset = 0\ntorch.manual_seed(1337)\n",
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\np.add_argument('--seed', type=int, default=1)\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--seed', type=int, default=123)\n",
            expect=(Expect(3, "--seed default 1 -> 123"),),
        ),
        Example(  # a seed constant that feeds the seed call
            before="import numpy as np\nSEED = 3\nnp.random.seed(SEED)\n",
            after="import numpy as np\nSEED = 4\nnp.random.seed(SEED)\n",
            expect=(Expect(2, "SEED 3 -> 4"),),
        ),
        Example(  # renamed variable feeding the seed: same seed
            before="rank = int(os.environ['RANK'])\nseed_offset = rank\ntorch.manual_seed(1337 + seed_offset)\n",
            after="ddp_rank = int(os.environ['RANK'])\nseed_offset = ddp_rank\ntorch.manual_seed(1337 + seed_offset)\n",
        ),
        Example(  # moved, same arguments, same (no) condition
            before="import torch\ntorch.manual_seed(0)\nx = 1\n",
            after="import torch\nx = 1\ntorch.manual_seed(0)  # reproducible\n",
        ),
        Example(  # the seed only printed
            before="print('seed', seed)\n",
            after="print(f'Random seed: {seed}')\n",
        ),
        Example(  # an option with no default changes nothing until it is passed
            before="import argparse\np = argparse.ArgumentParser()\n",
            after="import argparse\np = argparse.ArgumentParser()\np.add_argument('--seed', type=int, help='seed')\n",
        ),
        Example(  # the same seeding wrapped into the main guard
            before="import torch\ntorch.manual_seed(0)\n",
            after="import torch\nif __name__ == '__main__':\n    torch.manual_seed(0)\n",
        ),
        Example(  # gym's env.seed(s) became env.reset(seed=s): the same environment, the same seed
            before="env = gym.make('CartPole-v1')\nenv.seed(args.seed)\ntorch.manual_seed(args.seed)\n",
            after="env = gym.make('CartPole-v1')\nenv.reset(seed=args.seed)\ntorch.manual_seed(args.seed)\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_inert_option(value_change):
            return False
        if value_change.kind == "argument":
            return value_change.origin.replace("(...)", "") not in apis.SEEDS  # seed calls: structural
        return not value_change.name.startswith(("os.environ.", "environ."))

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        changes = [item for item in call_changes(ctx, is_seed_call, _SEED_PATTERN)
                   if not _seed_moved_to_keyword(ctx, item)]
        yield from report_call_changes(self, ctx, changes, "seeding", lambda group: _cuda_seed_note(ctx, group))
        # a seed setting that is the same but now set under another condition
        for base, head, moved in binding_changes(ctx, _is_seed_setting, _SEED_PATTERN):
            if base and head and moved and base[0].binding.value is not None \
                    and base[0].binding.value.same_as(head[0].binding.value, ctx.renames):
                yield from report_binding_changes(self, ctx, [(base, head, moved)], lambda *a: "")


def _seed_value(site: CallSite):
    return site.call.kwarg("seed") or (site.call.args[0] if site.call.args else None)


def _seed_moved_to_keyword(ctx: PythonContext, item: CallChange) -> bool:
    """``env.seed(s)`` removed where ``env.reset(seed=s)`` came in: the same object seeded through
    another method (an API migration), not a change of seeding."""
    if item.kind != "removed" or item.base_site.call.receiver is None:
        return False
    seed = _seed_value(item.base_site)
    if seed is None:
        return False
    receiver = ctx.renames.get(item.base_site.call.receiver, item.base_site.call.receiver)
    for index in ctx.touched_head:
        for call in ctx.head.facts(index).calls:
            value = call.kwarg("seed")
            if call.receiver == receiver and value is not None and value.same_as(seed, ctx.renames):
                return True
    return False


_CUDA_SEEDS = ("torch.cuda.manual_seed", "torch.cuda.manual_seed_all")


def _cuda_seed_note(ctx: PythonContext, group: list[CallChange]) -> tuple[str, str | None]:
    """Adding or dropping ``torch.cuda.manual_seed(s)`` next to ``torch.manual_seed(s)`` changes
    nothing: ``torch.manual_seed`` seeds every CUDA device too."""
    item = group[0]
    if item.kind not in ("added", "removed") or any(g.site.qualname not in _CUDA_SEEDS for g in group):
        return "", None
    view = ctx.head
    seeds = {_seed_value(g.site).key for g in group if _seed_value(g.site) is not None}
    for index in view._lines_matching(_MANUAL_SEED):
        for call in view.facts(index).calls:
            if apis.canonical(view.qualname(call)) in ("torch.manual_seed", "torch.random.manual_seed") \
                    and call.args and call.args[0].key in seeds:
                verb = "already seeds" if item.kind == "added" else "still seeds"
                return f"; torch.manual_seed({call.args[0].code}) {verb} every CUDA device", "information"
    return "", None


def _is_seed_setting(target: str) -> bool:
    if target.startswith("os.environ."):
        return False
    return classify_name(target) == ("determinism", "seed")


def _cudnn_meaning(target: str, old, new) -> str:
    value = new.literal if new is not None else _CUDNN_FLAGS.get(target)
    flag = target.rsplit(".", 1)[-1]
    if flag == "benchmark":
        return ": cuDNN autotuning on (faster, picks algorithms nondeterministically)" if value is True else \
            ": cuDNN autotuning off" if value is False else ""
    if flag == "deterministic":
        return ": deterministic cuDNN kernels (reproducible, slower)" if value is True else \
            ": cuDNN may pick nondeterministic kernels" if value is False else ""
    if flag == "enabled":
        return ": cuDNN disabled (slow, native kernels)" if value is False else ""
    return ""


class CudnnFlagsChanged(SettingRule, Rule):
    """``torch.backends.cudnn.benchmark`` / ``deterministic`` / ``enabled`` was set, changed, removed or
    moved under another condition (or a setting that feeds them, such as ``cudnn_benchmark``).

    ``benchmark = True`` lets cuDNN time several convolution algorithms and keep the fastest:
    faster for fixed input shapes, but the choice (and so the numerics) can differ between runs.
    ``deterministic = True`` restricts cuDNN to deterministic kernels: reproducible and slower.
    Check that seeded, reproducible runs still turn benchmark off and deterministic on, and that
    throughput comparisons use the same setting.
    """

    code = "ML702"
    family = "determinism"
    name = "cudnn-flags"
    summary = "cuDNN benchmark / deterministic / enabled flag set, changed, removed or made conditional"
    topics = ("deterministic_flag",)
    examples = (
        Example(
            before="import torch.backends.cudnn as cudnn\nnet = Net()\n",
            after="import torch.backends.cudnn as cudnn\nnet = Net()\ncudnn.benchmark = True\n",
            expect=(Expect(3, "cudnn.benchmark = True set: cuDNN autotuning on"),),
        ),
        Example(
            before="import torch\ntorch.backends.cudnn.deterministic = True\ntrain()\n",
            after="import torch\ntrain()\n",
            expect=(Expect(2, "torch.backends.cudnn.deterministic = True removed"),),
        ),
        Example(
            before="import torch.backends.cudnn as cudnn\nif args.seed is not None:\n    cudnn.deterministic = True\n"
                   "x = 1\ncudnn.benchmark = True\n",
            after="import torch.backends.cudnn as cudnn\nif args.seed is not None:\n    cudnn.deterministic = True\n"
                  "    cudnn.benchmark = False\nx = 1\n",
            expect=(Expect(4, "cudnn.benchmark True -> False"),),
        ),
        Example(
            before="cudnn_benchmark = True\n",
            after="cudnn_benchmark = False\n",
            expect=(Expect(1, "cudnn_benchmark True -> False"),),
        ),
        Example(  # the same flag, reformatted and commented
            before="import torch\ntorch.backends.cudnn.benchmark = True\n",
            after="import torch\ntorch.backends.cudnn.benchmark = (True)  # speed\n",
        ),
        Example(  # a local attribute that happens to be called benchmark
            before="class Args:\n    pass\nargs = Args()\nargs.benchmark_name = 'a'\n",
            after="class Args:\n    pass\nargs = Args()\nargs.benchmark_name = 'b'\n",
        ),
        Example(  # moved with the same value and no condition
            before="import torch.backends.cudnn as cudnn\ncudnn.benchmark = True\nx = 1\n",
            after="import torch.backends.cudnn as cudnn\nx = 1\ncudnn.benchmark = True\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        name = value_change.name.lower()
        if value_change.kind != "binding" or is_inert_option(value_change):
            return False
        if _is_cudnn_target(ctx, value_change.name):
            return False  # reported structurally below
        return "benchmark" in name or "cudnn" in name

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        pairs = binding_changes(ctx, lambda target: target in _CUDNN_FLAGS, _CUDNN_PATTERN)
        yield from report_binding_changes(self, ctx, pairs, _cudnn_meaning)


def _is_cudnn_target(ctx: Context, name: str) -> bool:
    """``cudnn.benchmark`` resolved through the file's imports (in config files: by its spelling)."""
    views = (ctx.head, ctx.base) if isinstance(ctx, PythonContext) else ()
    return name.startswith(("torch.backends.", "cudnn.")) or \
        any(resolved_target(view, name).startswith("torch.backends.") for view in views)


def _is_deterministic_call(qualname: str, call, view) -> bool:
    return qualname in _DETERMINISTIC_CALLS


def _is_environ_setdefault(qualname: str, call, view) -> bool:
    if qualname not in ("os.environ.setdefault", "os.putenv"):
        return False
    first = call.args[0].literal if call.args else None
    return isinstance(first, str) and first in _DETERMINISM_ENV


def _is_determinism_env(target: str) -> bool:
    return target.startswith("os.environ.") and target.rsplit(".", 1)[-1] in _DETERMINISM_ENV


class DeterministicAlgorithmsChanged(SettingRule, Rule):
    """Deterministic execution changed: ``torch.use_deterministic_algorithms`` added, removed or
    changed; ``CUBLAS_WORKSPACE_CONFIG`` / ``PYTHONHASHSEED`` set or changed in ``os.environ``; or
    a ``deterministic`` setting flipped.

    ``use_deterministic_algorithms(True)`` makes nondeterministic CUDA kernels raise (or warn),
    and cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (or ``:16:8``) to comply; without them
    two runs with the same seed still differ. Turning it on can slow training or make it fail on
    an operation without a deterministic implementation. Check both settings together.
    """

    code = "ML703"
    family = "determinism"
    name = "deterministic-algorithms"
    summary = "Deterministic algorithms, CUBLAS_WORKSPACE_CONFIG or PYTHONHASHSEED changed"
    topics = ("deterministic_flag",)
    examples = (
        Example(
            before="import torch\ntrain()\n",
            after="import torch\ntorch.use_deterministic_algorithms(True)\ntrain()\n",
            expect=(Expect(2, "deterministic algorithms added: torch.use_deterministic_algorithms(True)"),),
        ),
        Example(
            before="import torch\ntorch.use_deterministic_algorithms(True)\n",
            after="import torch\ntorch.use_deterministic_algorithms(True, warn_only=True)\n",
            expect=(Expect(2, "warn_only (not set) -> True"),),
        ),
        Example(
            before="import os\nos.environ['CUBLAS_WORKSPACE_CONFIG'] = ':4096:8'\n",
            after="import os\n",
            expect=(Expect(1, "os.environ['CUBLAS_WORKSPACE_CONFIG'] = ':4096:8' removed"),),
        ),
        Example(
            before="import os\n",
            after="import os\nos.environ['PYTHONHASHSEED'] = str(seed)\n",
            expect=(Expect(2, "os.environ['PYTHONHASHSEED'] = str(seed) set"),),
        ),
        Example(
            before="deterministic = False\n",
            after="deterministic = True\n",
            expect=(Expect(1, "deterministic False -> True"),),
        ),
        Example(  # another environment variable
            before="import os\nos.environ['WANDB_MODE'] = 'offline'\n",
            after="import os\nos.environ['WANDB_MODE'] = 'online'\n",
        ),
        Example(  # the same call, reformatted
            before="import torch\ntorch.use_deterministic_algorithms(True)\n",
            after="import torch\ntorch.use_deterministic_algorithms(mode=True)  # reproducible\n",
        ),
    )

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        name = value_change.name.lower()
        if value_change.kind != "binding" or is_inert_option(value_change):
            return False
        if _is_cudnn_target(ctx, value_change.name):
            return False
        if value_change.name.startswith(("os.environ.", "environ.")):
            return False
        return "benchmark" not in name and "cudnn" not in name

    def structural(self, ctx: PythonContext) -> Iterator[Finding]:
        changes = call_changes(ctx, _is_deterministic_call, _DETERMINISTIC_PATTERN)
        changes += call_changes(ctx, _is_environ_setdefault, _DETERMINISTIC_PATTERN)
        yield from report_call_changes(self, ctx, changes, "deterministic algorithms")
        pairs = binding_changes(ctx, _is_determinism_env, _DETERMINISTIC_PATTERN)
        yield from report_binding_changes(self, ctx, pairs, lambda *a: "")


class WorkerSeedingChanged(SettingRule, Rule):
    """How DataLoader workers are seeded changed: ``worker_init_fn`` or ``generator`` added, removed
    or replaced.

    Each worker process draws its own random numbers for augmentation. Without a
    ``worker_init_fn`` that seeds NumPy and ``random`` from ``torch.initial_seed()``, older PyTorch
    and NumPy-based augmentation repeat the same random stream in every worker; without a seeded
    ``generator`` the shuffle order is not reproducible. Check that seeded runs still pass both.
    """

    code = "ML704"
    family = "determinism"
    name = "worker-seeding"
    summary = "DataLoader worker_init_fn or generator added, removed or changed"
    topics = ("worker_seed",)
    examples = (
        Example(
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, batch_size=32)\n",
            after="from torch.utils.data import DataLoader\n"
                  "loader = DataLoader(ds, batch_size=32, worker_init_fn=seed_worker, generator=g)\n",
            expect=(Expect(2, "DataLoader worker_init_fn set to seed_worker"),
                    Expect(2, "DataLoader generator set to g")),
        ),
        Example(
            before="import torch\nloader = torch.utils.data.DataLoader(ds, generator=g, num_workers=4)\n",
            after="import torch\nloader = torch.utils.data.DataLoader(ds, num_workers=4)\n",
            expect=(Expect(2, "DataLoader generator g removed"),),
        ),
        Example(  # generator passed by another name after a consistent rename
            before="import torch\ng = torch.Generator()\nloader = torch.utils.data.DataLoader(ds, generator=g)\n",
            after="import torch\ngen = torch.Generator()\nloader = torch.utils.data.DataLoader(ds, generator=gen)\n",
        ),
        Example(  # reformatted
            before="from torch.utils.data import DataLoader\nloader = DataLoader(ds, worker_init_fn=seed_worker)\n",
            after="from torch.utils.data import DataLoader\nloader = DataLoader(\n    ds,\n    worker_init_fn=seed_worker,\n)\n",
        ),
    )
