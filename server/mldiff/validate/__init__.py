"""Validation: run a few training steps of the base and of the change, compare, confirm each
static finding against what the runs observed, store.

``probe`` (with ``probe_facts`` and ``probe_lines``, copied beside it) runs under torch,
inside the project's environment; every other module here only starts processes, reads
their JSON and never imports torch.
"""
