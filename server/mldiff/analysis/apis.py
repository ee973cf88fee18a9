"""What the analyzer knows about ML libraries' APIs: canonical names, parameter
order (so ``SGD(params, 0.1)`` and ``SGD(params, lr=0.1)`` read the same), and which
calls are optimizers, losses, norm layers, and so on. Names here are qualified names
as the file's imports resolve them."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from mldiff.analysis.statements import CallFact
from mldiff.analysis.values import Value

_PRIVATE_MODULES = [
    (re.compile(r"^torch\.optim\.(?!lr_scheduler\b)[a-z_]+\.(?=[A-Z])"), "torch.optim."),
    (re.compile(r"^torch\.nn\.modules\.[a-z_]+\.(?=[A-Z])"), "torch.nn."),
    (re.compile(r"^torch\.nn\.parallel\.distributed\.(?=[A-Z])"), "torch.nn.parallel."),
    (re.compile(r"^torch\.nn\.parallel\.data_parallel\.(?=[A-Z])"), "torch.nn."),
    (re.compile(r"^torch\.nn\.parallel\.DataParallel$"), "torch.nn.DataParallel"),
    (re.compile(r"^torch\.utils\.data\.(?:dataloader|dataset|sampler|distributed)\.(?=[A-Z])"), "torch.utils.data."),
    (re.compile(r"^torch\.utils\.data\.DistributedSampler$"), "torch.utils.data.distributed.DistributedSampler"),
    (re.compile(r"^torchvision\.transforms\.transforms\.(?=[A-Z])"), "torchvision.transforms."),
    (re.compile(r"^torch\.distributed\.fsdp\.fully_sharded_data_parallel\.(?=[A-Z])"), "torch.distributed.fsdp."),
    (re.compile(r"^torch\.amp\.autocast_mode\."), "torch.amp."),
    (re.compile(r"^torch\.amp\.grad_scaler\."), "torch.amp."),
    (re.compile(r"^torch\.cuda\.amp\.(?:autocast_mode|grad_scaler)\."), "torch.cuda.amp."),
    (re.compile(r"^np\."), "numpy."),
    (re.compile(r"^pytorch_lightning\."), "lightning.pytorch."),
    (re.compile(r"^lightning\.(?!pytorch\.|fabric\.)"), "lightning.pytorch."),
]


@lru_cache(maxsize=16384)
def canonical(qualname: str) -> str:
    """One name per API: ``torch.optim.adam.Adam`` and ``torch.optim.Adam`` are the same."""
    for pattern, replacement in _PRIVATE_MODULES:
        qualname = pattern.sub(replacement, qualname, count=1)
    return qualname


_OPT_ADAM = ("params", "lr", "betas", "eps", "weight_decay", "amsgrad")
_NORM = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_LOSS = ("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing")

SIGNATURES: dict[str, tuple[str, ...]] = {
    # optimizers
    "torch.optim.SGD": ("params", "lr", "momentum", "dampening", "weight_decay", "nesterov"),
    "torch.optim.Adam": _OPT_ADAM,
    "torch.optim.AdamW": _OPT_ADAM,
    "torch.optim.Adamax": ("params", "lr", "betas", "eps", "weight_decay"),
    "torch.optim.NAdam": ("params", "lr", "betas", "eps", "weight_decay", "momentum_decay"),
    "torch.optim.RAdam": ("params", "lr", "betas", "eps", "weight_decay"),
    "torch.optim.RMSprop": ("params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
    "torch.optim.Adagrad": ("params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
    "torch.optim.Adadelta": ("params", "lr", "rho", "eps", "weight_decay"),
    "torch.optim.ASGD": ("params", "lr", "lambd", "alpha", "t0", "weight_decay"),
    "torch.optim.Rprop": ("params", "lr", "etas", "step_sizes"),
    "torch.optim.LBFGS": ("params", "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
                          "history_size", "line_search_fn"),
    "torch.optim.SparseAdam": ("params", "lr", "betas", "eps"),
    "torch.optim.Adafactor": ("params", "lr", "beta2_decay", "eps", "d", "weight_decay"),
    # schedulers
    "torch.optim.lr_scheduler.StepLR": ("optimizer", "step_size", "gamma", "last_epoch"),
    "torch.optim.lr_scheduler.MultiStepLR": ("optimizer", "milestones", "gamma", "last_epoch"),
    "torch.optim.lr_scheduler.ExponentialLR": ("optimizer", "gamma", "last_epoch"),
    "torch.optim.lr_scheduler.CosineAnnealingLR": ("optimizer", "T_max", "eta_min", "last_epoch"),
    "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts": ("optimizer", "T_0", "T_mult", "eta_min", "last_epoch"),
    "torch.optim.lr_scheduler.ReduceLROnPlateau": ("optimizer", "mode", "factor", "patience", "threshold",
                                                   "threshold_mode", "cooldown", "min_lr", "eps"),
    "torch.optim.lr_scheduler.OneCycleLR": ("optimizer", "max_lr", "total_steps", "epochs", "steps_per_epoch",
                                            "pct_start", "anneal_strategy", "cycle_momentum", "base_momentum",
                                            "max_momentum", "div_factor", "final_div_factor", "three_phase"),
    "torch.optim.lr_scheduler.CyclicLR": ("optimizer", "base_lr", "max_lr", "step_size_up", "step_size_down", "mode"),
    "torch.optim.lr_scheduler.LambdaLR": ("optimizer", "lr_lambda", "last_epoch"),
    "torch.optim.lr_scheduler.MultiplicativeLR": ("optimizer", "lr_lambda", "last_epoch"),
    "torch.optim.lr_scheduler.LinearLR": ("optimizer", "start_factor", "end_factor", "total_iters", "last_epoch"),
    "torch.optim.lr_scheduler.ConstantLR": ("optimizer", "factor", "total_iters", "last_epoch"),
    "torch.optim.lr_scheduler.PolynomialLR": ("optimizer", "total_iters", "power", "last_epoch"),
    "torch.optim.lr_scheduler.SequentialLR": ("optimizer", "schedulers", "milestones", "last_epoch"),
    "transformers.get_linear_schedule_with_warmup": ("optimizer", "num_warmup_steps", "num_training_steps"),
    "transformers.get_cosine_schedule_with_warmup": ("optimizer", "num_warmup_steps", "num_training_steps",
                                                      "num_cycles"),
    "transformers.get_constant_schedule_with_warmup": ("optimizer", "num_warmup_steps"),
    # normalization
    "torch.nn.BatchNorm1d": _NORM, "torch.nn.BatchNorm2d": _NORM, "torch.nn.BatchNorm3d": _NORM,
    "torch.nn.SyncBatchNorm": _NORM + ("process_group",),
    "torch.nn.InstanceNorm1d": _NORM, "torch.nn.InstanceNorm2d": _NORM, "torch.nn.InstanceNorm3d": _NORM,
    "torch.nn.LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "torch.nn.GroupNorm": ("num_groups", "num_channels", "eps", "affine"),
    "torch.nn.RMSNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "torch.nn.LocalResponseNorm": ("size", "alpha", "beta", "k"),
    "torch.nn.functional.layer_norm": ("input", "normalized_shape", "weight", "bias", "eps"),
    "torch.nn.functional.batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training",
                                       "momentum", "eps"),
    "torch.nn.functional.group_norm": ("input", "num_groups", "weight", "bias", "eps"),
    "torch.nn.functional.rms_norm": ("input", "normalized_shape", "weight", "eps"),
    "torchvision.transforms.Normalize": ("mean", "std", "inplace"),
    "torchvision.transforms.v2.Normalize": ("mean", "std", "inplace"),
    "torchvision.transforms.functional.normalize": ("tensor", "mean", "std", "inplace"),
    # regularization
    "torch.nn.Dropout": ("p", "inplace"), "torch.nn.Dropout1d": ("p", "inplace"),
    "torch.nn.Dropout2d": ("p", "inplace"), "torch.nn.Dropout3d": ("p", "inplace"),
    "torch.nn.AlphaDropout": ("p", "inplace"), "torch.nn.FeatureAlphaDropout": ("p", "inplace"),
    "torch.nn.functional.dropout": ("input", "p", "training", "inplace"),
    "torch.nn.functional.dropout1d": ("input", "p", "training", "inplace"),
    "torch.nn.functional.dropout2d": ("input", "p", "training", "inplace"),
    "torch.nn.functional.dropout3d": ("input", "p", "training", "inplace"),
    "torch.nn.functional.alpha_dropout": ("input", "p", "training", "inplace"),
    "torch.nn.functional.scaled_dot_product_attention": ("query", "key", "value", "attn_mask", "dropout_p",
                                                         "is_causal", "scale"),
    "torch.nn.MultiheadAttention": ("embed_dim", "num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn",
                                    "kdim", "vdim", "batch_first"),
    "torch.nn.TransformerEncoderLayer": ("d_model", "nhead", "dim_feedforward", "dropout", "activation",
                                         "layer_norm_eps", "batch_first", "norm_first", "bias"),
    "torch.nn.TransformerDecoderLayer": ("d_model", "nhead", "dim_feedforward", "dropout", "activation",
                                         "layer_norm_eps", "batch_first", "norm_first", "bias"),
    "torch.nn.Transformer": ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward",
                             "dropout"),
    "torch.nn.TransformerEncoder": ("encoder_layer", "num_layers", "norm"),
    "torch.nn.LSTM": ("input_size", "hidden_size", "num_layers"),
    "torch.nn.GRU": ("input_size", "hidden_size", "num_layers"),
    "torch.nn.RNN": ("input_size", "hidden_size", "num_layers"),
    "torch.nn.Linear": ("in_features", "out_features", "bias"),
    "torch.nn.Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "torch.nn.Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "torch.nn.Conv3d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "torch.nn.Embedding": ("num_embeddings", "embedding_dim", "padding_idx"),
    # losses
    "torch.nn.CrossEntropyLoss": _LOSS,
    "torch.nn.NLLLoss": _LOSS[:-1],
    "torch.nn.BCELoss": ("weight", "size_average", "reduce", "reduction"),
    "torch.nn.BCEWithLogitsLoss": ("weight", "size_average", "reduce", "reduction", "pos_weight"),
    "torch.nn.MSELoss": ("size_average", "reduce", "reduction"),
    "torch.nn.L1Loss": ("size_average", "reduce", "reduction"),
    "torch.nn.SmoothL1Loss": ("size_average", "reduce", "reduction", "beta"),
    "torch.nn.HuberLoss": ("reduction", "delta"),
    "torch.nn.KLDivLoss": ("size_average", "reduce", "reduction", "log_target"),
    "torch.nn.functional.cross_entropy": ("input", "target") + _LOSS,
    "torch.nn.functional.nll_loss": ("input", "target") + _LOSS[:-1],
    "torch.nn.functional.binary_cross_entropy": ("input", "target", "weight", "size_average", "reduce",
                                                 "reduction"),
    "torch.nn.functional.binary_cross_entropy_with_logits": ("input", "target", "weight", "size_average",
                                                             "reduce", "reduction", "pos_weight"),
    "torch.nn.functional.mse_loss": ("input", "target", "size_average", "reduce", "reduction"),
    "torch.nn.functional.l1_loss": ("input", "target", "size_average", "reduce", "reduction"),
    "torch.nn.functional.smooth_l1_loss": ("input", "target", "size_average", "reduce", "reduction", "beta"),
    "torch.nn.functional.kl_div": ("input", "target", "size_average", "reduce", "reduction", "log_target"),
    # data
    "torch.utils.data.DataLoader": ("dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers",
                                    "collate_fn", "pin_memory", "drop_last", "timeout", "worker_init_fn",
                                    "multiprocessing_context", "generator", "prefetch_factor",
                                    "persistent_workers"),
    "torch.utils.data.distributed.DistributedSampler": ("dataset", "num_replicas", "rank", "shuffle", "seed",
                                                        "drop_last"),
    "torch.utils.data.random_split": ("dataset", "lengths", "generator"),
    "torch.utils.data.Subset": ("dataset", "indices"),
    # precision
    "torch.autocast": ("device_type", "dtype", "enabled", "cache_enabled"),
    "torch.amp.autocast": ("device_type", "dtype", "enabled", "cache_enabled"),
    "torch.cuda.amp.autocast": ("enabled", "dtype", "cache_enabled"),
    "torch.cpu.amp.autocast": ("enabled", "dtype", "cache_enabled"),
    "torch.cuda.amp.GradScaler": ("init_scale", "growth_factor", "backoff_factor", "growth_interval", "enabled"),
    "torch.amp.GradScaler": ("device", "init_scale", "growth_factor", "backoff_factor", "growth_interval",
                             "enabled"),
    "torch.GradScaler": ("device", "init_scale", "growth_factor", "backoff_factor", "growth_interval", "enabled"),
    "torch.set_float32_matmul_precision": ("precision",),
    "torch.set_default_dtype": ("d",),
    # determinism
    "torch.manual_seed": ("seed",), "torch.random.manual_seed": ("seed",),
    "torch.cuda.manual_seed": ("seed",), "torch.cuda.manual_seed_all": ("seed",),
    "random.seed": ("a", "version"), "numpy.random.seed": ("seed",),
    "numpy.random.default_rng": ("seed",),
    "lightning.pytorch.seed_everything": ("seed", "workers"),
    "lightning.fabric.seed_everything": ("seed", "workers"),
    "transformers.set_seed": ("seed", "deterministic"),
    "accelerate.utils.set_seed": ("seed", "device_specific", "deterministic"),
    "torch.use_deterministic_algorithms": ("mode", "warn_only"),
    # training loop
    "torch.nn.utils.clip_grad_norm_": ("parameters", "max_norm", "norm_type", "error_if_nonfinite", "foreach"),
    "torch.nn.utils.clip_grad_value_": ("parameters", "clip_value", "foreach"),
    # compile / distributed
    "torch.compile": ("model", "fullgraph", "dynamic", "backend", "mode", "options", "disable"),
    "torch.nn.parallel.DistributedDataParallel": ("module", "device_ids", "output_device", "dim",
                                                  "broadcast_buffers", "process_group", "bucket_cap_mb",
                                                  "find_unused_parameters", "check_reduction",
                                                  "gradient_as_bucket_view", "static_graph"),
    "torch.nn.DataParallel": ("module", "device_ids", "output_device", "dim"),
    "torch.distributed.fsdp.FullyShardedDataParallel": ("module", "process_group", "sharding_strategy",
                                                        "cpu_offload", "auto_wrap_policy", "backward_prefetch",
                                                        "mixed_precision"),
    "torch.distributed.tensor.parallel.parallelize_module": ("module", "device_mesh", "parallelize_plan"),
    "torch.distributed.init_process_group": ("backend", "init_method", "timeout", "world_size", "rank"),
}

OPTIMIZER_PREFIXES = ("torch.optim.", "bitsandbytes.optim.", "apex.optimizers.", "timm.optim.",
                      "torch.distributed.optim.", "transformers.optimization.", "deepspeed.ops.")
OTHER_OPTIMIZERS = frozenset({"transformers.AdamW", "transformers.Adafactor", "lion_pytorch.Lion",
                              "timm.optim.create_optimizer_v2", "timm.optim.create_optimizer"})
SCHEDULER_PREFIXES = ("torch.optim.lr_scheduler.", "timm.scheduler.", "transformers.optimization.get_")
AUTOCAST = frozenset({"torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast",
                      "torch.xpu.amp.autocast"})
DEPRECATED_AUTOCAST = frozenset({"torch.cuda.amp.autocast", "torch.cpu.amp.autocast"})
GRAD_SCALERS = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.GradScaler",
                          "torch.cpu.amp.GradScaler", "torch.distributed.fsdp.sharded_grad_scaler.ShardedGradScaler"})
NORMALIZE_TRANSFORMS = frozenset({"torchvision.transforms.Normalize", "torchvision.transforms.v2.Normalize",
                                  "torchvision.transforms.functional.normalize", "albumentations.Normalize",
                                  "monai.transforms.NormalizeIntensity"})
DROPOUT = frozenset({"torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d",
                     "torch.nn.AlphaDropout", "torch.nn.FeatureAlphaDropout", "torch.nn.functional.dropout",
                     "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
                     "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
                     "timm.layers.DropPath", "timm.models.layers.DropPath"})
DATALOADERS = frozenset({"torch.utils.data.DataLoader"})
SEEDS = frozenset({"torch.manual_seed", "torch.random.manual_seed", "torch.cuda.manual_seed",
                   "torch.cuda.manual_seed_all", "random.seed", "numpy.random.seed",
                   "lightning.pytorch.seed_everything", "lightning.fabric.seed_everything", "transformers.set_seed",
                   "accelerate.utils.set_seed", "tensorflow.random.set_seed", "jax.random.PRNGKey",
                   "numpy.random.default_rng", "torch.Generator.manual_seed"})
COMPILE = frozenset({"torch.compile", "torch._dynamo.optimize", "torch.jit.script", "torch.jit.trace"})
DISTRIBUTED_WRAPPERS = frozenset({
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.DataParallel",
    "torch.distributed.fsdp.FullyShardedDataParallel", "torch.distributed.fsdp.fully_shard",
    "torch.distributed._composable.fsdp.fully_shard", "torch.distributed.tensor.parallel.parallelize_module",
    "torch.nn.SyncBatchNorm.convert_sync_batchnorm", "deepspeed.initialize",
})


def is_optimizer(qualname: str) -> bool:
    name = canonical(qualname)
    if name in OTHER_OPTIMIZERS:
        return True
    last = name.rsplit(".", 1)[-1]
    if name.startswith("torch.optim.lr_scheduler") or not last[:1].isupper():
        return False
    if last in ("Optimizer", "ZeroRedundancyOptimizer") and name.startswith("torch."):
        return last == "ZeroRedundancyOptimizer"
    return name.startswith(OPTIMIZER_PREFIXES)


def is_scheduler(qualname: str) -> bool:
    name = canonical(qualname)
    if name.startswith(SCHEDULER_PREFIXES):
        return True
    last = name.rsplit(".", 1)[-1]
    return name.startswith("transformers.") and last.startswith("get_") and "schedule" in last


def is_loss(qualname: str) -> bool:
    name = canonical(qualname)
    last = name.rsplit(".", 1)[-1]
    if name.startswith("torch.nn.functional."):
        return last.endswith("_loss") or last in (
            "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
            "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cosine_embedding_loss", "ctc_loss")
    return name.startswith("torch.nn.") and last.endswith("Loss")


_NORM_LAYER = re.compile(r"(?:BatchNorm[123]?d?|SyncBatchNorm|LayerNorm|GroupNorm|InstanceNorm[123]d|RMSNorm|"
                         r"LocalResponseNorm|LazyBatchNorm[123]d|LazyInstanceNorm[123]d|FrozenBatchNorm2d|"
                         r"LayerNorm2d|BatchNormAct2d|GroupNorm1)$")


def is_norm_layer(qualname: str, local_classes: Iterable[str] = ()) -> bool:
    """A normalization layer: torch's, a library's, or a class of the file whose name says so."""
    name = canonical(qualname)
    last = name.rsplit(".", 1)[-1]
    if name.startswith("torch.nn.functional."):
        return last in ("layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm")
    if not _NORM_LAYER.search(last):
        return False
    return "." in name or last in local_classes or name == last


def is_dropout(qualname: str) -> bool:
    name = canonical(qualname)
    return name in DROPOUT or name.rsplit(".", 1)[-1] in ("DropPath", "DropBlock2d")


def is_autocast(qualname: str) -> bool:
    return canonical(qualname) in AUTOCAST


def is_grad_scaler(qualname: str) -> bool:
    return canonical(qualname) in GRAD_SCALERS


def is_dataloader(qualname: str) -> bool:
    return canonical(qualname) in DATALOADERS


def parameters(qualname: str) -> tuple[str, ...]:
    return SIGNATURES.get(canonical(qualname), ())


def argument(call: CallFact, qualname: str, name: str) -> Value | None:
    """The value passed for parameter ``name``, by keyword or by position."""
    value = call.kwarg(name)
    if value is not None:
        return value
    params = parameters(qualname)
    if name in params:
        position = params.index(name)
        if position < len(call.args):
            return call.args[position]
    return None


def arguments(call: CallFact, qualname: str) -> dict[str, Value]:
    """Every argument by parameter name (positional ones named through the signature;
    unknown positions as ``#0``, ``#1``...)."""
    params = parameters(qualname)
    out: dict[str, Value] = {}
    for position, value in enumerate(call.args):
        out[params[position] if position < len(params) else f"#{position}"] = value
    for key, value in call.kwargs:
        out[key] = value
    for position, value in enumerate(call.star_kwargs):
        out[f"**{position}"] = value
    return out


def star_resolve(name: str, star_modules: Iterable[str]) -> str | None:
    for module in star_modules:
        candidate = canonical(f"{module}.{name}")
        if candidate in SIGNATURES or candidate in AUTOCAST or candidate in GRAD_SCALERS:
            return candidate
    return None
