"""What a hyperparameter's name says it configures: ``learning_rate`` -> (learning_rate, lr).

Settings defined apart from their use (module constants, argparse options, config keys,
dataclass fields) are classified by their last name component, lower-cased, against
this table (first match wins). Names that only mean something when they hold a string
choice (``optimizer = "adamw"``, ``arch = "resnet50"``) are classified only then.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_NOT_GIVEN: Any = object()

# name pattern (lowercase, whole name) -> (family, topic)
NAME_TOPICS: tuple[tuple[str, str, str], ...] = (
    (r"(?:lr_?decay\w*|decay_lr|lr_?sched\w*|scheduler|sched|lr_?policy|warmup\w*|\w*_warmup\w*|cosine\w*|"
     r"lr_?min|min_?lr|lr_?decay_?iters|lr_?gamma|lr_?step\w*|lr_?milestones?|warmdown\w*|\w*_warmdown\w*|"
     r"cooldown\w*|(?:lr_)?decay_?style|layer_?(?:wise_)?decay|lr_?layer_?decay|skip_?scheduler|"
     r"scheduler_?(?:type|name)|lr_?scheduler_?type)", "learning_rate", "schedule"),
    (r"(?:lr|learning_?rate|lr\d|base_?lr|max_?lr|init_?lr|initial_?lr|peak_?lr|final_?lr|end_?lr|"
     r"start_?lr|blr|\w+_lr|lr_\w+)", "learning_rate", "lr"),
    (r"(?:grad(?:ient)?_?accum\w*|accum(?:ulation)?_?(?:steps|iter|iters|freq)?|accumulate_grad_batches|update_freq|"
     r"batch_accumulation\w*)",
     "batch_size", "accumulation"),
    (r"(?:batch_?size|bs|\w+_batch_?size|batch_?size_\w+|batchsize|micro_?batch\w*|global_?batch\w*|"
     r"tokens_per_batch|max_tokens|train_micro_batch_size_per_gpu|\w+_batch_size_per_\w+)", "batch_size", "batch"),
    (r"(?:weight_?decay|\w+_weight_?decay|weight_?decay_(?:norm|bias|embed\w*|rate|value)|wd|momentum|beta[12]|betas|adam_(?:beta[12]?|betas|eps|epsilon|weight_decay|wd)|"
     r"nesterov|amsgrad|optim(?:izer)?_?eps|"
     r"no_?decay\w*|fused|use_fused|foreach|use_foreach)", "optimizer", "optimizer_hparam"),
    (r"(?:optimizer|optim|opt|optimizer_?(?:name|type|cls|class))", "optimizer", "optimizer_choice"),
    (r"(?:\w*drop_?out\w*|drop_?rate|\w+_drop|\w*_?pdrop|p_?drop|drop_?path\w*|drop_?block\w*|attn_?drop\w*|"
     r"proj_?drop\w*|stochastic_depth\w*)", "regularization", "dropout"),
    (r"(?:mixup\w*|cutmix\w*|rand_?aug\w*|auto_?aug\w*|aa|reprob|re_?prob|re_?mode|re_?count|remode|recount|"
     r"color_?jitter|hflip|vflip|augment\w*|\w+_aug|aug_\w+|random_?erasing\w*|trivial_?aug\w*|scale_?jitter|"
     r"\w*blur\w*|neftune\w*)", "regularization",
     "augmentation"),
    (r"(?:label_?smoothing|smoothing|focal_\w+|pos_?weight|class_?weights?|ignore_?index|"
     r"ignore_?(?:token_?id|label_?id|id)|label_?pad_?token_?id|loss_?weights?|\w+_loss_?weight|snr_?gamma|"
     r"prediction_?type|scale_?loss|\w+_coef|local_?loss)", "loss", "loss_arg"),
    # ``loss`` alone is the loss value, not a setting; these name a loss only when they hold a string choice
    (r"(?:loss_?(?:fn|func|function|type|name)|criterion)", "loss", "loss_choice"),
    (r"(?:pythonhashseed|cublas_workspace_config)", "determinism", "deterministic_flag"),
    (r"(?:\w*seed|seed_\w+|seeds|random_?state)", "determinism", "seed"),
    (r"(?:deterministic|cudnn_?deterministic|cudnn_?benchmark|benchmark|use_deterministic\w*)",
     "determinism", "deterministic_flag"),
    (r"(?:allow_tf32|tf32|\w+_tf32|allow_\w+_reduced_precision_reduction)", "precision", "tf32"),
    (r"(?:dtype|\w+_dtype|dtype_\w+|precision|\w+_precision|amp|use_amp|amp_\w+|fp16|bf16|fp32|fp8|use_fp8|half|"
     r"mixed_?precision|autocast|use_autocast|use_fp16|use_bf16|mixed_?prec\w*|load_in_(?:4|8)bit|q_?lora|"
     r"quantization\w*|quant_?type|bnb_\w+|low_?precision\w*)",
     "precision", "dtype"),
    (r"(?:compile|use_compile|torch_compile|compile_\w+|\w+_compile)", "compile_distributed", "compile"),
    (r"(?:ddp|use_ddp|fsdp|use_fsdp|sync_?bn|syncbn|strategy|find_unused_parameters|data_?parallel|"
     r"distributed|dist_backend|tensor_?parallel\w*|tp_size|dp_size|pp_size|zero_?stage|dp|tp|pp|"
     r"(?:data|pipeline|tensor|sequence|context|expert)_?parallel(?:_?(?:size|degree))?|pp_?engine|tp_?mode|"
     r"tp_\w+|dp_(?:size|degree|shard\w*|replicate\w*|rank|group|world_size|mesh)|pp_\w+|require_backward_grad_sync|gradient_as_bucket_view|static_graph|num_?nodes|nodes|"
     r"dist_?bn)",
     "compile_distributed", "distributed"),
    (r"(?:gpus?|gpu_?ids?|device_?ids|cuda_visible_devices|n_?gpus?|num_?gpus)",
     "compile_distributed", "devices"),
    (r"(?:device|device_?name)", "compile_distributed", "device_choice"),
    (r"(?:\w*shuffle\w*)", "data_pipeline", "shuffle"),
    (r"(?:\w*layer_?norm\w*|(?:\w+_)?norm_?(?:type|layer|class|cls|impl|eps|epsilon|momentum|affine)|"
     r"(?:batch|group|instance)_?norm\w*|(?:ln|gn)_(?:eps|epsilon|affine)|zero_init_(?:residual|last(?:_bn|_gamma)?)|rms_?norm\w*|use_\w*norm\w*|normalize_\w+|\w+_normalization|normalization|precise_?bn\w*|bn_\w+)",
     "normalization", "norm_arg"),
    (r"(?:sampler|(?:train|val|valid|test|eval|batch|data|random|weighted)_?sampler|sampler_?(?:type|name))",
     "data_pipeline", "sampler"),
    (r"(?:drop_?last)", "data_pipeline", "drop_last"),
    (r"(?:num_?workers|workers|\w+_workers|pin_?memory|persistent_?workers|prefetch_?factor)",
     "data_pipeline", "loader"),
    (r"(?:train_?split|val_?split|valid\w*_split|test_?split|split_?ratio|val_?ratio|val_?frac\w*|"
     r"train_?frac\w*|train_?ratio|holdout\w*|subset\w*|data_?fraction|max_?samples|num_?samples|"
     r"train_?size|val_?size|test_?size|\w*_?splits?)", "data_pipeline", "split"),
    (r"(?:dataset|datasets|dataset_?(?:name|path|dir|type)|hf_dataset\w*|data_?(?:path|dir|file|files|root)|"
     r"train_?(?:data|file|files|bin|path)|input_?bin|train_?data_?\w+)", "data_pipeline", "dataset"),
    (r"(?:n_?layers?|num_?layers|num_?hidden_?layers|depth|n_?heads?|num_?heads|nhead|num_?attention_?heads|"
     r"n_?kv_?heads?|num_?key_?value_?heads|n_?embd|embed_?dim|embedding_?dim|d_?model|hidden_?size|"
     r"hidden_?dim|d_?ff|ffn_?dim|dim_?feedforward|intermediate_?size|mlp_?ratio|block_?size|"
     r"context_?length|context_?len|seq_?len|max_?seq_?len\w*|max_?len|max_?length|n_?ctx|"
     r"max_?position_?embeddings|n_?positions|width|channels|base_?channels|n_?channels|num_?channels|"
     r"num_?filters|n_?filters|growth_?rate|widen_?factor|width_?mult\w*|vocab_?size|n_?experts|"
     r"num_?experts|latent_?dim|z_?dim|nz|ngf|ndf|nhid|ninp|emsize|nlayers|sequence_?length|seq_?length|"
     r"max_?sequence_?length|context_?size|head_?dim|num_?head_?channels|rope_?(?:theta|scaling|scale|factor)|"
     r"condense_?ratio|aspect_?ratio|n_?query_?groups|num_?query_?groups)", "model_capacity", "size"),
    (r"(?:arch|model_?name|model_?type|architecture|backbone|net|network|model)", "model_capacity",
     "architecture"),
    (r"(?:grad_?clip\w*|clip_?grad\w*|max_?grad_?norm|gradient_?clip\w*|clip_?norm|grad_?norm_?clip|"
     r"clip_?value)", "training_loop", "clipping"),
)
_COMPILED = [(re.compile(pattern + r"$"), family, topic) for pattern, family, topic in NAME_TOPICS]
# Names that only mean something when their value is a string choice ("adamw", "resnet50")
STRING_ONLY_TOPICS = {"optimizer_choice", "architecture", "device_choice", "loss_choice", "dataset"}


def classify_name(name: str, value: Any = _NOT_GIVEN) -> tuple[str, str] | None:
    """(family, topic) of a hyperparameter called ``name`` (last dotted component)."""
    role = _name_role(name.rsplit(".", 1)[-1])
    if role is not None and role[1] in STRING_ONLY_TOPICS and not isinstance(value, str):
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


# Settings that multiply the global batch: each data-parallel replica takes its own batch, so the
# batch one optimizer step sees is per-device batch x data-parallel size x accumulation steps
# (``dp`` in nanotron / Megatron configs, ``num_nodes`` and ``devices`` of a Lightning ``Trainer``,
# ``--nnodes`` / ``--nproc_per_node`` of torchrun, a Slurm job's node count).
_DATA_PARALLEL_DEGREE = re.compile(
    r"(?:dp|dp_?(?:size|degree|shard\w*|replicate\w*)|data_?parallel_?(?:size|degree|shard_degree|replicate_degree)?|"
    r"num_?nodes|n_?nodes|nodes|gpus|n_?gpus|num_?gpus|gpus_?per_?node|nproc_?per_?node|devices|world_?size)$")


def is_data_parallel_degree(name: str) -> bool:
    """Does a setting called ``name`` (last dotted component) set how many replicas share the batch?"""
    key = name.rsplit(".", 1)[-1].lower().lstrip("_")
    if key.startswith("-"):
        key = key.lstrip("-").replace("-", "_")
    return bool(_DATA_PARALLEL_DEGREE.match(key))


# A config section says what its keys configure when a key's own name does not: ``BN.USE_PRECISE_STATS``,
# ``amp.enabled``, ``fsdp.sharding_strategy``, ``lr_scheduler.t_max``. Only for keys no entry above knows.
SECTION_TOPICS: tuple[tuple[str, str, str], ...] = (
    (r"(?:bn|batch_?norm|norm|normalization|layer_?norm|rms_?norm|group_?norm)", "normalization", "norm_arg"),
    (r"(?:optim|optimizer|optimizer_?(?:factory|config|cfg|args|kwargs|params))", "optimizer", "optimizer_hparam"),
    (r"(?:lr_?sched\w*|scheduler|sched|lr_?policy|learning_?rate_?scheduler|lr_?config|warmup)",
     "learning_rate", "schedule"),
    (r"(?:amp|mixed_?precision|fp16|bf16|fp8|float8|precision|quantization|quant\w*|bnb\w*)", "precision", "dtype"),
    (r"(?:fsdp\w*|ddp|deepspeed|zero_?optimization|parallelism|distributed|data_?parallel)",
     "compile_distributed", "distributed"),
    (r"(?:compile|torch_?compile|dynamo)", "compile_distributed", "compile"),
    (r"(?:dropout|drop_?path|stochastic_?depth)", "regularization", "dropout"),
    (r"(?:aug|augment\w*|mixup|cutmix|rand_?aug\w*|auto_?aug\w*|color_?jitter|random_?erasing)",
     "regularization", "augmentation"),
    (r"(?:loss|losses|criterion)", "loss", "loss_arg"),
)
_SECTIONS = [(re.compile(pattern + r"$"), family, topic) for pattern, family, topic in SECTION_TOPICS]
# keys that keep books, whatever section they sit in: where and how often to save, log, evaluate
_BOOKKEEPING = re.compile(r"\w*(?:checkpoint|ckpt|log|print|save|eval|period|interval|freq|frequency|dir|path|"
                          r"file|name|verbose|debug|project|wandb|tag|url|resume|profile|trace|export)\w*$")


def classify_in_section(section: str, key: str) -> tuple[str, str] | None:
    """(family, topic) of a key no name entry knows, by the config section it sits in."""
    key = key.lower().lstrip("_").replace("-", "_")
    if _BOOKKEEPING.match(key):
        return None
    section = section.rsplit(".", 1)[-1].lower().lstrip("_").replace("-", "_")
    for pattern, family, topic in _SECTIONS:
        if pattern.match(section):
            return family, topic
    return None
