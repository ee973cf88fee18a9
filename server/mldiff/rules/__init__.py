"""Rules, one module per family, one class per rule. Importing this package registers them."""
from mldiff.rules import learning_rate, normalization, precision, training_loop  # noqa: F401
from mldiff.rules import compile_distributed, data_pipeline, determinism, model_capacity  # noqa: F401
from mldiff.rules import batch_size, loss, optimizer, regularization  # noqa: F401
from mldiff.rules import environment  # noqa: F401
