"""Rules, one module per family, one class per rule. Importing this package registers them."""
from mldiff.rules import (  # noqa: F401 - importing registers the rules
    batch_size,
    compile_distributed,
    data_pipeline,
    determinism,
    environment,
    generic,
    learning_rate,
    loss,
    model_capacity,
    normalization,
    optimizer,
    precision,
    regularization,
    training_loop,
)
