"""The thirteen families every finding belongs to (a contract: see docs/rules.md)."""

FAMILIES: dict[str, str] = {
    "precision": "autocast / GradScaler, dtypes, TF32 and matmul precision, framework precision settings",
    "normalization": "Normalize transforms, normalization layers, input scaling",
    "learning_rate": "learning-rate values, schedulers, warmup and decay, when the scheduler steps",
    "optimizer": "optimizer class, weight decay, betas, momentum, eps, parameter groups",
    "loss": "loss class and its arguments",
    "batch_size": "batch size, gradient accumulation",
    "determinism": "seeds, cuDNN determinism and benchmark, deterministic algorithms, worker seeding",
    "training_loop": "zero_grad / backward / step order, GradScaler use, clipping, train()/eval(), no_grad",
    "regularization": "dropout, data augmentation",
    "data_pipeline": "shuffle, drop_last, samplers, workers, pinning, dataset splits",
    "model_capacity": "layers, width, heads, context length, architecture",
    "compile_distributed": "torch.compile, DDP / FSDP / DataParallel, tensor parallelism, SyncBatchNorm, devices",
    "environment": "container images, torch / CUDA pins",
}

# Rule codes are ML + the family's number + two digits: ML201 is a normalization rule.
FAMILY_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(FAMILIES, start=1)}
