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
from typing import Any

from mldiff.analysis import apis
from mldiff.analysis.change import PythonChange
from mldiff.analysis.values import NOT_LITERAL, Value, contrast, shorten
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
    (r"(?:weight_?decay|wd|momentum|beta[12]|betas|adam_\w+|nesterov|amsgrad|optim(?:izer)?_?eps|"
     r"no_?decay\w*)", "optimizer", "optimizer_hparam"),
    (r"(?:optimizer|optim|opt|optimizer_?(?:name|type|cls|class))", "optimizer", "optimizer_choice"),
    (r"(?:\w*drop_?out\w*|drop_?rate|\w+_drop|\w*_?pdrop|p_?drop|drop_?path\w*|drop_?block\w*|attn_?drop\w*|"
     r"proj_?drop\w*|stochastic_depth\w*)", "regularization", "dropout"),
    (r"(?:mixup\w*|cutmix\w*|rand_?aug\w*|auto_?aug\w*|aa|reprob|re_?prob|color_?jitter|hflip|vflip|"
     r"augment\w*|\w+_aug|aug_\w+|random_?erasing\w*|trivial_?aug\w*|scale_?jitter)", "regularization",
     "augmentation"),
    (r"(?:label_?smoothing|smoothing|focal_\w+|pos_?weight|class_?weights?|ignore_?index|loss_?(?:fn|type|name)?|"
     r"criterion)", "loss", "loss_arg"),
    (r"(?:seed|\w+_seed|seed_\w+|random_?state)", "determinism", "seed"),
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
    (r"(?:shuffle\w*|num_?workers|workers|pin_?memory|drop_?last|persistent_?workers|prefetch_?factor|"
     r"sampler)", "data_pipeline", "loader"),
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
_STRING_ONLY_TOPICS = {"optimizer_choice", "architecture"}


def classify_name(name: str, value: Any = NOT_LITERAL) -> tuple[str, str] | None:
    """(family, topic) of a hyperparameter called ``name`` (last dotted component)."""
    key = name.rsplit(".", 1)[-1].lower().lstrip("_")
    if key.startswith("--"):
        key = key[2:].replace("-", "_")
    for pattern, family, topic in _COMPILED:
        if pattern.match(key):
            if topic in _STRING_ONLY_TOPICS and not isinstance(value, str):
                return None
            return family, topic
    return None


_IGNORED_PARAMETERS = {"input", "target", "params", "optimizer", "module", "model", "dataset", "tensor",
                       "parameters", "query", "key", "value", "#0", "verbose"}


def classify_argument(qualname: str, param: str) -> tuple[str, str] | None:
    """(family, topic) of argument ``param`` of a call to ``qualname``."""
    if param in _IGNORED_PARAMETERS or param.startswith("**"):
        return None
    q = apis.canonical(qualname)
    last = q.rsplit(".", 1)[-1]
    if apis.is_optimizer(q):
        return ("learning_rate", "lr") if param == "lr" else ("optimizer", "optimizer_hparam")
    if apis.is_scheduler(q):
        return "learning_rate", "schedule"
    if apis.is_dataloader(q) or last == "DistributedSampler":
        if param == "batch_size":
            return "batch_size", "batch"
        if param in ("worker_init_fn", "generator", "seed"):
            return "determinism", "seed"
        if param in ("shuffle", "num_workers", "pin_memory", "drop_last", "persistent_workers",
                     "prefetch_factor", "sampler", "batch_sampler"):
            return "data_pipeline", "loader"
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
    if q in apis.DISTRIBUTED_WRAPPERS or last in ("DistributedDataParallel", "DataParallel",
                                                  "FullyShardedDataParallel"):
        return "compile_distributed", "distributed"
    if q.startswith("torch.nn.") and last in ("Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding", "LSTM", "GRU",
                                              "RNN", "MultiheadAttention", "Transformer", "TransformerEncoder",
                                              "TransformerEncoderLayer", "TransformerDecoderLayer"):
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
            role = classify_argument(head_site.qualname, param) or classify_argument(base_site.qualname, param)
            if role is None:
                continue
            if _same_after_resolving(change, old, new):
                continue
            subject = f"{short_name(head_site.qualname)} {param}"
            out.append(ValueChange(role[0], role[1], subject, old, new, _value_span(change, head_site, new),
                                   base_line(change, base_site), kind="argument"))
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
    if old_name is None or new_name is None:
        return False
    if old_name[1] and new_name[1]:  # both name things of imported modules: torch.float16
        return old_name[0] == new_name[0]
    return old_literal is NOT_LITERAL or new_literal is NOT_LITERAL


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
    if node is None:
        return None
    name = dotted_name(node)
    if not name or "(" in name or "[" in name:
        return None
    root = name.split(".", 1)[0]
    return view.resolve(name), root in view.aliases


def _binding_value_changes(change: PythonChange) -> list[ValueChange]:
    out: list[ValueChange] = []
    renames = change.renames
    for base_site, head_site in pair_bindings(change, lambda b: True):
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
        subject = _binding_subject(site)
        flow = ""
        if uses:
            related = uses[0][0]
            flow = f", {related.message} at line {related.span.line}"
        span = binding_span(change, head_site) if head_site else binding_span(change, base_site)
        out.append(ValueChange(role[0], role[1], subject, old, new, span,
                               binding_base_line(change, base_site),
                               tuple(u[0] for u in uses), flow, kind="binding"))
    return out


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

    def check(self, change):
        for value_change in value_changes(change):
            if value_change.family != self.family or value_change.topic not in self.topics:
                continue
            yield self.report(
                change, value_change.span, self.message(value_change),
                base_line=value_change.base_line,
                before=value_change.old.code if value_change.old is not None else None,
                after=value_change.new.code if value_change.new is not None else None,
                related=value_change.related,
                severity=self.severity_by_topic.get(value_change.topic),
            )

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe()
