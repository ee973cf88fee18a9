"""How jupyter-lsp starts mldiff: the ``jupyter_lsp_spec_v1`` entry point (pyproject.toml).

jupyter-lsp (the Jupyter server side of jupyterlab-lsp) calls every function registered in
that entry-point group when the Jupyter server starts, and lists the servers they describe
at ``/lsp/status``. This one runs ``python -m mldiff serve`` with the interpreter the
Jupyter server runs under, where mldiff is installed (else the entry point would not be
there). It imports nothing else: the Jupyter server loads it at start-up.
"""
from __future__ import annotations

import sys
from typing import Any

from mldiff import __version__

SPEC_VERSION = 2   # jupyter-lsp's spec schema


def spec(manager: Any = None) -> dict[str, dict[str, Any]]:
    """mldiff as a language server for Python notebooks and files (``manager``: jupyter-lsp's
    LanguageServerManager, not needed)."""
    return {"mldiff": {
        "version": SPEC_VERSION,
        "argv": [sys.executable, "-m", "mldiff", "serve"],
        "languages": ["python"],
        "mime_types": ["text/python", "text/x-ipython"],
        "display_name": f"mldiff {__version__} (ML-semantic diff against git)",
        "requires_documents_on_disk": False,
        "env": {"PYTHONUNBUFFERED": "1"},
        "urls": {"home": "https://github.com/mldiff/mldiff",
                 "issues": "https://github.com/mldiff/mldiff/issues"},
        "install": {"pip": "pip install mldiff"},
    }}
