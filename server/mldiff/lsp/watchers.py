"""Watch each repository's HEAD, index and refs through the client, so a commit,
checkout, reset or ``git add`` made outside the editor updates the diagnostics.

Only where the client supports dynamic registration of watched files (VS Code does;
Neovim on Linux does not): elsewhere a save re-checks instead. Every event only
triggers a re-check; whether the base really changed is decided by the repository's
``state_token()``.
"""
from __future__ import annotations

import os

from lsprotocol import types
from pygls.capabilities import get_capability

from mldiff.lsp.scheduler import GIT

PATTERNS = ("HEAD", "index", "packed-refs", "refs/**")
EVENT_DELAY_S = 0.1  # git writes several files per operation: one re-check for all


def watch(ls, git_dir: str, common_dir: str | None = None) -> None:
    """Register watchers for ``git_dir`` (and the common dir of a linked worktree), once."""
    watched: set[str] = ls.watched_git_dirs
    if git_dir in watched:
        return
    watched.add(git_dir)
    capabilities = ls.client_capabilities
    if not get_capability(capabilities, "workspace.did_change_watched_files.dynamic_registration", False):
        return
    relative = get_capability(capabilities, "workspace.did_change_watched_files.relative_pattern_support", False)
    watchers = []
    for directory in dict.fromkeys(filter(None, (git_dir, common_dir))):
        for pattern in PATTERNS:
            watchers.append(types.FileSystemWatcher(glob_pattern=_glob(directory, pattern, relative)))
    ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
        id=f"mldiff-git-{len(watched)}", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers))]))


def _glob(directory: str, pattern: str, relative: bool):
    if relative:
        from pygls.uris import from_fs_path
        return types.RelativePattern(base_uri=from_fs_path(directory) or directory, pattern=pattern)
    return directory.replace(os.sep, "/").rstrip("/") + "/" + pattern


def register(server) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls, params: types.DidChangeWatchedFilesParams) -> None:
        ls.recheck_all(GIT, EVENT_DELAY_S)
