"""Errors a user can act on: raised once at a boundary, printed as one line."""


class MldiffError(Exception):
    """A problem with the user's input or repository, not a bug in mldiff."""


class GitError(MldiffError):
    """git could not answer: not a repository, unknown revision, missing objects."""


class MissingObject(GitError):
    """An object of the history cannot be read (a partial or damaged clone): it costs the
    file or commit that needs it, not the whole answer."""

    def __init__(self, message: str, object_id: str) -> None:
        super().__init__(message)
        self.object_id = object_id


class NoCommitsYet(GitError):
    """The repository (or HEAD's branch) has no commit: there is nothing to compare against."""


class ConfigError(MldiffError):
    """``[tool.mldiff]`` or an editor setting holds something mldiff cannot use."""
