"""``python -m mldiff.probe``: the probe lives in ``mldiff.validate.probe`` (a self-contained file)."""
