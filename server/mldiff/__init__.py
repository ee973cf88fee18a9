"""mldiff: ML-semantic diff analysis for training code.

The analyzer (``mldiff.analysis``, ``mldiff.rules``) knows nothing of git or LSP;
the git layer (``mldiff.gitview``) and the front ends (``mldiff.cli``,
``mldiff.lsp``) adapt it. Nothing here imports torch.
"""

__version__ = "0.1.0"
