"""Validation: run a few training steps of the base and of the change, compare, store.

``probe`` runs under torch (inside the project's environment); every other module here
only starts processes, reads their JSON and never imports torch.
"""
