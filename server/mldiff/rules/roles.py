"""What a value means for training, by where it goes or what it is called.

A value's role comes from the API parameter it is passed to (``SGD(params, 0.1)``:
0.1 is the SGD learning rate) or, for settings defined apart from their use
(module constants, argparse defaults, config dicts, dataclass fields, YAML keys),
from a hyperparameter name (``learning_rate``, ``n_layer``) or from where the name
flows (``base = 3e-4`` ... ``Adam(lr=base)``). ``value_changes`` pairs base and head
and lists every changed value with its family and topic; each family's rule reports
the topics it owns, so the logic lives once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mldiff.analysis import apis
from mldiff.analysis.change import PythonChange
from mldiff.analysis.values import NOT_LITERAL, Value, contrast, rename_key, shorten
from mldiff.findings import Related, Span
from mldiff.rules.common import (CallSite, argument_changes, base_line, binding_base_line, binding_span, flows,
                                 pair, pair_bindings, call_sites, short_name, site_span)

# name pattern (lowercase, whole name) -> (family, topic)
_NAME_TOPICS: list[tuple[str, str, str]] = [
    (r"(?:lr_?decay\w*|decay_lr|lr_?sched\w*|scheduler|sched|lr_?policy|warmup\w*|\w*_warmup\w*|cosine\w*|"
     r"lr_?min|min_?lr|lr_?decay_?iters|lr_?gamma|lr_?step\w*|lr_?milestones?)", "learning_rate", "schedule"),
    (r"(?:lr|learning_?rate|lr\d|base_?lr|max_?lr|init_?lr|initial_?lr|peak_?lr|final_?lr|end_?lr|"
     r"start_?lr|blr|\w+_lr|lr_\w+)", "learning_rate", "lr"),
    (r"(?:grad(?:ient)?_?accum\w*|accum(?:ulation)?_?(?:steps|iter|iters)?|accumulate_grad_batches|update_freq)",
     "batch_size", "accumulation"),
    (r"(?:batch_?size|bs|\w+_batch_?size|batch_?size_\w+|batchsize|micro_?batch\w*|global_?batch\w*|"
     r"tokens_per_batch|max_tokens)", "batch_size", "batch"),
    (r"(?:weight_?decay|wd|momentum|beta[12]|betas|adam_(?:beta[12]?|betas|eps|epsilon|weight_decay|wd)|"
     r"nesterov|amsgrad|optim(?:izer)?_?eps|"
     r"no_?decay\w*|fused|use_fused|foreach|use_foreach)", "optimizer", "optimizer_hparam"),
    (r"(?:optimizer|optim|opt|optimizer_?(?:name|type|cls|class))", "optimizer", "optimizer_choice"),
    (r"(?:\w*drop_?out\w*|drop_?rate|\w+_drop|\w*_?pdrop|p_?drop|drop_?path\w*|drop_?block\w*|attn_?drop\w*|"
     r"proj_?drop\w*|stochastic_depth\w*)", "regularization", "dropout"),
    (r"(?:mixup\w*|cutmix\w*|rand_?aug\w*|auto_?aug\w*|aa|reprob|re_?prob|color_?jitter|hflip|vflip|"
     r"augment\w*|\w+_aug|aug_\w+|random_?erasing\w*|trivial_?aug\w*|scale_?jitter)", "regularization",
     "augmentation"),
    (r"(?:label_?smoothing|smoothing|focal_\w+|pos_?weight|class_?weights?|ignore_?index)", "loss", "loss_arg"),
    # ``loss`` alone is the loss value, not a setting; these name a loss only when they hold a string choice
    (r"(?:loss_?(?:fn|func|function|type|name)|criterion)", "loss", "loss_choice"),
    (r"(?:pythonhashseed|cublas_workspace_config)", "determinism", "deterministic_flag"),
    (r"(?:\w*seed|seed_\w+|seeds|random_?state)", "determinism", "seed"),
    (r"(?:deterministic|cudnn_?deterministic|cudnn_?benchmark|benchmark|use_deterministic\w*)",
     "determinism", "deterministic_flag"),
    (r"(?:allow_tf32|tf32|\w+_tf32|allow_\w+_reduced_precision_reduction)", "precision", "tf32"),
    (r"(?:dtype|\w+_dtype|dtype_\w+|precision|\w+_precision|amp|use_amp|amp_\w+|fp16|bf16|fp32|half|"
     r"mixed_?precision|autocast|use_autocast|use_fp16|use_bf16|mixed_?prec\w*)",
     "precision", "dtype"),
    (r"(?:compile|use_compile|torch_compile|compile_\w+|\w+_compile)", "compile_distributed", "compile"),
    (r"(?:ddp|use_ddp|fsdp|use_fsdp|sync_?bn|syncbn|strategy|find_unused_parameters|data_?parallel|"
     r"distributed|dist_backend|tensor_?parallel\w*|tp_size|dp_size|pp_size|zero_?stage)",
     "compile_distributed", "distributed"),
    (r"(?:gpus?|gpu_?ids?|device_?ids|cuda_visible_devices|n_?gpus?|num_?gpus)",
     "compile_distributed", "devices"),
    (r"(?:device|device_?name)", "compile_distributed", "device_choice"),
    (r"(?:\w*shuffle\w*)", "data_pipeline", "shuffle"),
    (r"(?:sampler|(?:train|val|valid|test|eval|batch|data|random|weighted)_?sampler|sampler_?(?:type|name))",
     "data_pipeline", "sampler"),
    (r"(?:drop_?last)", "data_pipeline", "drop_last"),
    (r"(?:num_?workers|workers|\w+_workers|pin_?memory|persistent_?workers|prefetch_?factor)",
     "data_pipeline", "loader"),
    (r"(?:train_?split|val_?split|valid\w*_split|test_?split|split_?ratio|val_?ratio|val_?frac\w*|"
     r"train_?frac\w*|train_?ratio|holdout\w*|subset\w*|data_?fraction|max_?samples|num_?samples|"
     r"train_?size|val_?size|test_?size)", "data_pipeline", "split"),
    (r"(?:n_?layers?|num_?layers|num_?hidden_?layers|depth|n_?heads?|num_?heads|nhead|num_?attention_?heads|"
     r"n_?kv_?heads?|num_?key_?value_?heads|n_?embd|embed_?dim|embedding_?dim|d_?model|hidden_?size|"
     r"hidden_?dim|d_?ff|ffn_?dim|dim_?feedforward|intermediate_?size|mlp_?ratio|block_?size|"
     r"context_?length|context_?len|seq_?len|max_?seq_?len\w*|max_?len|max_?length|n_?ctx|"
     r"max_?position_?embeddings|n_?positions|width|channels|base_?channels|n_?channels|num_?channels|"
     r"num_?filters|n_?filters|growth_?rate|widen_?factor|width_?mult\w*|vocab_?size|n_?experts|"
     r"num_?experts|latent_?dim|z_?dim|nz|ngf|ndf|nhid|ninp|emsize|nlayers)", "model_capacity", "size"),
    (r"(?:arch|model_?name|model_?type|architecture|backbone|net|network|model)", "model_capacity",
     "architecture"),
    (r"(?:grad_?clip\w*|clip_?grad\w*|max_?grad_?norm|gradient_?clip\w*|clip_?norm|grad_?norm_?clip|"
     r"clip_?value)", "training_loop", "clipping"),
]
_COMPILED = [(re.compile(pattern + r"$"), family, topic) for pattern, family, topic in _NAME_TOPICS]
# Names that only mean something when their value is a string choice ("adamw", "resnet50")
_STRING_ONLY_TOPICS = {"optimizer_choice", "architecture", "device_choice", "loss_choice"}


def classify_name(name: str, value: Any = NOT_LITERAL) -> tuple[str, str] | None:
    """(family, topic) of a hyperparameter called ``name`` (last dotted component)."""
    role = _name_role(name.rsplit(".", 1)[-1])
    if role is not None and role[1] in _STRING_ONLY_TOPICS and not isinstance(value, str):
        return None
    return role


@lru_cache(maxsize=16384)
def _name_role(last: str) -> tuple[str, str] | None:
    key = last.lower().lstrip("_")
    if key.startswith("--"):
        key = key[2:].replace("-", "_")
    for pattern, family, topic in _COMPILED:
        if pattern.match(key):
            return family, topic
    return None


_IGNORED_PARAMETERS = {"input", "target", "params", "optimizer", "module", "model", "dataset", "tensor",
                       "parameters", "query", "key", "value", "#0", "verbose", "model_or_params"}


def classify_argument(qualname: str, param: str) -> tuple[str, str] | None:
    """(family, topic) of argument ``param`` of a call to ``qualname``."""
    if param in _IGNORED_PARAMETERS or param.startswith("**"):
        return None
    q = apis.canonical(qualname)
    last = q.rsplit(".", 1)[-1]
    if apis.is_optimizer(q):
        if param in ("opt", "optimizer_name", "opt_name"):  # timm's create_optimizer_v2(model, opt='adamw')
            return "optimizer", "optimizer_choice"
        if param.startswith("#"):  # a position the signature table does not name (the params, usually)
            return None
        return ("learning_rate", "lr") if param == "lr" else ("optimizer", "optimizer_hparam")
    if apis.is_scheduler(q):
        return "learning_rate", "schedule"
    if apis.is_dataloader(q) or last == "DistributedSampler":
        if param == "batch_size":
            return "batch_size", "batch"
        if param in ("worker_init_fn", "generator"):
            return "determinism", "worker_seed"
        if param == "seed":
            return "determinism", "seed"
        if param == "shuffle":
            return "data_pipeline", "shuffle"
        if param in ("sampler", "batch_sampler"):
            return "data_pipeline", "sampler"
        if param == "drop_last":
            return "data_pipeline", "drop_last"
        if param in ("num_workers", "pin_memory", "persistent_workers", "prefetch_factor"):
            return "data_pipeline", "loader"
        return None
    if q in ("torch.utils.data.random_split", "torch.utils.data.Subset"):
        if param == "generator":
            return "determinism", "seed"
        return ("data_pipeline", "split") if param in ("lengths", "indices") else None
    if q in apis.SAMPLERS:
        if param in ("generator", "seed"):
            return "determinism", "seed"
        if param == "drop_last":
            return "data_pipeline", "drop_last"
        if param in ("replacement", "num_samples", "weights", "shuffle"):
            return "data_pipeline", "shuffle" if param == "shuffle" else "sampler"
        return None
    if apis.is_dropout(q) or param in ("dropout_p",) or (param == "dropout" and q.startswith("torch.nn.")):
        return ("regularization", "dropout") if param in ("p", "dropout_p", "dropout", "drop_prob") else None
    if apis.is_norm_layer(q):
        if param in ("eps", "momentum", "affine", "elementwise_affine", "bias", "track_running_stats"):
            return "normalization", "norm_arg"
        return None
    if apis.is_loss(q):
        return "loss", "loss_arg"
    if q in apis.SEEDS:
        return "determinism", "seed"
    if q in ("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_") or last in (
            "clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"):
        return ("training_loop", "clipping") if param in ("max_norm", "clip_value", "norm_type", "#1") else None
    if q in apis.COMPILE:
        return "compile_distributed", "compile"
    if q in ("torch.distributed.tensor.parallel.parallelize_module", "torch.distributed.device_mesh.init_device_mesh"):
        return "compile_distributed", "tensor_parallel"
    if q in apis.DISTRIBUTED_WRAPPERS or last in ("DistributedDataParallel", "DataParallel",
                                                  "FullyShardedDataParallel"):
        if param in ("device_ids", "output_device"):
            return "compile_distributed", "devices"
        return "compile_distributed", "distributed"
    if q == "torch.distributed.init_process_group":
        return ("compile_distributed", "distributed") if param in ("backend", "world_size") else None
    if q.startswith("torch.nn.") and last in ("Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding", "LSTM", "GRU",
                                              "RNN", "MultiheadAttention", "Transformer", "TransformerEncoder",
                                              "TransformerEncoderLayer", "TransformerDecoderLayer", "LSTMCell",
                                              "GRUCell", "RNNCell", "ConvTranspose1d", "ConvTranspose2d",
                                              "ConvTranspose3d"):
        if param in ("dropout",):
            return "regularization", "dropout"
        if param in ("in_features", "out_features", "in_channels", "out_channels", "num_embeddings",
                     "embedding_dim", "hidden_size", "num_layers", "embed_dim", "num_heads", "d_model", "nhead",
                     "dim_feedforward", "num_encoder_layers", "num_decoder_layers", "input_size"):
            return "model_capacity", "size"
    if q == "torch.set_float32_matmul_precision":
        return None  # ML104 reports it with its own wording
    if apis.is_autocast(q):
        return ("precision", "dtype") if param in ("dtype", "enabled") else None
    return None


@dataclass(frozen=True)
class ValueChange:
    """One value whose meaning changed, with what it is (``subject``) and where it goes."""

    family: str
    topic: str
    subject: str                 # "SGD lr", "learning_rate", "--lr default"
    old: Value | None
    new: Value | None
    span: Span
    base_line: int | None
    related: tuple[Related, ...] = ()
    flow: str = ""               # ", used as Adam lr at line 88"
    kind: str = "argument"       # argument | binding
    name: str = ""               # the parameter ("lr") or the bound name ("args.lr", "cudnn.benchmark")
    origin: str = ""             # the callee's qualified name, or the binding kind (assign, argparse, ...)

    def describe(self) -> str:
        if self.old is not None and self.new is not None:
            old, new = contrast(self.old.code, self.new.code)
            return f"{self.subject} {old} -> {new}{self.flow}"
        if self.new is not None:
            return f"{self.subject} set to {_show(self.new)}{self.flow}"
        return f"{self.subject} {_show(self.old)} removed{self.flow}"


def _show(value: Value | None) -> str:
    if value is None:
        return "(unset)"
    return shorten(value.code, 48)


VALUE_FILE_KINDS = ("python", "yaml", "json", "toml", "notebook")


def value_changes(change) -> list[ValueChange]:
    """Every changed argument and hyperparameter binding, computed once per change.
    Non-Python changes (config files) provide their own ``value_changes()``."""
    if not isinstance(change, PythonChange):
        own = getattr(change, "value_changes", None)
        return own() if own is not None else []
    cached = getattr(change, "_value_changes", None)
    if cached is None:
        cached = _argument_value_changes(change) + _binding_value_changes(change)
        change._value_changes = cached
    return cached


def _category(qualname: str) -> str | None:
    if apis.is_optimizer(qualname):
        return "optimizer"
    if apis.is_scheduler(qualname):
        return "scheduler"
    if apis.is_dataloader(qualname):
        return "dataloader"
    if apis.is_loss(qualname):
        return "loss"
    if apis.is_dropout(qualname):
        return "dropout"
    if apis.is_norm_layer(qualname):
        return "norm:" + qualname
    return qualname


def _known_call(qualname: str, call, view) -> bool:
    return bool(apis.parameters(qualname)) or apis.is_optimizer(qualname) or apis.is_scheduler(qualname) \
        or apis.is_loss(qualname) or apis.is_norm_layer(qualname)


def _argument_value_changes(change: PythonChange) -> list[ValueChange]:
    base = call_sites(change, "base", _known_call)
    head = call_sites(change, "head", _known_call)
    out: list[ValueChange] = []
    key = lambda site: (_category(site.qualname), change.view(site.side).scope_names(site.index))  # noqa: E731
    pairs = pair(base, head, key, lambda b, h: b.qualname == h.qualname and not argument_changes(change, b, h))
    for base_site, head_site in pairs:
        if base_site is None or head_site is None:
            continue
        for param, old, new in argument_changes(change, base_site, head_site):
            if (new is None and head_site.call.star_kwargs) or (old is None and base_site.call.star_kwargs):
                continue  # moved into (or out of) a **kwargs dict: its value is compared where the dict is built
            role = classify_argument(head_site.qualname, param) or classify_argument(base_site.qualname, param)
            if role is None:
                continue
            if (old is None and base_site.call.star_kwargs) or (new is None and head_site.call.star_kwargs):
                continue  # the keyword may come through **kwargs on the side that seems to lack it
            if _same_after_resolving(change, old, new):
                continue
            subject = f"{short_name(head_site.qualname)} {param}"
            out.append(ValueChange(role[0], role[1], subject, old, new, _value_span(change, head_site, new),
                                   base_line(change, base_site), kind="argument", name=param,
                                   origin=head_site.qualname))
    return out


def _value_span(change: PythonChange, site: CallSite, value: Value | None) -> Span:
    if value is not None and value.node is not None:
        return change.head.span(site.index, value.node)
    return site_span(change, site)


def resolve_literal(view, value: Value | None) -> Any:
    """The constant a value stands for: itself if literal, else a module constant, argparse
    default or config entry it names (when the file binds it exactly once to a literal)."""
    if value is None:
        return NOT_LITERAL
    if value.is_literal:
        return value.literal
    node = value.node
    name = None
    from mldiff.analysis.values import dotted_name
    if node is not None:
        name = dotted_name(node)
    if not name or "(" in name or "[" in name:
        return NOT_LITERAL
    definitions = view.definitions(name)
    literals = [b.value.literal for _, b in definitions if b.value is not None and b.value.is_literal]
    if len(definitions) == 1 and len(literals) == 1:
        return literals[0]
    return NOT_LITERAL


def _same_after_resolving(change: PythonChange, old: Value | None, new: Value | None) -> bool:
    """``lr=LR`` -> ``lr=args.lr`` is no change when both name the same constant; two plain
    references we cannot resolve are treated as a refactor, not a value change."""
    if old is None or new is None:
        return False
    old_literal = resolve_literal(change.base, old)
    new_literal = resolve_literal(change.head, new)
    old_dtype, new_dtype = _dtype_name(change.base, old, old_literal), _dtype_name(change.head, new, new_literal)
    if old_dtype is not None and new_dtype is not None:
        return old_dtype == new_dtype
    if old_literal is not NOT_LITERAL and new_literal is not NOT_LITERAL:
        from mldiff.analysis.values import _literal_equal
        return _literal_equal(old_literal, new_literal)
    old_name, new_name = _reference(change.base, old), _reference(change.head, new)
    if old_name is not None and new_name is not None:
        if old_name[1] and new_name[1]:  # both name things of imported modules: torch.float16
            return old_name[0] == new_name[0]
        if old_literal is NOT_LITERAL or new_literal is NOT_LITERAL:
            return True
    return same_when_inlined(change, old, new)


def same_when_inlined(change: PythonChange, old: Value, new: Value) -> bool:
    """``old`` and ``new`` read the same once the variables one side introduces are read
    through (a variable extracted or inlined by the change)."""
    return _inlined_key(change, "head", new) == rename_key(old.key, change.renames) \
        or _inlined_key(change, "base", old) == new.key


def _inlined_key(change: PythonChange, side: str, value: Value) -> str | None:
    """``value``'s key with each name that this side introduces (binds exactly once, the other side
    never) replaced by its definition: ``get_rank(dp_pg)`` with ``dp_pg = mesh.get_group(0)`` reads
    as ``get_rank(mesh.get_group(0))``, so extracting a variable is no change."""
    import ast
    if value.is_literal or not value.names or len(value.names) > 24:
        return None
    view, other_view = change.view(side), change.view("base" if side == "head" else "head")
    # A name this side introduces is bound by a touched statement here and by none of the other
    # side's touched statements (a binding in untouched code stands on both sides); visit_Name
    # then checks the whole files.
    here, there = change.bound_names(side), change.bound_names("base" if side == "head" else "head")

    def fresh(name: str) -> bool:
        return name in here and name not in there

    if not any(fresh(name) for name in value.names if "." not in name):
        return None
    try:
        tree = ast.parse(value.code, mode="eval")
    except (SyntaxError, ValueError):
        return None
    inlined = False

    class Inline(ast.NodeTransformer):
        depth = 0

        def visit_Name(self, node: ast.Name):
            nonlocal inlined
            if not fresh(node.id):
                return node
            definitions = view.definitions(node.id)
            if len(definitions) != 1 or definitions[0][1].value is None or other_view.definitions(node.id) \
                    or self.depth >= 3:
                return node
            try:
                replacement = ast.parse(definitions[0][1].value.code, mode="eval").body
            except (SyntaxError, ValueError):
                return node
            inlined = True
            self.depth += 1
            replacement = self.visit(replacement)  # `dataset1 = MNIST(..., transform=transform)`, and transform's
            self.depth -= 1
            return replacement

    body = Inline().visit(tree.body)
    return ast.dump(body, annotate_fields=False) if inlined else None


_DTYPES = {"float16": "float16", "half": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float32": "float32", "float": "float32", "fp32": "float32", "float64": "float64", "double": "float64"}


def _dtype_name(view, value: Value, literal: Any) -> str | None:
    """``torch.bfloat16``, ``'bfloat16'`` and ``'bf16'`` all name bfloat16."""
    if isinstance(literal, str):
        return _DTYPES.get(literal.lower())
    reference = _reference(view, value)
    if reference is not None and reference[0].startswith("torch."):
        return _DTYPES.get(reference[0][len("torch."):])
    return None


def _reference(view, value: Value) -> tuple[str, bool] | None:
    """(resolved dotted name, whether it names something of an imported module) for a
    plain reference such as ``args.lr`` or ``torch.float16``; None for other expressions."""
    from mldiff.analysis.values import dotted_name
    node = value.node
    if node is None or value.is_literal:  # None / True / False are values, not references
        return None
    name = dotted_name(node)
    if not name or "(" in name or "[" in name:
        return None
    root = name.split(".", 1)[0]
    return view.resolve(name), root in view.aliases


# ``wandb.config.batch_size = 128`` records a setting for the experiment tracker; it trains nothing
_LOGGING_ROOTS = frozenset({"wandb", "mlflow", "writer", "tb_writer", "logger", "neptune", "run", "experiment"})


def _binding_value_changes(change: PythonChange) -> list[ValueChange]:
    out: list[ValueChange] = []
    leaves: list[str] = []
    renames = change.renames
    for base_site, head_site in pair_bindings(change, lambda b: b.target.split(".", 1)[0] not in _LOGGING_ROOTS):
        site = head_site or base_site
        binding = site.binding
        old = base_site.binding.value if base_site else None
        new = head_site.binding.value if head_site else None
        if base_site and head_site:
            if old is None or new is None or old.same_as(new, renames):
                continue
            if _same_after_resolving(change, old, new):
                continue
        elif head_site is not None:
            if new is None or binding.kind == "param" or head_site.binding.kind == "augassign":
                continue
            if not new.is_literal or not _is_setting(change.head, head_site):
                continue
            if new.literal is None or (binding.kind == "argparse" and new.literal in (False, "")):
                continue  # a new option that is off by default changes nothing yet
            # the same setting still bound elsewhere on the base side: a move, not an addition
            if any(b.value is not None and b.value.same_as(new, renames)
                   for _, b in change.base.definitions(binding.target)):
                continue
        else:
            if old is None or binding.kind in ("param", "augassign") or not old.is_literal \
                    or not _is_setting(change.base, base_site):
                continue
            if change.head.definitions(binding.target):
                continue
        if _is_api_call(change.base, old) or _is_api_call(change.head, new):
            continue  # its arguments are paired call by call; class swaps are structural rules' business
        literal = (new if new is not None else old).literal
        role = classify_name(binding.target, literal)
        uses = flows(change, head_site) if head_site is not None else []
        if role is None:
            for related, call_site, param in uses:
                role = classify_argument(call_site.qualname, param)
                if role:
                    break
        if role is None:
            continue
        if base_site is None and _extracted_constant(change, uses, new):
            continue
        subject = _binding_subject(site)
        flow = ""
        if uses:
            related = uses[0][0]
            flow = f", {related.message} at line {related.span.line}"
        span = binding_span(change, head_site) if head_site else binding_span(change, base_site)
        out.append(ValueChange(role[0], role[1], subject, old, new, span,
                               binding_base_line(change, base_site),
                               tuple(u[0] for u in uses), flow, kind="binding", name=binding.target,
                               origin=binding.kind))
        leaves.append(binding.name)
    return _without_moves(change, out, leaves)


def _without_moves(change: PythonChange, changes: list[ValueChange], leaves: list[str]) -> list[ValueChange]:
    """A setting removed in one place and bound, same name and value, in another (``GPTConfig.dropout``
    -> ``C.dropout`` when a dataclass becomes a config function, ``TrainerConfig.batch_size`` -> a
    ``batch_size=64`` parameter default) is a move, not a change."""
    removed = [i for i, c in enumerate(changes) if c.new is None and c.old is not None and c.old.is_literal]
    added = [i for i, c in enumerate(changes) if c.old is None and c.new is not None and c.new.is_literal]
    if not removed and not added:
        return changes
    from mldiff.analysis.values import _literal_equal

    def touched_literals(side: str) -> list[tuple[str, Any]]:
        view = change.view(side)
        return [(b.name, b.value.literal) for i in change.touched(side) for b in view.facts(i).bindings
                if b.value is not None and b.value.is_literal]

    head_bound = touched_literals("head") if removed else []
    base_bound = touched_literals("base") if added else []
    dropped: set[int] = set()
    for i in removed:
        if any(name == leaves[i] and _literal_equal(value, changes[i].old.literal) for name, value in head_bound):
            dropped.add(i)
    for j in added:
        if any(name == leaves[j] and _literal_equal(value, changes[j].new.literal) for name, value in base_bound):
            dropped.add(j)
    return [c for k, c in enumerate(changes) if k not in dropped]


def _is_api_call(view, value: Value | None) -> bool:
    """``nn.Dropout(0.1)``, ``optim.SGD(...)``: a call of an API whose arguments ``value_changes`` compares."""
    node = value.node if value is not None else None
    if node is None or node.__class__.__name__ != "Call":
        return False
    from mldiff.analysis.values import dotted_name
    callee = dotted_name(node.func)
    if not callee:
        return False
    return _known_call(apis.canonical(view.resolve(callee)), None, view)


def _extracted_constant(change: PythonChange, uses, new: Value) -> bool:
    """``seed = 1337`` added where ``manual_seed(1337)`` became ``manual_seed(seed)``: the literal
    moved into a name, and the call it feeds had that very value on the base side."""
    from mldiff.analysis.values import _literal_equal
    for _, call_site, param in uses:
        for base_site in call_sites(change, "base", lambda q, c, v: q == call_site.qualname):
            old = apis.arguments(base_site.call, base_site.qualname).get(param)
            if old is not None and old.is_literal and _literal_equal(old.literal, new.literal):
                return True
    return False


def _is_setting(view, site) -> bool:
    """A setting (module constant, class field, argparse option, config entry), as opposed
    to a function's local variable, whose appearance or disappearance is a refactor."""
    if site.binding.kind in ("argparse", "dict_key"):
        return True
    return view.enclosing_def(site.index) < 0


def _binding_subject(site) -> str:
    binding = site.binding
    if binding.kind == "argparse":
        return f"--{binding.target.split('.', 1)[1]} default"
    if binding.kind == "param" and site.scope:
        return f"{site.scope[-1]}({binding.target}=...) default"
    if site.scope and binding.kind in ("annassign", "assign") and "." not in binding.target:
        return f"{site.scope[-1]}.{binding.target}"
    return binding.target


class ValueRule:
    """Mixin for rules that report changed values of some topics (see ``value_changes``).

    Subclasses set ``topics`` and, if they like, ``subject_prefix`` (e.g. "learning rate")."""

    topics: tuple[str, ...] = ()
    file_kinds = VALUE_FILE_KINDS
    severity_by_topic: dict[str, str] = {}

    def selected(self, change) -> list[ValueChange]:
        """The value changes this rule reports."""
        return [value_change for value_change in value_changes(change)
                if value_change.family == self.family and value_change.topic in self.topics
                and self.accepts(change, value_change)]

    def check(self, change):
        for value_change in self.selected(change):
            yield self.report(
                change, value_change.span, self.message_for(change, value_change),
                base_line=value_change.base_line,
                before=value_change.old.code if value_change.old is not None else None,
                after=value_change.new.code if value_change.new is not None else None,
                related=value_change.related,
                severity=self.severity_for(change, value_change),
            )

    def severity_for(self, change, value_change: ValueChange) -> str | None:
        """None: the rule's own severity."""
        return self.severity_by_topic.get(value_change.topic)

    def accepts(self, change, value_change: ValueChange) -> bool:
        """A further filter for subclasses that share a topic with a structural check."""
        return True

    def message_for(self, change, value_change: ValueChange) -> str:
        """The message; subclasses that need the change itself (e.g. to say where a setting
        is read) override this, the rest override ``message``."""
        return self.message(value_change)

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe()


def is_inert_option(value_change: ValueChange) -> bool:
    """A command-line option added with no default (or a ``store_true`` flag): nothing changes
    until someone passes it, so the option alone is no change of training."""
    return (value_change.origin == "argparse" and value_change.old is None and value_change.new is not None
            and (value_change.new.literal is None or value_change.new.literal is False))


class SettingRule(ValueRule):
    """A ValueRule with a structural part (``structural``, Python files only) that skips options
    added without a default and settings only renamed, shows long values around where they
    differ, and says which ``if`` a changed setting decides when it feeds no call (``compile =
    True`` ... ``if compile:``)."""

    def structural(self, change: PythonChange):
        return ()

    def check(self, change):
        yield from super().check(change)
        if isinstance(change, PythonChange):
            yield from self.structural(change)

    def selected(self, change) -> list[ValueChange]:
        chosen = super().selected(change)
        return _without_renamed_settings(change, chosen) if isinstance(change, PythonChange) else chosen

    def accepts(self, change, value_change: ValueChange) -> bool:
        if is_inert_option(value_change):
            return False
        if value_change.kind == "binding" and (value_change.old is None) != (value_change.new is None) and \
                _placeholder((value_change.new or value_change.old).literal):
            return False  # `sampler = None`, `gpus = {}` added or dropped: a placeholder, not a setting
        if value_change.old is not None and value_change.new is not None and \
                _cast_of(value_change.old.code, value_change.new.code):
            return False  # nz = opt.nz -> nz = int(opt.nz): the same value, converted
        if isinstance(change, PythonChange) and (value_change.old is None or value_change.new is None):
            from mldiff.rules.common import counterpart_broken  # added or removed, unless a parse error hid it
            if _moved_setting(change, value_change) or _in_new_function(change, value_change):
                return False
            if value_change.new is not None:
                return not counterpart_broken(change, "head", value_change.span.line - 1)
            if value_change.base_line is not None:
                return not counterpart_broken(change, "base", value_change.base_line - 1)
        return True

    def message(self, value_change: ValueChange) -> str:
        old, new = value_change.old, value_change.new
        if old is None or new is None:
            return value_change.describe()
        before, after = contrast(old.code, new.code)
        return f"{value_change.subject} {before} -> {after}{value_change.flow}"

    def message_for(self, change, value_change: ValueChange) -> str:
        text = self.message(value_change)
        if isinstance(change, PythonChange) and value_change.kind == "binding" and not value_change.flow \
                and value_change.new is not None:
            from mldiff.rules.common import condition_use
            text += condition_use(change.head, value_change.name)
        return text


def _placeholder(literal: Any) -> bool:
    return literal is None or (isinstance(literal, (tuple, list, dict, str, frozenset)) and len(literal) == 0)


def _cast_of(old: str, new: str) -> bool:
    """``int(x)`` for ``x`` (or the reverse): a conversion of the same value."""
    for plain, cast in ((old, new), (new, old)):
        for name in ("int", "float", "str", "bool", "list", "tuple"):
            if cast.replace(" ", "") == f"{name}({plain.replace(' ', '')})":
                return True
    return False


def _in_new_function(change: PythonChange, value_change: ValueChange) -> bool:
    """A setting written inside a function the base does not have (a new model variant, a new
    test), or dropped with a function the head no longer has: code added or removed whole, not a
    changed setting of code that stays."""
    if value_change.old is None and value_change.new is not None:
        view, line, other = change.head, value_change.span.line - 1, change.base
    elif value_change.new is None and value_change.old is not None and value_change.base_line:
        view, line, other = change.base, value_change.base_line - 1, change.head
    else:
        return False
    index = view.index_at(line)
    function = view.enclosing_def(index) if index >= 0 else -1
    name = view.facts(function).def_name if function >= 0 else None
    if not name:
        return False
    return re.search(r"^[ \t]*(?:async[ \t]+)?def[ \t]+" + re.escape(name) + r"\b", other.text, re.M) is None


def _moved_setting(change: PythonChange, value_change: ValueChange) -> bool:
    """The same key with the same value still written on the other side of the change, in another
    form: ``kwargs.update({'num_workers': 1})`` became ``cuda_kwargs = {'num_workers': 1}``."""
    present = value_change.new if value_change.new is not None else value_change.old
    if present is None or not present.is_literal or value_change.kind != "binding":
        return False
    key = value_change.name.rsplit(".", 1)[-1]
    if not key.isidentifier():
        return False
    pattern = re.compile(r"(?:['\"]" + re.escape(key) + r"['\"]\s*:|\b" + re.escape(key) + r"\s*=(?!=))\s*(.+?)\s*[,)}\n]")
    other = change.base if value_change.new is not None else change.head
    from mldiff.analysis.values import _literal_equal, canonical
    import ast
    for index in change.touched("base" if value_change.new is not None else "head"):
        for match in pattern.finditer(other.source(index)):
            try:
                literal = ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                continue
            if _literal_equal(literal, present.literal):
                return True
    return False


def _without_renamed_settings(change: PythonChange, chosen: list[ValueChange]) -> list[ValueChange]:
    """``compile_model = True`` removed and ``compile = True`` added in the same hunk: a setting
    renamed, not one dropped and another introduced."""
    from mldiff.analysis.values import _literal_equal
    removed = [v for v in chosen if v.new is None and v.old is not None and v.old.is_literal and v.base_line]
    added = [v for v in chosen if v.old is None and v.new is not None and v.new.is_literal]
    dropped: set[int] = set()
    for gone in removed:
        for new in added:
            if id(new) in dropped or gone.topic != new.topic or not _literal_equal(gone.old.literal, new.new.literal):
                continue
            if any(h.base_start < gone.base_line <= max(h.base_end, h.base_start + 1)
                   and h.head_start < new.span.line <= max(h.head_end, h.head_start + 1) for h in change.hunks):
                dropped.update((id(gone), id(new)))
                break
    return [v for v in chosen if id(v) not in dropped]
