"""Bytes of a source file -> text, by the rules git and editors agree on.

UTF-8 (with or without a BOM) and UTF-16/UTF-32 with a BOM decode; anything with a NUL
byte in its first 8000 bytes is binary (git's rule); other undecodable bytes are an
error for that one file, never for the whole check.
"""
from __future__ import annotations

import codecs

from mldiff.errors import MldiffError

BINARY_SNIFF_BYTES = 8000  # git's buffer_is_binary() looks this far

# Longest BOM first: UTF-32-LE's BOM starts with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class UnreadableFile(MldiffError):
    """One file cannot be read as text; the other files of the change still are.

    ``reason`` is a short phrase without the path ("binary file, skipped");
    ``note_only`` says whether that is expected (binary, too large: a note) or a
    problem the user may want to fix (undecodable text: an error)."""

    note_only = False

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class BinaryFile(UnreadableFile):
    note_only = True

    def __init__(self, path: str) -> None:
        super().__init__(path, "binary file, skipped")


class FileTooLarge(UnreadableFile):
    note_only = True

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(path, f"{size / 1_000_000:.1f} MB, larger than mldiff reads "
                               f"({limit // 1_000_000} MB); skipped")


class UndecodableFile(UnreadableFile):
    """Text mldiff cannot decode: an ``errors`` entry naming the byte and line."""


def decode_source(data: bytes, path: str) -> str:
    """The text of ``data``; raises ``BinaryFile`` or ``UndecodableFile``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                name = encoding.upper()
                raise UndecodableFile(path, f"starts with a {name} byte order mark but is not valid "
                                            f"{name} ({exc.reason} at byte {exc.start + len(bom)})") from None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise BinaryFile(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1].hex()
        line = data.count(b"\n", 0, exc.start) + 1
        raise UndecodableFile(path, f"not valid UTF-8 (byte 0x{bad} at line {line})") from None
