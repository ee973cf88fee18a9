"""Rules, one module per family, one class per rule. Importing this package registers them."""
from mldiff.rules import learning_rate, normalization  # noqa: F401
from mldiff.rules import determinism  # noqa: F401
from mldiff.rules import data_pipeline  # noqa: F401
from mldiff.rules import model_capacity  # noqa: F401
from mldiff.rules import compile_distributed  # noqa: F401
