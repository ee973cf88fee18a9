"""Rules, one module per family, one class per rule. Importing this package registers them."""
from mldiff.rules import environment, learning_rate, normalization, precision, training_loop  # noqa: F401
