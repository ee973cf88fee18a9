"""The open buffers: text kept as lines, edited in place by incremental didChange.

pygls' own ``TextDocument`` re-splits the whole text with ``str.splitlines`` on every
access, which also breaks lines at form feeds and other characters that LSP clients do
not count as line ends, so its line numbers drift from the editor's in files that hold
them. Here a line ends only at ``\\n``, ``\\r\\n`` or ``\\r`` (the LSP definition), edits
touch only the lines they cover, and positions past the end of a line or of the
document are clamped instead of raising: a confused client cannot take the server down.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Iterator

from lsprotocol import types

from mldiff.lsp.positions import UTF16, line_content, to_code_points

# Revisions are unique across documents and reopenings, so a result computed before a
# document was closed can never be taken for one of the reopened document.
_REVISIONS = itertools.count(1)
_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+")
_LONE_CR = re.compile(r"\r(?!\n)")


def split_lsp_lines(text: str) -> list[str]:
    """Lines with their endings, split where an LSP client splits them."""
    if "\r" not in text:
        if not text:
            return []
        parts = text.split("\n")
        last = parts.pop()
        lines = [part + "\n" for part in parts]
        if last:
            lines.append(last)
        return lines
    return _LSP_LINE.findall(text)


def has_lone_cr(text: str) -> bool:
    """True when a line ends in a bare ``\\r``: git and the engine do not split there."""
    return "\r" in text and _LONE_CR.search(text) is not None


@dataclass
class Document:
    uri: str
    path: str | None            # file system path for file: URIs, else None
    language_id: str
    version: int | None
    lines: list[str]
    revision: int = field(default_factory=lambda: next(_REVISIONS))  # new on every change
    notebook: str | None = None  # a notebook cell: the notebook's URI (lsp/notebooks.py)
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self.lines)
        return self._text

    def replace(self, text: str) -> None:
        self.lines = split_lsp_lines(text)
        self._changed()

    def edit(self, start: types.Position, end: types.Position, new_text: str, encoding: str) -> None:
        """Replace ``start``..``end`` (client units) with ``new_text``."""
        lines = self.lines
        virtual = not lines or lines[-1].endswith(("\n", "\r"))
        if virtual:
            lines.append("")  # the empty line after a final line break is addressable
        start_line, start_column = _clamp(lines, start, encoding)
        end_line, end_column = _clamp(lines, end, encoding)
        if (end_line, end_column) < (start_line, start_column):
            start_line, start_column, end_line, end_column = end_line, end_column, start_line, start_column
        joined = lines[start_line][:start_column] + new_text + lines[end_line][end_column:]
        lines[start_line:end_line + 1] = split_lsp_lines(joined)
        if lines and lines[-1] == "":
            lines.pop()
        if "\r" in new_text or (start_line > 0 and lines[start_line - 1].endswith("\r")):
            self.lines = split_lsp_lines("".join(lines))  # a \r next to a \n may have merged
        self._changed()

    def _changed(self) -> None:
        self._text = None
        self.revision = next(_REVISIONS)


def _clamp(lines: list[str], position: types.Position, encoding: str) -> tuple[int, int]:
    line = max(0, position.line)
    if line >= len(lines):
        line = len(lines) - 1
        return line, len(line_content(lines[line]))
    return line, to_code_points(line_content(lines[line]), position.character, encoding)


def uri_to_path(uri: str) -> str | None:
    """File system path of a ``file:`` URI; None for other schemes (untitled:, git:, ...)."""
    from pygls.uris import to_fs_path, urlparse
    if urlparse(uri)[0] != "file":
        return None
    return to_fs_path(uri)


class DocumentStore:
    """Open documents by URI. Written on the event loop; the worker reads snapshots."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}
        self.encoding = UTF16

    def open(self, item: types.TextDocumentItem) -> Document:
        document = Document(item.uri, uri_to_path(item.uri), item.language_id, item.version,
                            split_lsp_lines(item.text))
        self._documents[item.uri] = document
        return document

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        """Apply the changes in order; None (and nothing done) for a document never opened."""
        document = self._documents.get(params.text_document.uri)
        if document is None:
            return None
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                document.edit(change.range.start, change.range.end, change.text, self.encoding)
            else:
                document.replace(change.text)
        document.version = params.text_document.version
        return document

    def close(self, uri: str) -> Document | None:
        return self._documents.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self._documents.get(uri)

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._documents.values()))

    def __len__(self) -> int:
        return len(self._documents)
