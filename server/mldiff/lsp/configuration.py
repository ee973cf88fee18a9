"""initialize / initialized / settings changes: position encoding, push or pull, and
the ``mldiff.*`` settings from initializationOptions and workspace/configuration."""
from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.capabilities import get_capability

from mldiff.lsp import diagnostics
from mldiff.lsp.positions import UTF16
from mldiff.lsp.scheduler import FULL
from mldiff.lsp.settings import settings_table

logger = logging.getLogger(__name__)

SECTION = "mldiff"
CONFIGURATION_WAIT_S = 5.0


def uses_pull(capabilities: types.ClientCapabilities, mode: str) -> bool:
    """Pull when the client pulls and can be asked to pull again after a commit
    (``auto``), or when the settings say so; push otherwise. Never both: a client
    that gets both shows every diagnostic twice."""
    if mode == "push" or get_capability(capabilities, "text_document.diagnostic") is None:
        return False
    if mode == "pull":
        return True
    return bool(get_capability(capabilities, "workspace.diagnostics.refresh_support", False))


async def load_configuration(ls) -> None:
    """Ask the client for section ``mldiff``, globally and for each workspace folder."""
    folders = list(ls.workspace.folders.values())
    items = [types.ConfigurationItem(section=SECTION)]
    items += [types.ConfigurationItem(scope_uri=folder.uri, section=SECTION) for folder in folders]
    try:
        values = await asyncio.wait_for(
            ls.workspace_configuration_async(types.ConfigurationParams(items=items)), CONFIGURATION_WAIT_S)
    except Exception as exc:  # no answer, or an error answer: keep what we have
        logger.warning("workspace/configuration failed: %r", exc)
        return
    values = list(values or [])
    tables = {"": settings_table(values[0] if values else None)}
    for folder, value in zip(folders, values[1:]):
        tables[folder.uri] = settings_table(value)
    ls.settings.workspace = tables
    ls.options = ls.settings.options()


def register(server) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:
        ls.settings.initialization = settings_table(params.initialization_options)
        ls.options = ls.settings.options()
        encoding = ls.workspace.position_encoding or UTF16
        ls.documents.encoding = getattr(encoding, "value", encoding)
        ls.push = not uses_pull(params.capabilities, ls.options.diagnostic_mode)
        if not ls.push:
            diagnostics.register_pull(ls)
        # The engine's imports (libcst, the rules) start now, while the answer travels and the
        # client sends its first didOpen: that analysis would wait for them anyway.
        ls.scheduler.submit(ls.analyzer.warm_up)
        if get_capability(params.capabilities, "workspace.configuration", False):
            # Documents opened before the settings arrive wait for them (not longer than this).
            ls.hold_analysis()
            asyncio.get_running_loop().call_later(CONFIGURATION_WAIT_S + 1, ls.release_analysis)

    @server.feature(types.INITIALIZED)
    async def initialized(ls, params: types.InitializedParams) -> None:
        if not get_capability(ls.client_capabilities, "workspace.configuration", False):
            return
        try:
            if get_capability(ls.client_capabilities,
                              "workspace.did_change_configuration.dynamic_registration", False):
                ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
                    id="mldiff-configuration", method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
                    register_options={"section": SECTION})]))
            await load_configuration(ls)
        finally:
            ls.release_analysis()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:
        if get_capability(ls.client_capabilities, "workspace.configuration", False):
            await load_configuration(ls)
        else:
            ls.settings.workspace = {"": settings_table(params.settings)}
            ls.options = ls.settings.options()
        ls.recheck_all(FULL, 0)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(ls, params: types.DidChangeWorkspaceFoldersParams) -> None:
        if get_capability(ls.client_capabilities, "workspace.configuration", False):
            await load_configuration(ls)
            ls.recheck_all(FULL, 0)
