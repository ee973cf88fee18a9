"""The training libraries' own APIs: timm, apex, Accelerate, Lightning, Hugging Face Transformers
and PEFT, bitsandbytes, DeepSpeed; torch's grad modes and torchvision's augmentations.

Read from the libraries' signatures and documentation. ``LIBRARY_APIS`` and
``LIBRARY_PATTERNS`` join the table of ``knowledge/apis.py``; ``LIBRARY_ARGUMENTS`` says what
the parameters of the configuration-like APIs (``Trainer(precision=...)``,
``TrainingArguments(learning_rate=...)``, ``LoraConfig(r=...)``) configure, by parameter name.
A "trainer" role has no family of its own: its arguments do.
"""
from __future__ import annotations

from mldiff.knowledge.table import Api, RolePattern

_LOADER_PARAMS = ("dataset", "input_size", "batch_size", "is_training", "use_prefetcher", "no_aug", "re_prob",
                  "re_mode", "re_count", "re_num_splits", "scale", "ratio", "hflip", "vflip", "color_jitter",
                  "auto_augment", "num_aug_repeats", "num_aug_splits", "interpolation", "mean", "std", "num_workers",
                  "distributed", "crop_pct", "crop_mode", "collate_fn", "pin_memory", "fp16", "img_dtype", "device",
                  "tf_preprocessing", "use_multi_epochs_loader", "persistent_workers", "worker_seeding")

LIBRARY_APIS: tuple[Api, ...] = (
    # -- torch: grad modes (a context that changes what backward sees) --------------------------------
    Api("torch.no_grad", "grad_mode"), Api("torch.inference_mode", "grad_mode"),
    Api("torch.enable_grad", "grad_mode"), Api("torch.set_grad_enabled", "grad_mode", ("mode",)),
    Api("torch.autograd.set_detect_anomaly", "grad_mode"),
    Api("torch.backends.cuda.matmul.allow_tf32", "matmul_precision"),
    Api("torch.distributed.optim.ZeroRedundancyOptimizer", "optimizer", also=("compile_distributed",)),
    # -- collectives: what synchronises the ranks ------------------------------------------------------
    *(Api(f"torch.distributed.{name}", "collective") for name in (
        "all_reduce", "all_gather", "all_gather_into_tensor", "all_gather_object", "reduce_scatter",
        "reduce_scatter_tensor", "broadcast", "broadcast_object_list", "barrier", "all_to_all", "reduce")),
    *(Api(f"torch.distributed.nn.{name}", "collective") for name in ("all_gather", "all_reduce")),
    *(Api(f"horovod.torch.{name}", "collective") for name in (
        "allreduce", "allgather", "broadcast", "broadcast_parameters", "broadcast_optimizer_state", "join",
        "allreduce_", "grouped_allreduce", "alltoall")),
    Api("horovod.torch.DistributedOptimizer", "distributed", wraps=True),
    # -- timm ------------------------------------------------------------------------------------------
    Api("timm.utils.NativeScaler", "grad_scaler"), Api("timm.utils.ApexScaler", "grad_scaler"),
    Api("timm.utils.cuda.NativeScaler", "grad_scaler"),
    Api("timm.utils.dispatch_clip_grad", "clip", ("parameters", "value", "mode", "norm_type")),
    Api("timm.utils.clip_grad.dispatch_clip_grad", "clip", ("parameters", "value", "mode", "norm_type")),
    Api("timm.data.create_loader", "dataloader", _LOADER_PARAMS),
    Api("timm.data.loader.create_loader", "dataloader", _LOADER_PARAMS),
    Api("timm.data.Mixup", "augmentation", ("mixup_alpha", "cutmix_alpha", "cutmix_minmax", "prob", "switch_prob",
                                            "mode", "correct_lam", "label_smoothing", "num_classes")),
    Api("timm.data.FastCollateMixup", "augmentation"),
    Api("timm.data.create_transform", "augmentation"),
    Api("timm.scheduler.create_scheduler", "scheduler"), Api("timm.scheduler.create_scheduler_v2", "scheduler"),
    Api("timm.layers.convert_sync_batchnorm", "distributed", wraps=True),
    Api("timm.models.convert_sync_batchnorm", "distributed", wraps=True),
    Api("timm.utils.distribute_bn", "distributed"),
    Api("timm.utils.ModelEmaV2", "trainer"), Api("timm.utils.ModelEmaV3", "trainer"),
    # -- apex ------------------------------------------------------------------------------------------
    Api("apex.amp.initialize", "precision_config", ("models", "optimizers", "enabled", "opt_level")),
    Api("apex.parallel.DistributedDataParallel", "distributed", ("module",), wraps=True),
    Api("apex.parallel.convert_syncbn_model", "distributed", ("module",), wraps=True),
    Api("apex.parallel.SyncBatchNorm", "norm_layer"),
    # -- Accelerate ------------------------------------------------------------------------------------
    Api("accelerate.Accelerator", "trainer", ("device_placement", "split_batches", "mixed_precision",
                                              "gradient_accumulation_steps", "cpu", "dataloader_config")),
    Api("accelerate.utils.DistributedDataParallelKwargs", "distributed_config"),
    Api("accelerate.DistributedDataParallelKwargs", "distributed_config"),
    # -- Lightning -------------------------------------------------------------------------------------
    Api("lightning.pytorch.Trainer", "trainer"), Api("lightning.fabric.Fabric", "trainer"),
    Api("lightning.pytorch.strategies.DeepSpeedStrategy", "distributed_config"),
    Api("lightning.pytorch.strategies.FSDPStrategy", "distributed_config"),
    Api("lightning.pytorch.strategies.DDPStrategy", "distributed_config"),
    Api("lightning.fabric.strategies.DeepSpeedStrategy", "distributed_config"),
    Api("lightning.fabric.strategies.FSDPStrategy", "distributed_config"),
    # -- Hugging Face ----------------------------------------------------------------------------------
    Api("transformers.TrainingArguments", "trainer"), Api("transformers.Seq2SeqTrainingArguments", "trainer"),
    Api("transformers.Trainer", "trainer"), Api("trl.SFTConfig", "trainer"), Api("trl.SFTTrainer", "trainer"),
    Api("transformers.BitsAndBytesConfig", "precision_config"),
    Api("peft.LoraConfig", "trainer"), Api("peft.get_peft_model", "trainer"),
    Api("peft.prepare_model_for_kbit_training", "precision_config"),
    Api("transformers.get_scheduler", "scheduler", ("name", "optimizer", "num_warmup_steps", "num_training_steps")),
    # -- pytorch_warmup: a warmup factor that dampens another scheduler's step --------------------------
    Api("pytorch_warmup.LinearWarmup", "scheduler", ("optimizer", "warmup_period", "last_step")),
    Api("pytorch_warmup.ExponentialWarmup", "scheduler", ("optimizer", "warmup_period", "last_step")),
    Api("pytorch_warmup.UntunedLinearWarmup", "scheduler", ("optimizer", "last_step")),
    Api("pytorch_warmup.UntunedExponentialWarmup", "scheduler", ("optimizer", "last_step")),
    Api("pytorch_warmup.RAdamWarmup", "scheduler", ("optimizer", "last_step")),
    # -- DeepSpeed, bitsandbytes -------------------------------------------------------------------------
    Api("deepspeed.zero.Init", "distributed"),
    Api("bitsandbytes.optim.AdamW8bit", "optimizer"), Api("bitsandbytes.optim.PagedAdamW", "optimizer"),
    # -- torchvision's datasets, in positional order (every other one is a dataset by its module) --------
    *(Api(f"torchvision.datasets.{name}", "dataset", ("root", "train", "transform", "target_transform", "download"))
      for name in ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "USPS")),
    *(Api(f"torchvision.datasets.{name}", "dataset", ("root", "split"))
      for name in ("EMNIST", "ImageNet", "SVHN", "STL10", "CelebA", "Places365", "Food101", "Flowers102",
                   "OxfordIIITPet", "StanfordCars", "DTD", "FGVCAircraft", "Country211", "GTSRB")),
    Api("torchvision.datasets.ImageFolder", "dataset", ("root", "transform", "target_transform", "loader",
                                                        "is_valid_file", "allow_empty")),
    Api("torchvision.datasets.DatasetFolder", "dataset", ("root", "loader", "extensions", "transform",
                                                          "target_transform", "is_valid_file", "allow_empty")),
    Api("torchvision.datasets.VOCSegmentation", "dataset", ("root", "year", "image_set", "download", "transform")),
    Api("torchvision.datasets.CocoDetection", "dataset", ("root", "annFile", "transform", "target_transform")),
    # -- torchvision: augmentations not named Random* (torchvision 0.19: JPEG compression artefacts) ---
    Api("torchvision.transforms.v2.JPEG", "augmentation", ("quality",)),
)

LIBRARY_PATTERNS: tuple[RolePattern, ...] = (
    # loaded ``from_pretrained`` like a model but not one: diffusers' noise schedulers, Transformers'
    # tokenizers and processors (a DDPMScheduler's config is the diffusion process, not the network)
    RolePattern("noise_scheduler", ("diffusers.",), r"\w*(?:Scheduler|SchedulerOutput)\w*"),
    RolePattern("preprocessor", ("transformers.",), r"\w*(?:Tokenizer|TokenizerFast|Processor|FeatureExtractor)"),
    # a class named for what it is: a project's own datasets and loaders (``PackedDataset``)
    RolePattern("dataset", ("",), r"[A-Z]\w*(?:Dataset|DataLoader|Loader)"),
    # every dataset class torchvision ships (``ImageFolder(root)``, ``CIFAR10(root, train=False)``)
    RolePattern("dataset", ("torchvision.datasets.",), r"[A-Z]\w*"),
    RolePattern("loss", ("timm.loss.",), r"\w+"),
    RolePattern("augmentation", ("torchvision.transforms.", "torchvision.transforms.v2."),
                r"Random\w+|ColorJitter|AutoAugment|RandAugment|TrivialAugmentWide|AugMix|GaussianBlur|"
                r"ElasticTransform|RandomErasing|MixUp|CutMix"),
    RolePattern("augmentation", ("albumentations.", "kornia.augmentation."),
                r"(?:Random|Horizontal|Vertical|Shift|Color|Gauss|Motion|Cutout|CoarseDropout|Flip|Rotate|"
                r"Affine|Blur|HueSaturation|RGBShift|CLAHE|Sharpen|Emboss|Elastic|Grid|Optical|Channel)\w*"),
)

_PRECISION = ("precision", "dtype")
_ACCUMULATION = ("batch_size", "accumulation")
_BATCH = ("batch_size", "batch")
_LR = ("learning_rate", "lr")
_SCHEDULE = ("learning_rate", "schedule")
_OPT = ("optimizer", "optimizer_hparam")
_DIST = ("compile_distributed", "distributed")
_DEVICES = ("compile_distributed", "devices")
_SEED = ("determinism", "seed")
_DETERMINISTIC = ("determinism", "deterministic_flag")
_CLIP = ("training_loop", "clipping")
_DROPOUT = ("regularization", "dropout")
_AUGMENT = ("regularization", "augmentation")
_LOADER = ("data_pipeline", "loader")
_SIZE = ("model_capacity", "size")

# parameter -> (family, topic) for the configuration-like APIs, by role or by name.
LIBRARY_ARGUMENTS: dict[str, dict[str, tuple[str, str]]] = {
    "lightning.pytorch.Trainer": {
        "precision": _PRECISION, "accumulate_grad_batches": _ACCUMULATION, "gradient_clip_val": _CLIP,
        "gradient_clip_algorithm": _CLIP, "devices": _DEVICES, "accelerator": _DEVICES, "num_nodes": _DIST,
        "strategy": _DIST, "sync_batchnorm": _DIST, "deterministic": _DETERMINISTIC, "benchmark": _DETERMINISTIC,
        "max_epochs": _SCHEDULE, "max_steps": _SCHEDULE, "limit_train_batches": ("data_pipeline", "split"),
        "overfit_batches": ("data_pipeline", "split"), "use_distributed_sampler": ("data_pipeline", "sampler"),
        "reload_dataloaders_every_n_epochs": _LOADER},
    "lightning.fabric.Fabric": {"precision": _PRECISION, "devices": _DEVICES, "accelerator": _DEVICES,
                                "num_nodes": _DIST, "strategy": _DIST},
    "accelerate.Accelerator": {"mixed_precision": _PRECISION, "gradient_accumulation_steps": _ACCUMULATION,
                               "split_batches": _BATCH, "cpu": _DEVICES, "kwargs_handlers": _DIST,
                               "deepspeed_plugin": _DIST, "fsdp_plugin": _DIST, "dispatch_batches": _LOADER,
                               "even_batches": _BATCH},
    "accelerate.utils.DistributedDataParallelKwargs": {"find_unused_parameters": _DIST, "broadcast_buffers": _DIST,
                                                       "bucket_cap_mb": _DIST, "gradient_as_bucket_view": _DIST,
                                                       "static_graph": _DIST},
    "transformers.TrainingArguments": {
        "learning_rate": _LR, "weight_decay": _OPT, "adam_beta1": _OPT, "adam_beta2": _OPT, "adam_epsilon": _OPT,
        "optim": ("optimizer", "optimizer_choice"), "max_grad_norm": _CLIP, "num_train_epochs": _SCHEDULE,
        "max_steps": _SCHEDULE, "lr_scheduler_type": _SCHEDULE, "warmup_ratio": _SCHEDULE, "warmup_steps": _SCHEDULE,
        "per_device_train_batch_size": _BATCH, "per_device_eval_batch_size": _BATCH,
        "gradient_accumulation_steps": _ACCUMULATION, "auto_find_batch_size": _BATCH, "fp16": _PRECISION,
        "bf16": _PRECISION, "tf32": ("precision", "tf32"), "half_precision_backend": _PRECISION,
        "fp16_opt_level": _PRECISION, "seed": _SEED, "data_seed": _SEED, "full_determinism": _DETERMINISTIC,
        "dataloader_num_workers": _LOADER, "dataloader_pin_memory": _LOADER,
        "dataloader_drop_last": ("data_pipeline", "drop_last"), "group_by_length": ("data_pipeline", "sampler"),
        "label_smoothing_factor": ("loss", "loss_arg"), "deepspeed": _DIST, "fsdp": _DIST, "fsdp_config": _DIST,
        "ddp_find_unused_parameters": _DIST, "torch_compile": ("compile_distributed", "compile"),
        "gradient_checkpointing": ("training_loop", "checkpointing"), "neftune_noise_alpha": _AUGMENT},
    "transformers.BitsAndBytesConfig": {
        "load_in_8bit": _PRECISION, "load_in_4bit": _PRECISION, "bnb_4bit_compute_dtype": _PRECISION,
        "bnb_4bit_quant_type": _PRECISION, "bnb_4bit_use_double_quant": _PRECISION,
        "llm_int8_threshold": _PRECISION, "bnb_4bit_quant_storage": _PRECISION},
    "peft.LoraConfig": {"r": _SIZE, "lora_alpha": _LR, "lora_dropout": _DROPOUT, "target_modules": _SIZE,
                        "modules_to_save": _SIZE, "use_rslora": _LR, "use_dora": _SIZE, "bias": _SIZE},
    "apex.amp.initialize": {"opt_level": _PRECISION, "enabled": _PRECISION, "loss_scale": _PRECISION,
                            "keep_batchnorm_fp32": _PRECISION},
    "timm.utils.NativeScaler": {"device": _PRECISION},
    "timm.data.create_loader": {
        "batch_size": _BATCH, "re_prob": _AUGMENT, "re_mode": _AUGMENT, "re_count": _AUGMENT, "scale": _AUGMENT,
        "ratio": _AUGMENT, "hflip": _AUGMENT, "vflip": _AUGMENT, "color_jitter": _AUGMENT, "auto_augment": _AUGMENT,
        "no_aug": _AUGMENT, "num_aug_repeats": _AUGMENT, "num_aug_splits": _AUGMENT,
        "mean": ("normalization", "normalize"), "std": ("normalization", "normalize"), "num_workers": _LOADER,
        "pin_memory": _LOADER, "persistent_workers": _LOADER, "use_multi_epochs_loader": _LOADER,
        "worker_seeding": ("determinism", "worker_seed"), "distributed": ("data_pipeline", "sampler"),
        "fp16": _PRECISION, "img_dtype": _PRECISION},
    "timm.data.Mixup": {name: _AUGMENT for name in ("mixup_alpha", "cutmix_alpha", "cutmix_minmax", "prob",
                                                    "switch_prob", "mode", "correct_lam")}
    | {"label_smoothing": ("loss", "loss_arg")},
    "timm.utils.dispatch_clip_grad": {"value": _CLIP, "mode": _CLIP, "norm_type": _CLIP},
}
for _alias, _canonical in (("transformers.Seq2SeqTrainingArguments", "transformers.TrainingArguments"),
                           ("trl.SFTConfig", "transformers.TrainingArguments"),
                           ("timm.data.loader.create_loader", "timm.data.create_loader"),
                           ("timm.utils.clip_grad.dispatch_clip_grad", "timm.utils.dispatch_clip_grad"),
                           ("accelerate.DistributedDataParallelKwargs",
                            "accelerate.utils.DistributedDataParallelKwargs")):
    LIBRARY_ARGUMENTS[_alias] = LIBRARY_ARGUMENTS[_canonical]


# The label value cross-entropy skips (``torch.nn.CrossEntropyLoss(ignore_index=-100)``, the
# default of torch, Transformers and every SFT script): writing it into the labels decides which
# tokens are trained on. Names that hold it in the libraries, besides module constants.
IGNORE_INDEX = -100
IGNORE_INDEX_NAMES = frozenset({"transformers.trainer_pt_utils.LabelSmoother.ignore_index",
                                "LabelSmoother.ignore_index"})

