"""Which run-time observations speak for which finding: the one table of it, as data.

A finding is matched by its code when the code has an entry (most specific first), else by
its family. Each entry lists observation names of ``observed`` in order of weight: the
first one whose value differs between the base run and the change run is the one shown.
``NOT_OBSERVABLE`` names findings that a validation run cannot exercise, with the reason
said to the user instead of a verdict.
"""
from __future__ import annotations

FAMILY: dict[str, tuple[str, ...]] = {
    "precision": ("autocast", "grad_scaler", "loss.input_dtype", "params.dtypes", "precision.matmul"),
    "normalization": ("input.first_layer", "norm_layers", "input.model", "loss.step1"),
    "learning_rate": ("optimizer.lr", "scheduler"),
    "optimizer": ("optimizer.class", "optimizer.weight_decay", "optimizer.momentum", "optimizer.betas",
                  "optimizer.eps", "optimizer.options", "optimizer.param_groups", "optimizer.lr"),
    "loss": ("loss.function", "loss.step1"),
    "batch_size": ("batch.loss", "batch.samples", "data.batch_size", "batch.backwards"),
    "determinism": ("seeds", "determinism.flags"),
    "training_loop": ("loop.zero_grad", "batch.backwards", "loop.train_mode", "loop.clipping", "grad_scaler",
                      "loop.params_without_grad", "loop.grad_norm"),
    "regularization": ("dropout", "input.model"),
    "data_pipeline": ("data.loader", "batch.samples", "input.model"),
    "model_capacity": ("model.parameters", "model.structure"),
    "compile_distributed": ("distributed.wrapping", "distributed.world", "model.sync_batchnorm"),
    "environment": (),
}

BY_CODE: dict[str, tuple[str, ...]] = {
    "ML101": ("autocast", "loss.input_dtype"),
    "ML102": ("grad_scaler",),
    "ML103": ("autocast", "loss.input_dtype", "params.dtypes"),
    "ML104": ("precision.matmul",),
    "ML106": ("autocast", "grad_scaler"),
    "ML201": ("input.model", "input.first_layer", "loss.step1"),
    "ML202": ("input.first_layer", "norm_layers", "model.structure"),
    "ML203": ("input.model", "input.first_layer"),
    "ML301": ("optimizer.lr",),
    "ML302": ("scheduler", "optimizer.lr"),
    "ML303": ("scheduler", "optimizer.lr"),
    "ML304": ("optimizer.lr", "scheduler"),
    "ML401": ("optimizer.class",),
    "ML402": ("optimizer.weight_decay", "optimizer.momentum", "optimizer.betas", "optimizer.eps",
              "optimizer.options"),
    "ML403": ("optimizer.param_groups", "optimizer.lr", "optimizer.weight_decay"),
    "ML601": ("batch.loss", "batch.samples", "data.batch_size"),
    "ML602": ("batch.backwards", "batch.samples"),
    "ML603": ("batch.loss", "batch.samples", "data.batch_size"),
    "ML701": ("seeds",),
    "ML702": ("determinism.flags",),
    "ML703": ("determinism.flags",),
    "ML801": ("loop.zero_grad", "loop.grad_norm"),
    "ML802": ("batch.backwards", "loop.zero_grad", "loop.grad_norm"),
    "ML803": ("grad_scaler", "loop.grad_norm"),
    "ML804": ("grad_scaler",),
    "ML805": ("loop.clipping", "loop.grad_norm"),
    "ML806": ("loop.train_mode", "loop.modules_in_eval", "dropout"),
    "ML807": ("loop.params_without_grad", "loop.grad_norm", "batch.backwards"),
    "ML808": ("loop.grad_norm",),
    "ML901": ("dropout",),
    "ML902": ("input.model", "input.first_layer"),
    "ML1001": ("data.loader", "input.model"),
    "ML1002": ("data.loader",),
    "ML1003": ("data.loader", "input.model"),
    "ML1004": ("data.loader", "input.model"),
    "ML1101": ("model.parameters", "model.structure"),
    "ML1102": ("model.structure", "model.parameters"),
    "ML1201": ("distributed.wrapping",),
    "ML1202": ("distributed.wrapping", "distributed.world", "model.sync_batchnorm"),
}

NOT_OBSERVABLE: dict[str, str] = {
    "environment": "both sides run in the same environment (the runner's): a change of image or pins is not "
                   "exercised by this validation",
    "ML107": "the old and the new spelling of the API behave the same",
    "ML704": "DataLoader worker seeding is not recorded by the probe",
    "ML1203": "tensor-parallel plans are not recorded by the probe",
    "ML1204": "the device placement a run gets is the runner's, the same for both sides",
}

# How an observation is named in a sentence ("the optimizer's learning rate was 0.05 on both sides").
LABELS: dict[str, str] = {
    "optimizer.class": "the optimizer",
    "optimizer.param_groups": "the optimizer's parameter groups",
    "optimizer.lr": "the optimizer's learning rate",
    "optimizer.weight_decay": "the optimizer's weight decay",
    "optimizer.momentum": "the optimizer's momentum",
    "optimizer.betas": "the optimizer's betas",
    "optimizer.eps": "the optimizer's eps",
    "optimizer.options": "the optimizer's options",
    "scheduler": "the LR schedulers that stepped",
    "autocast": "autocast in the forward pass",
    "grad_scaler": "the GradScaler",
    "loss.function": "the loss function",
    "loss.input_dtype": "the dtype of the loss input",
    "loss.step1": "the loss at step 1",
    "batch.loss": "the batch at the loss",
    "batch.samples": "the samples per step",
    "batch.backwards": "the backward passes per step",
    "data.batch_size": "the DataLoader batch size",
    "world_size": "the number of processes",
    "model.parameters": "the parameter count",
    "model.structure": "the model's structure",
    "params.dtypes": "the parameter dtypes",
    "norm_layers": "the norm layers",
    "model.sync_batchnorm": "the SyncBatchNorm layers",
    "dropout": "the dropout that ran",
    "distributed.wrapping": "the model's wrappers (DDP, FSDP, torch.compile)",
    "distributed.world": "the process group",
    "input.first_layer": "the input statistics of the first layer",
    "input.model": "the input statistics of the model",
    "loop.train_mode": "the model's train/eval mode",
    "loop.modules_in_eval": "the modules in eval mode",
    "loop.zero_grad": "the zero_grad calls per step",
    "loop.clipping": "gradient clipping",
    "loop.grad_norm": "the gradient norm at step 1",
    "loop.params_without_grad": "the parameters without a gradient",
    "seeds": "the seeds set",
    "determinism.flags": "the determinism flags",
    "precision.matmul": "the matmul precision flags",
    "data.loader": "the DataLoader settings",
}


def observations_for(code: str, family: str) -> tuple[str, ...]:
    return BY_CODE.get(code, FAMILY.get(family, ()))


def not_observable(code: str, family: str) -> str | None:
    return NOT_OBSERVABLE.get(code) or NOT_OBSERVABLE.get(family)


def label(name: str) -> str:
    return LABELS.get(name, name)
