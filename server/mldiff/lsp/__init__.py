"""``mldiff serve``: the language server, one module per LSP feature.

``server`` wires the features together; ``protocol`` and ``documents`` keep the
open buffers; ``scheduler`` and ``analysis`` run the engine off the event loop;
``diagnostics``, ``hover``, ``code_lens``, ``code_actions`` and ``commands``
answer the client. Nothing here imports torch, and libcst / GitPython are only
imported on the worker thread after ``initialize`` has been answered.
"""
