"""Exact ranges in the negotiated position encoding, with CJK text and emoji before the
changed token: UTF-16 (VS Code), UTF-8 (Neovim 0.11 offers it first) and UTF-32."""
from __future__ import annotations

import pytest
from lsprotocol import types

from conftest import Repo
from lsp_fixtures import TRAIN
from lsp_session import capabilities, session

UNIT_BYTES = {"utf-8": 1, "utf-16": 2, "utf-32": 4}
CODECS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}
PREFIX = 'note = "数据增强 🙂👩‍🔬"; extra = '
CALL = "transforms.Normalize((0.5,), (0.5,))"
LINE = f"{PREFIX}{CALL}  # 归一化 🙂\n"
MULTI = f'first = "数据🙂"; second = transforms.Normalize(\n    (0.2,),  # 均值 🙂\n    (0.7,))\n'


def units(text: str, encoding: str) -> int:
    return len(text.encode(CODECS[encoding])) // UNIT_BYTES[encoding]


def client(encoding: str) -> tuple[str, types.ClientCapabilities]:
    if encoding == "utf-16":
        return "visual-studio-code", capabilities("visual-studio-code")  # offers nothing: UTF-16
    if encoding == "utf-8":
        return "neovim", capabilities("neovim")                          # offers utf-8 first
    caps = capabilities("visual-studio-code")
    caps.general = types.GeneralClientCapabilities(position_encodings=["utf-32", "utf-16"])
    return "visual-studio-code", caps


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
async def test_ranges_after_cjk_and_emoji(repo: Repo, encoding: str) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("train")
    profile, caps = client(encoding)
    async with session(repo.path, profile, "push", caps=caps) as lsp:
        assert lsp.initialize_result.capabilities.position_encoding == encoding
        line = len(TRAIN.splitlines())
        uri = lsp.open(repo.path / "train.py", TRAIN + LINE + MULTI)
        found = await lsp.diagnostics(uri, lambda d: len(d) == 2)
        first, second = sorted(found, key=lambda d: d.range.start.line)
        assert first.range == types.Range(
            start=types.Position(line=line, character=units(PREFIX, encoding)),
            end=types.Position(line=line, character=units(PREFIX + CALL, encoding)))
        second_prefix = MULTI.split("transforms")[0]
        assert second.range.start == types.Position(line=line + 1, character=units(second_prefix, encoding))
        assert second.range.end == types.Position(line=line + 3, character=len("    (0.7,))"))

        # the client edits inside the call, counting in its own units: "(0.5,)" -> "(0.25,)"
        start = units(PREFIX + "transforms.Normalize((0.", encoding)
        lsp.change(uri, ((line, start, line, start + 1), "25"))
        edited = await lsp.diagnostics(uri, lambda d: any("(0.25,)" in x.message for x in d))
        assert [d.range.end.character for d in edited if "(0.25,)" in d.message] == [
            units(PREFIX + CALL, encoding) + 1]
