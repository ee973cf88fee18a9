"""The ML API table: qualified name -> role, parameters in positional order, what it wraps.

A *role* says what a call is for training (``optimizer``, ``loss``, ``autocast``, ...); its
family is ``ROLE_FAMILIES[role]``. Names are canonical qualified names: ``canonical``
first rewrites private module paths and renamed packages (``torch.optim.adam.Adam``,
``pytorch_lightning.``) to the public spelling. APIs known by their shape rather than
one by one (every capitalised class under ``torch.optim.``, every ``torch.nn.*Loss``)
are ``RolePattern`` entries. How each parameter of a role is classified lives in
``knowledge/arguments.py``.

To teach mldiff an API: add an ``Api`` entry (with its parameters in positional order,
so ``f(a, 0.1)`` and ``f(a, lr=0.1)`` read the same), or a ``RolePattern`` for a family
of names; then ``knowledge/arguments.py`` says what its parameters mean if its role's
defaults do not fit, and ``DEFAULTS`` the documented default values people write out or drop.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from mldiff.knowledge.libraries import LIBRARY_APIS, LIBRARY_PATTERNS
from mldiff.knowledge.table import Api, RolePattern


ROLE_FAMILIES: dict[str, str] = {
    "optimizer": "optimizer", "scheduler": "learning_rate", "norm_layer": "normalization",
    "normalize": "normalization", "dropout": "regularization", "attention": "model_capacity",
    "layer": "model_capacity", "loss": "loss", "dataloader": "data_pipeline", "sampler": "data_pipeline",
    "split": "data_pipeline", "autocast": "precision", "grad_scaler": "precision",
    "matmul_precision": "precision", "default_dtype": "precision", "seed": "determinism",
    "deterministic": "determinism", "clip": "training_loop", "compile": "compile_distributed",
    "distributed": "compile_distributed", "tensor_parallel": "compile_distributed",
    "process_group": "compile_distributed", "device_mesh": "compile_distributed", "device": "compile_distributed",
    "augmentation": "regularization", "grad_mode": "training_loop", "precision_config": "precision",
    "distributed_config": "compile_distributed", "collective": "compile_distributed", "dataset": "data_pipeline",
}

# Private module paths and renamed packages -> the public name (applied in order, once each).
MODULE_ALIASES: tuple[tuple[str, str], ...] = (
    (r"^torch\.optim\.(?!lr_scheduler\b)[a-z_]+\.(?=[A-Z])", "torch.optim."),
    (r"^torch\.nn\.modules\.[a-z_]+\.(?=[A-Z])", "torch.nn."),
    (r"^torch\.nn\.parallel\.distributed\.(?=[A-Z])", "torch.nn.parallel."),
    (r"^torch\.nn\.parallel\.data_parallel\.(?=[A-Z])", "torch.nn."),
    (r"^torch\.nn\.parallel\.DataParallel$", "torch.nn.DataParallel"),
    (r"^torch\.utils\.data\.(?:dataloader|dataset|sampler|distributed)\.(?=[A-Z])", "torch.utils.data."),
    (r"^torch\.utils\.data\.DistributedSampler$", "torch.utils.data.distributed.DistributedSampler"),
    (r"^torchvision\.transforms\.transforms\.(?=[A-Z])", "torchvision.transforms."),
    (r"^torch\.distributed\.fsdp\.fully_sharded_data_parallel\.(?=[A-Z])", "torch.distributed.fsdp."),
    (r"^torch\.amp\.autocast_mode\.", "torch.amp."),
    (r"^torch\.amp\.grad_scaler\.", "torch.amp."),
    (r"^torch\.cuda\.amp\.(?:autocast_mode|grad_scaler)\.", "torch.cuda.amp."),
    (r"^np\.", "numpy."),
    (r"^pytorch_lightning\.", "lightning.pytorch."),
    (r"^lightning\.(?!pytorch\.|fabric\.)", "lightning.pytorch."),
    # deprecated spellings of the same API
    (r"^torchvision\.transforms\.RandomSizedCrop$", "torchvision.transforms.RandomResizedCrop"),
    (r"^torchvision\.transforms\.Scale$", "torchvision.transforms.Resize"),
    (r"^timm\.models\.layers\.", "timm.layers."),
)

_ADAM = ("params", "lr", "betas", "eps", "weight_decay", "amsgrad")
_NORM = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_LOSS = ("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing")
_DROPOUT = ("p", "inplace")
_F_DROPOUT = ("input", "p", "training", "inplace")
_TRANSFORMER_LAYER = ("d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps",
                      "batch_first", "norm_first", "bias")
_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding")
_RECURRENT = ("input_size", "hidden_size", "num_layers")
_CELL = ("input_size", "hidden_size", "bias")
_REDUCTION = ("size_average", "reduce", "reduction")
_AUTOCAST = ("device_type", "dtype", "enabled", "cache_enabled")
_OLD_AUTOCAST = ("enabled", "dtype", "cache_enabled")
_SCALER = ("init_scale", "growth_factor", "backoff_factor", "growth_interval", "enabled")

APIS: tuple[Api, ...] = (
    # -- optimizers ---------------------------------------------------------------------------------
    Api("torch.optim.SGD", "optimizer", ("params", "lr", "momentum", "dampening", "weight_decay", "nesterov")),
    Api("torch.optim.Adam", "optimizer", _ADAM),
    Api("torch.optim.AdamW", "optimizer", _ADAM),
    Api("torch.optim.Adamax", "optimizer", ("params", "lr", "betas", "eps", "weight_decay")),
    Api("torch.optim.NAdam", "optimizer", ("params", "lr", "betas", "eps", "weight_decay", "momentum_decay")),
    Api("torch.optim.RAdam", "optimizer", ("params", "lr", "betas", "eps", "weight_decay")),
    Api("torch.optim.RMSprop", "optimizer", ("params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered")),
    Api("torch.optim.Adagrad", "optimizer", ("params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                                             "eps")),
    Api("torch.optim.Adadelta", "optimizer", ("params", "lr", "rho", "eps", "weight_decay")),
    Api("torch.optim.ASGD", "optimizer", ("params", "lr", "lambd", "alpha", "t0", "weight_decay")),
    Api("torch.optim.Rprop", "optimizer", ("params", "lr", "etas", "step_sizes")),
    Api("torch.optim.LBFGS", "optimizer", ("params", "lr", "max_iter", "max_eval", "tolerance_grad",
                                           "tolerance_change", "history_size", "line_search_fn")),
    Api("torch.optim.SparseAdam", "optimizer", ("params", "lr", "betas", "eps")),
    Api("torch.optim.Adafactor", "optimizer", ("params", "lr", "beta2_decay", "eps", "d", "weight_decay")),
    Api("timm.optim.create_optimizer_v2", "optimizer", ("model_or_params", "opt", "lr", "weight_decay", "momentum")),
    Api("timm.optim.create_optimizer", "optimizer", ("args", "model", "filter_bias_and_bn")),  # the legacy factory
    Api("transformers.AdamW", "optimizer"),
    Api("transformers.Adafactor", "optimizer"),
    Api("lion_pytorch.Lion", "optimizer"),
    # -- schedulers ---------------------------------------------------------------------------------
    Api("torch.optim.lr_scheduler.StepLR", "scheduler", ("optimizer", "step_size", "gamma", "last_epoch")),
    Api("torch.optim.lr_scheduler.MultiStepLR", "scheduler", ("optimizer", "milestones", "gamma", "last_epoch")),
    Api("torch.optim.lr_scheduler.ExponentialLR", "scheduler", ("optimizer", "gamma", "last_epoch")),
    Api("torch.optim.lr_scheduler.CosineAnnealingLR", "scheduler", ("optimizer", "T_max", "eta_min", "last_epoch")),
    Api("torch.optim.lr_scheduler.CosineAnnealingWarmRestarts", "scheduler",
        ("optimizer", "T_0", "T_mult", "eta_min", "last_epoch")),
    Api("torch.optim.lr_scheduler.ReduceLROnPlateau", "scheduler",
        ("optimizer", "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")),
    Api("torch.optim.lr_scheduler.OneCycleLR", "scheduler",
        ("optimizer", "max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start", "anneal_strategy",
         "cycle_momentum", "base_momentum", "max_momentum", "div_factor", "final_div_factor", "three_phase")),
    Api("torch.optim.lr_scheduler.CyclicLR", "scheduler",
        ("optimizer", "base_lr", "max_lr", "step_size_up", "step_size_down", "mode")),
    Api("torch.optim.lr_scheduler.LambdaLR", "scheduler", ("optimizer", "lr_lambda", "last_epoch")),
    Api("torch.optim.lr_scheduler.MultiplicativeLR", "scheduler", ("optimizer", "lr_lambda", "last_epoch")),
    Api("torch.optim.lr_scheduler.LinearLR", "scheduler",
        ("optimizer", "start_factor", "end_factor", "total_iters", "last_epoch")),
    Api("torch.optim.lr_scheduler.ConstantLR", "scheduler", ("optimizer", "factor", "total_iters", "last_epoch")),
    Api("torch.optim.lr_scheduler.PolynomialLR", "scheduler", ("optimizer", "total_iters", "power", "last_epoch")),
    Api("torch.optim.lr_scheduler.SequentialLR", "scheduler", ("optimizer", "schedulers", "milestones", "last_epoch")),
    Api("transformers.get_linear_schedule_with_warmup", "scheduler",
        ("optimizer", "num_warmup_steps", "num_training_steps")),
    Api("transformers.get_cosine_schedule_with_warmup", "scheduler",
        ("optimizer", "num_warmup_steps", "num_training_steps", "num_cycles")),
    Api("transformers.get_constant_schedule_with_warmup", "scheduler", ("optimizer", "num_warmup_steps")),
    # -- normalization ------------------------------------------------------------------------------
    Api("torch.nn.BatchNorm1d", "norm_layer", _NORM), Api("torch.nn.BatchNorm2d", "norm_layer", _NORM),
    Api("torch.nn.BatchNorm3d", "norm_layer", _NORM),
    Api("torch.nn.SyncBatchNorm", "norm_layer", _NORM + ("process_group",)),
    Api("torch.nn.InstanceNorm1d", "norm_layer", _NORM), Api("torch.nn.InstanceNorm2d", "norm_layer", _NORM),
    Api("torch.nn.InstanceNorm3d", "norm_layer", _NORM),
    Api("torch.nn.LayerNorm", "norm_layer", ("normalized_shape", "eps", "elementwise_affine", "bias")),
    Api("torch.nn.GroupNorm", "norm_layer", ("num_groups", "num_channels", "eps", "affine")),
    Api("torch.nn.RMSNorm", "norm_layer", ("normalized_shape", "eps", "elementwise_affine")),
    Api("torch.nn.LocalResponseNorm", "norm_layer", ("size", "alpha", "beta", "k")),
    Api("torch.nn.functional.layer_norm", "norm_layer", ("input", "normalized_shape", "weight", "bias", "eps")),
    Api("torch.nn.functional.batch_norm", "norm_layer",
        ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")),
    Api("torch.nn.functional.group_norm", "norm_layer", ("input", "num_groups", "weight", "bias", "eps")),
    Api("torch.nn.functional.rms_norm", "norm_layer", ("input", "normalized_shape", "weight", "eps")),
    Api("torchvision.transforms.Normalize", "normalize", ("mean", "std", "inplace")),
    Api("torchvision.transforms.v2.Normalize", "normalize", ("mean", "std", "inplace")),
    Api("torchvision.transforms.functional.normalize", "normalize", ("tensor", "mean", "std", "inplace")),
    Api("albumentations.Normalize", "normalize"),
    Api("monai.transforms.NormalizeIntensity", "normalize"),
    # -- regularization -----------------------------------------------------------------------------
    Api("torch.nn.Dropout", "dropout", _DROPOUT), Api("torch.nn.Dropout1d", "dropout", _DROPOUT),
    Api("torch.nn.Dropout2d", "dropout", _DROPOUT), Api("torch.nn.Dropout3d", "dropout", _DROPOUT),
    Api("torch.nn.AlphaDropout", "dropout", _DROPOUT), Api("torch.nn.FeatureAlphaDropout", "dropout", _DROPOUT),
    Api("torch.nn.functional.dropout", "dropout", _F_DROPOUT),
    Api("torch.nn.functional.dropout1d", "dropout", _F_DROPOUT),
    Api("torch.nn.functional.dropout2d", "dropout", _F_DROPOUT),
    Api("torch.nn.functional.dropout3d", "dropout", _F_DROPOUT),
    Api("torch.nn.functional.alpha_dropout", "dropout", _F_DROPOUT),
    Api("timm.layers.DropPath", "dropout"), Api("timm.models.layers.DropPath", "dropout"),
    # -- layers (model capacity) --------------------------------------------------------------------
    Api("torch.nn.functional.scaled_dot_product_attention", "attention",
        ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")),
    Api("torch.nn.MultiheadAttention", "layer", ("embed_dim", "num_heads", "dropout", "bias", "add_bias_kv",
                                                 "add_zero_attn", "kdim", "vdim", "batch_first")),
    Api("torch.nn.TransformerEncoderLayer", "layer", _TRANSFORMER_LAYER),
    Api("torch.nn.TransformerDecoderLayer", "layer", _TRANSFORMER_LAYER),
    Api("torch.nn.Transformer", "layer", ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers",
                                          "dim_feedforward", "dropout")),
    Api("torch.nn.TransformerEncoder", "layer", ("encoder_layer", "num_layers", "norm")),
    Api("torch.nn.LSTM", "layer", _RECURRENT), Api("torch.nn.GRU", "layer", _RECURRENT),
    Api("torch.nn.RNN", "layer", _RECURRENT),
    Api("torch.nn.Linear", "layer", ("in_features", "out_features", "bias")),
    Api("torch.nn.Conv1d", "layer", _CONV), Api("torch.nn.Conv2d", "layer", _CONV),
    Api("torch.nn.Conv3d", "layer", _CONV),
    Api("torch.nn.Embedding", "layer", ("num_embeddings", "embedding_dim", "padding_idx")),
    Api("torch.nn.LSTMCell", "layer", _CELL), Api("torch.nn.GRUCell", "layer", _CELL),
    Api("torch.nn.RNNCell", "layer", ("input_size", "hidden_size", "bias", "nonlinearity")),
    Api("torch.nn.ConvTranspose1d", "layer", _CONV), Api("torch.nn.ConvTranspose2d", "layer", _CONV),
    Api("torch.nn.ConvTranspose3d", "layer", _CONV),
    # -- losses -------------------------------------------------------------------------------------
    Api("torch.nn.CrossEntropyLoss", "loss", _LOSS),
    Api("torch.nn.NLLLoss", "loss", _LOSS[:-1]),
    Api("torch.nn.BCELoss", "loss", ("weight",) + _REDUCTION),
    Api("torch.nn.BCEWithLogitsLoss", "loss", ("weight",) + _REDUCTION + ("pos_weight",)),
    Api("torch.nn.MSELoss", "loss", _REDUCTION),
    Api("torch.nn.L1Loss", "loss", _REDUCTION),
    Api("torch.nn.SmoothL1Loss", "loss", _REDUCTION + ("beta",)),
    Api("torch.nn.HuberLoss", "loss", ("reduction", "delta")),
    Api("torch.nn.KLDivLoss", "loss", _REDUCTION + ("log_target",)),
    Api("torch.nn.functional.cross_entropy", "loss", ("input", "target") + _LOSS),
    Api("torch.nn.functional.nll_loss", "loss", ("input", "target") + _LOSS[:-1]),
    Api("torch.nn.functional.binary_cross_entropy", "loss", ("input", "target", "weight") + _REDUCTION),
    Api("torch.nn.functional.binary_cross_entropy_with_logits", "loss",
        ("input", "target", "weight") + _REDUCTION + ("pos_weight",)),
    Api("torch.nn.functional.mse_loss", "loss", ("input", "target") + _REDUCTION),
    Api("torch.nn.functional.l1_loss", "loss", ("input", "target") + _REDUCTION),
    Api("torch.nn.functional.smooth_l1_loss", "loss", ("input", "target") + _REDUCTION + ("beta",)),
    Api("torch.nn.functional.kl_div", "loss", ("input", "target") + _REDUCTION + ("log_target",)),
    # -- data ---------------------------------------------------------------------------------------
    Api("torch.utils.data.DataLoader", "dataloader",
        ("dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers", "collate_fn", "pin_memory",
         "drop_last", "timeout", "worker_init_fn", "multiprocessing_context", "generator", "prefetch_factor",
         "persistent_workers")),
    Api("torch.utils.data.distributed.DistributedSampler", "sampler",
        ("dataset", "num_replicas", "rank", "shuffle", "seed", "drop_last")),
    Api("torch.utils.data.DistributedSampler", "sampler"),
    Api("torch.utils.data.RandomSampler", "sampler", ("data_source", "replacement", "num_samples", "generator")),
    Api("torch.utils.data.SequentialSampler", "sampler", ("data_source",)),
    Api("torch.utils.data.SubsetRandomSampler", "sampler", ("indices", "generator")),
    Api("torch.utils.data.WeightedRandomSampler", "sampler", ("weights", "num_samples", "replacement", "generator")),
    Api("torch.utils.data.BatchSampler", "sampler", ("sampler", "batch_size", "drop_last")),
    Api("torch.utils.data.random_split", "split", ("dataset", "lengths", "generator")),
    Api("torch.utils.data.Subset", "split", ("dataset", "indices")),
    # -- precision ----------------------------------------------------------------------------------
    Api("torch.autocast", "autocast", _AUTOCAST),
    Api("torch.amp.autocast", "autocast", _AUTOCAST),
    Api("torch.cuda.amp.autocast", "autocast", _OLD_AUTOCAST, replacement="torch.amp.autocast"),
    Api("torch.cpu.amp.autocast", "autocast", _OLD_AUTOCAST, replacement="torch.amp.autocast"),
    Api("torch.xpu.amp.autocast", "autocast"),
    Api("torch.cuda.amp.GradScaler", "grad_scaler", _SCALER),
    Api("torch.amp.GradScaler", "grad_scaler", ("device",) + _SCALER),
    Api("torch.GradScaler", "grad_scaler", ("device",) + _SCALER),
    Api("torch.cpu.amp.GradScaler", "grad_scaler"),
    Api("torch.distributed.fsdp.sharded_grad_scaler.ShardedGradScaler", "grad_scaler"),
    Api("torch.set_float32_matmul_precision", "matmul_precision", ("precision",)),
    Api("torch.set_default_dtype", "default_dtype", ("d",)),
    # -- determinism --------------------------------------------------------------------------------
    Api("torch.manual_seed", "seed", ("seed",)), Api("torch.random.manual_seed", "seed", ("seed",)),
    Api("torch.cuda.manual_seed", "seed", ("seed",)), Api("torch.cuda.manual_seed_all", "seed", ("seed",)),
    Api("random.seed", "seed", ("a", "version")), Api("numpy.random.seed", "seed", ("seed",)),
    Api("numpy.random.default_rng", "seed", ("seed",)),
    Api("lightning.pytorch.seed_everything", "seed", ("seed", "workers")),
    Api("lightning.fabric.seed_everything", "seed", ("seed", "workers")),
    Api("transformers.set_seed", "seed", ("seed", "deterministic")),
    Api("accelerate.utils.set_seed", "seed", ("seed", "device_specific", "deterministic")),
    Api("tensorflow.random.set_seed", "seed"), Api("jax.random.PRNGKey", "seed"),
    Api("torch.Generator.manual_seed", "seed"),
    Api("torch.use_deterministic_algorithms", "deterministic", ("mode", "warn_only")),
    # -- training loop ------------------------------------------------------------------------------
    Api("torch.nn.utils.clip_grad_norm_", "clip", ("parameters", "max_norm", "norm_type", "error_if_nonfinite",
                                                   "foreach")),
    Api("torch.nn.utils.clip_grad_value_", "clip", ("parameters", "clip_value", "foreach")),
    # -- compile / distributed ----------------------------------------------------------------------
    Api("torch.compile", "compile", ("model", "fullgraph", "dynamic", "backend", "mode", "options", "disable")),
    Api("torch._dynamo.optimize", "compile"), Api("torch.jit.script", "compile"), Api("torch.jit.trace", "compile"),
    Api("torch.nn.parallel.DistributedDataParallel", "distributed",
        ("module", "device_ids", "output_device", "dim", "broadcast_buffers", "process_group", "bucket_cap_mb",
         "find_unused_parameters", "check_reduction", "gradient_as_bucket_view", "static_graph"), wraps=True),
    Api("torch.nn.DataParallel", "distributed", ("module", "device_ids", "output_device", "dim"), wraps=True),
    Api("torch.distributed.fsdp.FullyShardedDataParallel", "distributed",
        ("module", "process_group", "sharding_strategy", "cpu_offload", "auto_wrap_policy", "backward_prefetch",
         "mixed_precision"), wraps=True),
    Api("torch.distributed.fsdp.fully_shard", "distributed", wraps=True),
    Api("torch.distributed._composable.fsdp.fully_shard", "distributed", wraps=True),
    Api("torch.nn.SyncBatchNorm.convert_sync_batchnorm", "distributed", wraps=True),
    Api("deepspeed.initialize", "distributed", wraps=True),
    Api("torch.distributed.tensor.parallel.parallelize_module", "tensor_parallel",
        ("module", "device_mesh", "parallelize_plan"), wraps=True),
    Api("torch.distributed.device_mesh.init_device_mesh", "device_mesh",
        ("device_type", "mesh_shape", "mesh_dim_names")),
    Api("torch.distributed.init_process_group", "process_group",
        ("backend", "init_method", "timeout", "world_size", "rank")),
    Api("torch.cuda.set_device", "device", ("device",)),
    Api("torch.accelerator.set_device_index", "device", ("device",)),
    Api("torch.xpu.set_device", "device", ("device",)),
)

_F_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
             "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cosine_embedding_loss", "ctc_loss")

ROLE_PATTERNS: tuple[RolePattern, ...] = (
    RolePattern("optimizer", ("torch.optim.", "bitsandbytes.optim.", "apex.optimizers.", "timm.optim.",
                              "torch.distributed.optim.", "transformers.optimization.", "deepspeed.ops."),
                r"[A-Z]\w*", exclude=r"torch\.optim\.lr_scheduler.*|torch\..*(?<!\w)Optimizer"),
    RolePattern("scheduler", ("torch.optim.lr_scheduler.", "timm.scheduler.", "transformers.optimization.get_"),
                r".*"),
    RolePattern("scheduler", ("transformers.",), r"get_\w*schedule\w*"),
    RolePattern("loss", ("torch.nn.functional.",), r"\w*_loss|" + "|".join(_F_LOSSES)),
    RolePattern("loss", ("torch.nn.",), r"\w*Loss", exclude=r"torch\.nn\.functional\..*"),
    RolePattern("dropout", ("",), r"DropPath|DropBlock2d"),
    RolePattern("norm_layer", ("torch.nn.functional.",),
                r"layer_norm|batch_norm|group_norm|instance_norm|rms_norm|local_response_norm"),
)

APIS = APIS + LIBRARY_APIS
ROLE_PATTERNS = ROLE_PATTERNS + LIBRARY_PATTERNS

# Class names that normalize, wherever they come from (a library's or the file's own class).
NORM_LAYER_NAMES = (r"(?:BatchNorm[123]?d?|SyncBatchNorm|LayerNorm|GroupNorm|InstanceNorm[123]d|RMSNorm|"
                    r"LocalResponseNorm|LazyBatchNorm[123]d|LazyInstanceNorm[123]d|FrozenBatchNorm2d|"
                    r"LayerNorm2d|BatchNormAct2d|GroupNorm1)$")

# torch.nn.functional.X -> the torch.nn module class computing the same (``F.cross_entropy`` and
# ``nn.CrossEntropyLoss()`` are one loss).
FUNCTIONAL_FORMS = {
    "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss", "mse_loss": "MSELoss", "l1_loss": "L1Loss",
    "binary_cross_entropy": "BCELoss", "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "smooth_l1_loss": "SmoothL1Loss", "huber_loss": "HuberLoss", "kl_div": "KLDivLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss", "ctc_loss": "CTCLoss", "margin_ranking_loss": "MarginRankingLoss",
    "poisson_nll_loss": "PoissonNLLLoss", "gaussian_nll_loss": "GaussianNLLLoss", "hinge_embedding_loss":
    "HingeEmbeddingLoss", "multi_margin_loss": "MultiMarginLoss", "soft_margin_loss": "SoftMarginLoss",
    "triplet_margin_loss": "TripletMarginLoss", "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "dropout": "Dropout", "dropout1d": "Dropout1d", "dropout2d": "Dropout2d", "dropout3d": "Dropout3d",
    "layer_norm": "LayerNorm", "group_norm": "GroupNorm", "rms_norm": "RMSNorm", "gelu": "GELU", "relu": "ReLU",
    "silu": "SiLU", "softmax": "Softmax", "log_softmax": "LogSoftmax",
}


def module_form(qualname: str) -> str:
    """``torch.nn.CrossEntropyLoss`` for ``torch.nn.functional.cross_entropy``; other names unchanged."""
    if qualname.startswith("torch.nn.functional."):
        last = qualname.rsplit(".", 1)[-1]
        if last in FUNCTIONAL_FORMS:
            return "torch.nn." + FUNCTIONAL_FORMS[last]
    return qualname


# -- look-ups ---------------------------------------------------------------------------------------
_BY_NAME: dict[str, Api] = {api.name: api for api in APIS}
_ALIASES = tuple((re.compile(pattern), replacement) for pattern, replacement in MODULE_ALIASES)
_PATTERNS = tuple((p, re.compile(p.last), re.compile(p.exclude) if p.exclude else None) for p in ROLE_PATTERNS)
_NORM_LAYER = re.compile(NORM_LAYER_NAMES)


@lru_cache(maxsize=16384)
def canonical(qualname: str) -> str:
    """One name per API: ``torch.optim.adam.Adam`` and ``torch.optim.Adam`` are the same."""
    for pattern, replacement in _ALIASES:
        qualname = pattern.sub(replacement, qualname, count=1)
    return qualname


def api(qualname: str) -> Api | None:
    """The table's entry for ``qualname`` (canonicalised), if it has one."""
    return _BY_NAME.get(canonical(qualname))


def names_with_role(*roles: str) -> frozenset[str]:
    """The listed APIs of these roles (not those only a ``RolePattern`` recognises)."""
    return frozenset(entry.name for entry in APIS if entry.role in roles)


@lru_cache(maxsize=16384)
def has_role(qualname: str, role: str) -> bool:
    """Is ``qualname`` an API of ``role``, listed or recognised by a pattern?"""
    name = canonical(qualname)
    entry = _BY_NAME.get(name)
    if entry is not None and entry.role == role:
        return True
    last = name.rsplit(".", 1)[-1]
    for pattern, last_re, exclude in _PATTERNS:
        if pattern.role == role and name.startswith(pattern.prefixes) and last_re.fullmatch(last) \
                and not (exclude is not None and exclude.fullmatch(name)):
            return True
    return False


@lru_cache(maxsize=16384)
def role_of(qualname: str) -> str | None:
    """The role of ``qualname``: its entry's, else the first pattern's that recognises it."""
    name = canonical(qualname)
    entry = _BY_NAME.get(name)
    if entry is not None:
        return entry.role
    last = name.rsplit(".", 1)[-1]
    for pattern, last_re, exclude in _PATTERNS:
        if name.startswith(pattern.prefixes) and last_re.fullmatch(last) \
                and not (exclude is not None and exclude.fullmatch(name)):
            return pattern.role
    return None


# Documented defaults of parameters people write out or drop (PyTorch's signatures): passing one
# explicitly, or no longer passing it, changes nothing (``BatchNorm1d(c, affine=True)`` is
# ``BatchNorm1d(c)``). Only parameters whose default has not changed across PyTorch 2.x.
_NORM_DEFAULTS: dict[str, object] = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
_CONV_DEFAULTS: dict[str, object] = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}
_ADAM_DEFAULTS: dict[str, object] = {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}
_INSTANCE_NORM_DEFAULTS: dict[str, object] = {"eps": 1e-5, "momentum": 0.1, "affine": False,
                                              "track_running_stats": False}
DEFAULTS: dict[str, dict[str, object]] = {
    **{f"torch.nn.{name}": _NORM_DEFAULTS for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm")},
    **{f"torch.nn.{name}": _INSTANCE_NORM_DEFAULTS for name in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")},
    "torch.nn.LayerNorm": {"eps": 1e-5, "elementwise_affine": True, "bias": True},
    "torch.nn.GroupNorm": {"eps": 1e-5, "affine": True},
    "torch.nn.Linear": {"bias": True},
    **{f"torch.nn.{name}": _CONV_DEFAULTS for name in ("Conv1d", "Conv2d", "Conv3d")},
    "torch.nn.Dropout": {"p": 0.5, "inplace": False},
    "torch.nn.ReLU": {"inplace": False}, "torch.nn.GELU": {"approximate": "none"},
    "torch.nn.CrossEntropyLoss": {"weight": None, "ignore_index": -100, "reduction": "mean", "label_smoothing": 0.0},
    "torch.nn.NLLLoss": {"weight": None, "ignore_index": -100, "reduction": "mean"},
    "torch.nn.MSELoss": {"reduction": "mean"}, "torch.nn.L1Loss": {"reduction": "mean"},
    "torch.nn.BCEWithLogitsLoss": {"weight": None, "reduction": "mean", "pos_weight": None},
    "torch.optim.SGD": {"momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False},
    "torch.optim.Adam": {**_ADAM_DEFAULTS, "weight_decay": 0},
    "torch.optim.AdamW": {**_ADAM_DEFAULTS, "weight_decay": 1e-2},
    "torch.utils.data.DataLoader": {"num_workers": 0, "pin_memory": False, "drop_last": False,
                                    "persistent_workers": False, "sampler": None, "collate_fn": None},
    "torch.nn.utils.clip_grad_norm_": {"norm_type": 2.0},
}
NO_DEFAULT = object()


def default_of(qualname: str, param: str) -> object:
    """The documented default of ``param`` (``DEFAULTS``), or ``NO_DEFAULT`` when not known."""
    return DEFAULTS.get(canonical(qualname), {}).get(param, NO_DEFAULT)


def parameters(qualname: str) -> tuple[str, ...]:
    """Parameter names in positional order (empty when the table does not know them)."""
    entry = _BY_NAME.get(canonical(qualname))
    return entry.params if entry is not None else ()


def is_optimizer(qualname: str) -> bool:
    return has_role(qualname, "optimizer")


def is_scheduler(qualname: str) -> bool:
    return has_role(qualname, "scheduler")


def is_loss(qualname: str) -> bool:
    return has_role(qualname, "loss")


def is_dropout(qualname: str) -> bool:
    return has_role(qualname, "dropout")


def is_autocast(qualname: str) -> bool:
    return has_role(qualname, "autocast")


def is_grad_scaler(qualname: str) -> bool:
    return has_role(qualname, "grad_scaler")


def is_dataloader(qualname: str) -> bool:
    return has_role(qualname, "dataloader")


def is_norm_layer(qualname: str, local_classes: Iterable[str] = ()) -> bool:
    """A normalization layer: torch's, a library's, or a class of the file whose name says so."""
    name = canonical(qualname)
    if name.startswith("torch.nn.functional."):
        return has_role(name, "norm_layer")
    last = name.rsplit(".", 1)[-1]
    if not _NORM_LAYER.search(last):
        return False
    return "." in name or last in local_classes or name == last


def star_resolve(name: str, star_modules: Iterable[str]) -> str | None:
    """``Adam`` under ``from torch.optim import *``: the listed API it names, if any."""
    for module in star_modules:
        candidate = canonical(f"{module}.{name}")
        entry = _BY_NAME.get(candidate)
        if entry is not None and (entry.params or entry.role in ("autocast", "grad_scaler")):
            return candidate
    return None


# The sets rules test membership in, derived from the table.
AUTOCAST = names_with_role("autocast")
DEPRECATED_AUTOCAST = frozenset(entry.name for entry in APIS if entry.role == "autocast" and entry.replacement)
GRAD_SCALERS = names_with_role("grad_scaler")
NORMALIZE_TRANSFORMS = names_with_role("normalize")
DROPOUT = names_with_role("dropout")
DATALOADERS = names_with_role("dataloader")
SAMPLERS = names_with_role("sampler")
SEEDS = names_with_role("seed")
COMPILE = names_with_role("compile")
DISTRIBUTED_WRAPPERS = frozenset(entry.name for entry in APIS if entry.wraps)
