"""A non-Python file's change: configs (YAML, JSON, TOML) and the files that set up the
environment (Dockerfiles, devcontainer.json, compose files, requirements, pyproject.toml,
conda environment files).

``text_change`` is what the engine calls for every kind but ``python`` and ``notebook``.
A ``TextChange`` parses each side once, on demand, and offers rules two views:
``value_changes()`` (hyperparameters in configs, classified like Python bindings, so the
families' value rules report them with no code of their own) and ``environment(side)``
(base images, package pins and wheel indexes, read by ``rules/environment.py``).
A side that does not parse becomes a ``parse_errors()`` entry with the parser's line,
never an exception.
"""
from __future__ import annotations

import posixpath
import re
from functools import cached_property, lru_cache

from mldiff.analysis.environment import Environment
from mldiff.findings import Finding, Span
from mldiff.hunks import LineMap, diff_lines, head_line_of_removed, split_lines

CONFIG_KINDS = ("yaml", "json", "toml")

# Files with a config suffix that configure tools, not training: CI, docs, linters, editors.
_TOOLING_DIRS = (".github/", ".gitlab/", ".circleci/", ".vscode/", ".idea/", ".azure-pipelines/", ".buildkite/")
_TOOLING_NAMES = frozenset({
    ".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "appveyor.yml", "bitbucket-pipelines.yml",
    ".pre-commit-config.yaml", ".pre-commit-hooks.yaml", "mkdocs.yml", "mkdocs.yaml", ".readthedocs.yml",
    ".readthedocs.yaml", "readthedocs.yml", "readthedocs.yaml", "codecov.yml", ".codecov.yml", "_toctree.yml",
    "_config.yml", ".markdownlint.json", ".eslintrc.json", ".prettierrc.json", "renovate.json", ".clang-format",
    ".yamllint", ".yamllint.yml", ".yamllint.yaml", "ruff.toml", ".ruff.toml", "mypy.toml", "cargo.toml",
    "rustfmt.toml", ".rustfmt.toml", "netlify.toml", "vercel.json", "firebase.json", "composer.json",
    "bower.json", "deno.json", "jsconfig.json", "lerna.json",
    "model-index.yml", "mkdocs.insiders.yml", "typos.toml", "_typos.toml", ".typos.toml", "taplo.toml",
    "dependabot.yml", "labeler.yml", "release-drafter.yml", "stale.yml", "funding.yml",
})


# Files that record what a run produced (results, logs, metrics), not what it is set up to do.
_OUTPUT_DIR = re.compile(r"(?:^|[_-])(?:results?|outputs?|logs?|runs|wandb|mlruns|lightning_logs|checkpoints?|"
                         r"plots|figures)$")
_OUTPUT_NAME = re.compile(r"(?:^|[_-])(?:results?|metrics|trainer_state|eval|scores?|history)(?:[_.-]|$)")


def is_tooling_file(path: str) -> bool:
    """A YAML/JSON/TOML file that configures CI, docs, linters or editors."""
    lower = path.replace("\\", "/").lower()
    name = posixpath.basename(lower)
    if name in _TOOLING_NAMES:
        return True
    return any(lower.startswith(d) or f"/{d}" in lower for d in _TOOLING_DIRS)


def is_output_file(path: str) -> bool:
    """A YAML/JSON/TOML file a run wrote: under ``results/``, ``outputs/``, ``logs/``, ... or
    named like ``all_results.json`` / ``metrics.json`` / ``trainer_state.json``."""
    parts = path.replace("\\", "/").lower().split("/")
    return any(_OUTPUT_DIR.search(part) for part in parts[:-1]) or bool(_OUTPUT_NAME.search(parts[-1]))












# -- the change ------------------------------------------------------------------------------
class TextChange:
    """Base and head of one non-Python file. Either side may be None (added / deleted)."""

    def __init__(self, kind: str, path: str, base_text: str | None, head_text: str | None) -> None:
        self.kind = kind
        self.path = path
        self.base_text = base_text
        self.head_text = head_text
        self.base_lines = split_lines(base_text or "")
        self._head_lines = split_lines(head_text or "")
        self._errors: dict[str, tuple[int, str]] = {}

    @cached_property
    def hunks(self) -> list:
        """Computed only when a rule needs a position on the other side (a line diff of a
        large file is the most expensive step here)."""
        return diff_lines(self.base_lines, self._head_lines)

    @cached_property
    def map(self) -> LineMap:
        return LineMap(self.hunks, len(self.base_lines), len(self._head_lines))

    # -- the engine's interface ----------------------------------------------------------
    def head_lines(self) -> list[str]:
        return self._head_lines

    def notes(self) -> list[str]:
        return []

    def map_findings(self, findings: list[Finding]) -> list[Finding]:
        return findings

    @property
    def unreliable_head_lines(self) -> frozenset[int]:
        return frozenset()  # a side that does not parse yields no setting to compare

    def parse_errors(self) -> list[tuple[str, int, str]]:
        """(side, 1-based line, message) for each side that does not parse (the base of a
        deleted file is not read)."""
        for side in ("base", "head"):
            if side == "head" or self.head_text is not None:
                self.documents(side)
        return [(side, line, message) for side, (line, message) in sorted(self._errors.items())]

    # -- parsed sides --------------------------------------------------------------------
    def text(self, side: str) -> str | None:
        return self.base_text if side == "base" else self.head_text

    def documents(self, side: str) -> list:
        """The side's documents as plain values, parsed by the fast parsers ([] for a missing
        or broken side, and for kinds that are not YAML/JSON/TOML-shaped)."""
        return self._cached("_documents", side, "load_config")

    def trees(self, side: str) -> list:
        """The side's documents as ``configtree.Node`` trees, with positions (slower: read
        only when a finding needs a position, and for the small environment files)."""
        return self._cached("_trees", side, "parse_config")

    def positioned(self, side: str, keys: frozenset[str]) -> list:
        """Like ``trees`` but with positions only under mapping keys in ``keys`` (all the
        components of the paths a rule reports on): much less work on a large config."""
        from mldiff.analysis import configtree
        text = self.text(side)
        syntax = _TREE_SYNTAX.get(self.kind)
        if text is None or syntax is None or "_trees" in self.__dict__ and side in self.__dict__["_trees"]:
            return self.trees(side)
        try:
            return list(_parsed("parse_config", syntax, text, keys))
        except configtree.ConfigSyntaxError:
            return []

    def _cached(self, name: str, side: str, parser: str) -> list:
        cache = self.__dict__.setdefault(name, {})
        if side not in cache:
            cache[side] = self._parse(side, parser)
        return cache[side]

    def _parse(self, side: str, parser: str) -> list:
        from mldiff.analysis import configtree
        text = self.text(side)
        syntax = _TREE_SYNTAX.get(self.kind)
        if text is None or syntax is None or not text.strip():
            return []
        try:
            return list(_parsed(parser, syntax, text))
        except configtree.ConfigSyntaxError as exc:
            self._errors.setdefault(side, (max(exc.line, 1), exc.message))
            return []

    def environment(self, side: str) -> Environment:
        cache = self.__dict__.setdefault("_environment", {})
        if side not in cache:
            cache[side] = self._read_environment(side)
        return cache[side]

    def _read_environment(self, side: str) -> Environment:
        text = self.text(side)
        if text is None:
            return Environment()
        if self.kind == "dockerfile":
            from mldiff.analysis.dockerfiles import dockerfile_environment
            return dockerfile_environment(text)
        if self.kind == "requirements":
            from mldiff.analysis.requirements import requirements_environment
            return requirements_environment(text)
        if self.kind == "setup":
            from mldiff.analysis.setup_py import setup_environment
            return setup_environment(text)
        from mldiff.analysis import requirements
        if self.kind == "yaml":   # a conda environment under another name (a100env.yml)?
            documents = self.documents(side)
            if not documents or not requirements.is_conda_environment(documents[0]):
                return Environment()
        trees = self.trees(side)
        if not trees:
            return Environment()
        if self.kind == "devcontainer":
            return requirements.devcontainer_environment(trees[0])
        if self.kind == "compose":
            return requirements.compose_environment(trees[0])
        if self.kind == "pyproject":
            return requirements.pyproject_environment(trees[0])
        if self.kind in ("conda", "yaml") and requirements.is_conda_environment(trees[0]):
            return requirements.conda_environment(trees[0])
        return Environment()

    # -- positions -----------------------------------------------------------------------
    def head_anchor(self, base_line: int) -> Span:
        """Where removed base line ``base_line`` (1-based) stood in the head: the first line
        of its hunk's replacement, else the next line, else the last line of the file."""
        if not self._head_lines:
            return Span(1, 1, 1, 1)
        head0 = head_line_of_removed(self.hunks, self.map, base_line - 1, len(self._head_lines))
        return line_span(self._head_lines, head0 + 1)

    def head_line_changed(self, line: int) -> bool:
        """Whether 1-based head ``line`` is new or changed."""
        return self.map.head_to_base(line - 1) is None


@lru_cache(maxsize=32)
def _parsed(parser: str, syntax: str, text: str, only: frozenset[str] | None = None) -> tuple:
    """Parsed documents by text: the language server re-analyses a buffer on every
    keystroke against the same base, whose parse is then free. Results are not mutated."""
    from mldiff.analysis import configtree
    if only is not None:
        return tuple(configtree.parse_config(syntax, text, only))
    return tuple(getattr(configtree, parser)(syntax, text))


_TREE_SYNTAX = {"yaml": "yaml", "json": "json", "toml": "toml", "devcontainer": "json", "compose": "yaml",
                "pyproject": "toml", "conda": "yaml"}


def line_span(lines: list[str], line: int) -> Span:
    """Span of 1-based ``line`` from its first non-blank character to its end."""
    text = lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
    start = len(text) - len(text.lstrip())
    return Span(line, start + 1, line, max(len(text), start) + 1)


def text_change(kind: str, path: str, base_text: str | None, head_text: str | None) -> TextChange | None:
    """The change the engine's rules read for a non-Python file, or None when mldiff has
    nothing to say about it (CI workflows, docs and linter configs, results and logs)."""
    if kind in CONFIG_KINDS and (is_tooling_file(path) or is_output_file(path)):
        return None
    return TextChange(kind, path, base_text, head_text)




