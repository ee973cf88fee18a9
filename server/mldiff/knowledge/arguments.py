"""What an argument of a known API configures: (family, topic) by role and parameter name.

The libraries' configuration APIs say it per parameter name (``knowledge/libraries.py``);
for the rest, ``ARGUMENT_ROLES`` is read top to bottom; the first entry whose selector matches the call
decides. An entry maps parameter names to (family, topic) and says what the role's other
parameters are (``OTHER``): a (family, topic) for every one, ``None`` for none, or
``NEXT`` to let later entries decide. Positional arguments the signature table does not
name arrive as ``#1``, ``#2``...; ``**kwargs`` expansions as ``**0`` and are never
classified here (their values are followed where the dict is built).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from mldiff.knowledge.apis import DISTRIBUTED_WRAPPERS, canonical, has_role, is_norm_layer
from mldiff.knowledge.libraries import LIBRARY_ARGUMENTS

Role = tuple[str, str]
NEXT = ("", "")  # marker: this entry does not decide; the next ones may


@dataclass(frozen=True)
class ArgumentRole:
    """One row: which calls it is about, and what their parameters configure."""

    roles: tuple[str, ...] = ()          # API roles (knowledge/apis.py)
    names: frozenset[str] = frozenset()  # canonical qualified names
    last: frozenset[str] = frozenset()   # last name components (``DistributedSampler`` of any module)
    prefix: str = ""                     # a qualified-name prefix (with ``last``: only those names)
    params: Mapping[str, Role | None] = field(default_factory=dict)
    other: Role | None = None            # the rest of the parameters (NEXT: undecided)
    positional: Role | None = None       # ``#N`` parameters the signature does not name
    params_only: bool = False            # matches only calls that pass one of ``params``


_LOADER = {
    "batch_size": ("batch_size", "batch"), "worker_init_fn": ("determinism", "worker_seed"),
    "generator": ("determinism", "worker_seed"), "seed": ("determinism", "seed"),
    "shuffle": ("data_pipeline", "shuffle"), "sampler": ("data_pipeline", "sampler"),
    "batch_sampler": ("data_pipeline", "sampler"), "drop_last": ("data_pipeline", "drop_last"),
    "num_workers": ("data_pipeline", "loader"), "pin_memory": ("data_pipeline", "loader"),
    "persistent_workers": ("data_pipeline", "loader"), "prefetch_factor": ("data_pipeline", "loader"),
}
_DROPOUT_P = ("regularization", "dropout")
_SIZE = ("model_capacity", "size")

ARGUMENT_ROLES: tuple[ArgumentRole, ...] = (
    ArgumentRole(roles=("optimizer",), params={
        "opt": ("optimizer", "optimizer_choice"),  # timm's create_optimizer_v2(model, opt='adamw')
        "optimizer_name": ("optimizer", "optimizer_choice"), "opt_name": ("optimizer", "optimizer_choice"),
        "lr": ("learning_rate", "lr")}, other=("optimizer", "optimizer_hparam"), positional=None),
    ArgumentRole(roles=("scheduler",), other=("learning_rate", "schedule"), positional=("learning_rate", "schedule")),
    ArgumentRole(roles=("dataloader",), last=frozenset({"DistributedSampler"}), params=_LOADER, other=None),
    ArgumentRole(roles=("split",), params={"generator": ("determinism", "seed"), "lengths": ("data_pipeline", "split"),
                                           "indices": ("data_pipeline", "split")}, other=None),
    ArgumentRole(roles=("sampler",), params={
        "generator": ("determinism", "seed"), "seed": ("determinism", "seed"),
        "drop_last": ("data_pipeline", "drop_last"), "shuffle": ("data_pipeline", "shuffle"),
        "replacement": ("data_pipeline", "sampler"), "num_samples": ("data_pipeline", "sampler"),
        "weights": ("data_pipeline", "sampler")}, other=None),
    # torchvision's datasets: which files (``root``) and which split are read
    ArgumentRole(prefix="torchvision.datasets.", params={
        "root": ("data_pipeline", "dataset"), "train": ("data_pipeline", "split"),
        "split": ("data_pipeline", "split"), "image_set": ("data_pipeline", "split")}, other=None),
    ArgumentRole(roles=("dropout",), params={"p": _DROPOUT_P, "dropout_p": _DROPOUT_P, "dropout": _DROPOUT_P,
                                             "drop_prob": _DROPOUT_P}, other=None),
    ArgumentRole(params={"dropout_p": _DROPOUT_P}, other=None, params_only=True),   # any API's attention dropout
    ArgumentRole(prefix="torch.nn.", params={"dropout": _DROPOUT_P}, other=None, params_only=True),
    ArgumentRole(roles=("norm_layer",), params={name: ("normalization", "norm_arg") for name in (
        "eps", "momentum", "affine", "elementwise_affine", "bias", "track_running_stats")}, other=None),
    ArgumentRole(roles=("loss",), other=("loss", "loss_arg"), positional=("loss", "loss_arg")),
    ArgumentRole(roles=("seed",), other=("determinism", "seed"), positional=("determinism", "seed")),
    ArgumentRole(roles=("clip",), last=frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"}), params={
        "max_norm": ("training_loop", "clipping"), "clip_value": ("training_loop", "clipping"),
        "norm_type": ("training_loop", "clipping"), "#1": ("training_loop", "clipping")}, other=None),
    ArgumentRole(roles=("compile",), other=("compile_distributed", "compile"),
                 positional=("compile_distributed", "compile")),
    ArgumentRole(roles=("tensor_parallel", "device_mesh"), other=("compile_distributed", "tensor_parallel"),
                 positional=("compile_distributed", "tensor_parallel")),
    ArgumentRole(names=DISTRIBUTED_WRAPPERS, last=frozenset({"DistributedDataParallel", "DataParallel",
                                                             "FullyShardedDataParallel"}),
                 params={"device_ids": ("compile_distributed", "devices"),
                         "output_device": ("compile_distributed", "devices")},
                 other=("compile_distributed", "distributed"), positional=("compile_distributed", "distributed")),
    ArgumentRole(roles=("process_group",), params={"backend": ("compile_distributed", "distributed"),
                                                   "world_size": ("compile_distributed", "distributed")}, other=None),
    ArgumentRole(prefix="torch.nn.", last=frozenset((
        "Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding", "LSTM", "GRU", "RNN", "MultiheadAttention", "Transformer",
        "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoderLayer", "LSTMCell", "GRUCell", "RNNCell",
        "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")),
        params={name: _SIZE for name in (
            "in_features", "out_features", "in_channels", "out_channels", "num_embeddings", "embedding_dim",
            "hidden_size", "num_layers", "embed_dim", "num_heads", "d_model", "nhead", "dim_feedforward",
            "num_encoder_layers", "num_decoder_layers", "input_size")} | {"dropout": _DROPOUT_P},
        other=NEXT, positional=NEXT),
    ArgumentRole(roles=("matmul_precision",), other=None),  # ML104 reports it with its own wording
    ArgumentRole(roles=("autocast",), params={"dtype": ("precision", "dtype"), "enabled": ("precision", "dtype"),
                                              "device_type": ("precision", "dtype")},
                 other=None),
)

# Parameters that are the data or the model, never a setting.
IGNORED_PARAMETERS = frozenset({"input", "target", "params", "optimizer", "module", "model", "dataset", "tensor",
                                "parameters", "query", "key", "value", "#0", "verbose", "model_or_params"})


def _selects(row: ArgumentRole, name: str, param: str) -> bool:
    if row.params_only:
        return param in row.params and name.startswith(row.prefix)
    last = name.rsplit(".", 1)[-1]
    if row.prefix:
        return name.startswith(row.prefix) and (not row.last or last in row.last)
    return (any(has_role(name, role) for role in row.roles) or name in row.names or last in row.last
            or ("norm_layer" in row.roles and is_norm_layer(name)))


@lru_cache(maxsize=16384)
def argument_role(qualname: str, param: str) -> Role | None:
    """(family, topic) of argument ``param`` of a call to ``qualname``, or None."""
    if param in IGNORED_PARAMETERS or param.startswith("**"):
        return None
    name = canonical(qualname)
    library = LIBRARY_ARGUMENTS.get(name)
    if library is not None and param in library:
        return library[param]
    for row in ARGUMENT_ROLES:
        if not _selects(row, name, param):
            continue
        if param in row.params:
            return row.params[param]
        decided = row.positional if param.startswith("#") else row.other
        if decided == NEXT:
            continue
        return decided
    return None


def has_argument_roles(qualname: str) -> bool:
    """Does the table say what this API's arguments configure, parameter by parameter?"""
    return canonical(qualname) in LIBRARY_ARGUMENTS
