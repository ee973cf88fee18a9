"""Fuzzing the real ``mldiff serve`` process with random editor sessions.

Hypothesis draws sequences of didOpen / didChange (incremental edits whose ranges split
surrogate pairs, run past the end, come reversed; CRLF, tabs, form feeds, empty texts,
whole-document replacements; versions in or out of order) / didSave / didClose / hover /
codeAction / codeLens / executeCommand (``mldiff.setBase`` with good and bad arguments,
unknown commands) / malformed messages. One server process serves every example of a
run. After every example:

- every request got an answer (a result or an error) within ``REQUEST_TIMEOUT_S``;
- the process is alive and logged no error or traceback;
- every published diagnostic (its range, related places in the same document and the
  ranges of its fixes) lies inside the text of the version it was published for, in
  the negotiated encoding; the client computes each version's text itself
  (``lsp_text_model``);
- publishes for a document never go back to an older version than one already
  published, and the last publish is for the document's latest version.

Quick run (the normal suite): ``MLDIFF_FUZZ_EXAMPLES`` examples per encoding (default 40).
Long run::

    MLDIFF_FUZZ_EXAMPLES=10000 python -m pytest -q tests/test_lsp_fuzz.py -k utf-16 -p no:cacheprovider
"""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conftest import Repo
from lsp_fixtures import TRAIN
from lsp_text_model import apply_change, inside_characters, line_spans, line_units, offset, range_problem
from lsp_wire import WireServer

EXAMPLES = int(os.environ.get("MLDIFF_FUZZ_EXAMPLES", "40"))

# -- what the editor types ----------------------------------------------------------------------
CHARACTERS = ["a", "x", "_", " ", "\t", "=", "(", ")", "[", "]", ",", ".", ":", "#", "'", '"', "\\", "0", "1",
              "\n", "\r\n", "\r", "é", "中", "😀", "𝔘", "\x0c", "\u2028", "\ufeff",
              "\ud83d", "\ude00"]   # lone surrogates: a JavaScript string can hold them, and JSON carries them
SNIPPETS = [
    "transforms.Normalize((0.5,), (0.5,))",
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n",
    "optimizer = torch.optim.Adam(model.parameters(), lr=LR)\r\n",
    "with torch.autocast('cuda'):\n    loss = model(x).sum()\n",
    "with torch.cuda.amp.autocast():\n",
    "scaler.scale(loss).backward()\noptimizer.step()\n",
    "loss.backward()\n", "import torch\n", "model.eval()\n", "LR = 1e-3\n",
    "def f(:\n", "config = dict(lr=0.1,\n", '"""', "\t\tx = [\n",
    "<<<<<<< HEAD\nlr = 0.1\n=======\nlr = 0.2\n>>>>>>> other\n",
    "  # mldiff: ignore[ML201]", "tag = '优化器🙂'; ", "😀中é", "\r\n\r\n",
    "torch.backends.cudnn.benchmark = True\n",
]
# Documents an example edits: (name, language) relative to the repository; None: an untitled buffer.
DOCUMENTS = [("train.py", "python"), ("new_file.py", "python"), ("my dir é/-rf.py", "python"),
             ("conf/train.yaml", "yaml"), ("requirements.txt", "pip-requirements"), ("notes.md", "markdown"),
             ("outside/plain.py", "python"), (None, "python")]
GOOD_BASES = [None, "", "HEAD", "HEAD~1", "index", "main", {"base": "HEAD"}, "merge-base:main"]
BAD_BASES = [123, ["HEAD"], {"base": 5}, "nope", "--upload-pack=touch pwned", "-h", "merge-base:", "merge-base:nope",
             "HEAD\nHEAD", "a" * 40, "😀"]

texts = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.lists(st.sampled_from(CHARACTERS), max_size=6).map("".join)),
                 max_size=4).map("".join)


@dataclass(frozen=True)
class Where:
    """A position chosen relative to the text it will apply to (so shrinking keeps its meaning)."""

    line: int          # taken modulo (lines + 3): the last lines and a few past the end
    kind: str          # column: "at" (``column``), "end" of line, "past" the end, "inside" a character
    column: int

    def resolve(self, text: str, encoding: str) -> dict[str, int]:
        lines = len(line_spans(text))
        line = self.line % (lines + 3)
        if line >= lines or self.kind == "at":
            return {"line": line, "character": self.column}
        end = line_units(text, line, encoding)
        if self.kind == "end":
            return {"line": line, "character": end}
        if self.kind == "past":
            return {"line": line, "character": end + 1 + self.column}
        inside = inside_characters(text, line, encoding)
        return {"line": line, "character": inside[self.column % len(inside)] if inside else self.column}


wheres = st.builds(Where, st.integers(0, 60), st.sampled_from(["at", "at", "end", "past", "inside", "inside"]),
                   st.integers(0, 90))


@dataclass(frozen=True)
class Edit:
    start: Where | None     # None: the whole document
    end: Where | None
    text: str

    def resolve(self, text: str, encoding: str) -> dict[str, Any]:
        if self.start is None or self.end is None:
            return {"text": self.text}
        return {"range": {"start": self.start.resolve(text, encoding), "end": self.end.resolve(text, encoding)},
                "text": self.text}


edits = st.one_of(st.builds(Edit, wheres, wheres, texts), st.builds(Edit, wheres, wheres, st.just("")),
                  st.builds(Edit, st.none(), st.none(), st.one_of(st.just(""), st.just(TRAIN), texts)))


@dataclass(frozen=True)
class Op:
    kind: str
    document: int = 0                       # index into the example's documents
    edits: tuple[Edit, ...] = ()
    version_step: int = 1                   # didChange: versions out of order when not 1
    where: Where | None = None
    to: Where | None = None
    argument: Any = None
    text: str | None = None


def op(kind: str, **fields: st.SearchStrategy) -> st.SearchStrategy[Op]:
    return st.builds(Op, kind=st.just(kind), document=st.integers(0, 1), **fields)


operations = st.one_of(
    op("change", edits=st.lists(edits, min_size=1, max_size=3).map(tuple),
       version_step=st.sampled_from([1, 1, 1, 1, 2, 7, -1, -3])),
    op("change", edits=st.lists(edits, min_size=1, max_size=3).map(tuple)),
    op("save"), op("close"), op("open", text=st.one_of(st.none(), texts)),
    op("hover", where=wheres, argument=st.sampled_from(["where", "finding", "finding"])),
    op("code_action", where=wheres, to=wheres, argument=st.sampled_from(["published", "forged", "none"])),
    op("code_lens"),
    op("set_base", argument=st.sampled_from(GOOD_BASES + BAD_BASES)),
    op("command", argument=st.sampled_from(["mldiff.nope", "", "mldiff.attachToCommit", "mldiff.setBase "])),
    op("garbage", argument=st.sampled_from(["bad change", "unknown request", "unknown notification",
                                            "bad hover", "cancel", "not json"])),
)


@dataclass(frozen=True)
class Script:
    documents: tuple[int, ...]              # indices into DOCUMENTS
    opening: tuple[str | None, ...]         # first text of each (None: TRAIN, the committed text)
    crlf: bool
    ops: tuple[Op, ...]


scripts = st.builds(Script, st.lists(st.integers(0, len(DOCUMENTS) - 1), min_size=1, max_size=2).map(tuple),
                    st.lists(st.one_of(st.none(), texts), min_size=2, max_size=2).map(tuple), st.booleans(),
                    st.lists(operations, max_size=20).map(tuple))


# -- the server and what it sends -----------------------------------------------------------------
@dataclass
class Tracked:
    """What the client knows of one URI: the texts and order of the versions it sent (of the
    current example), and what it checked of the server's publishes."""

    texts: dict[int, str] = field(default_factory=dict)       # version -> text
    order: dict[int, int] = field(default_factory=dict)       # version -> when the client made it
    highest: int = 0                                          # every version number ever used is <= this
    floor: int = 1                                            # the current didOpen's version
    last_published: int = -1                                  # order of the newest published version
    checked: int = 0                                          # publishes checked so far


class FuzzServer(WireServer):
    """The server under fuzz, and the client's record of each document's versions."""

    def __init__(self, repo: Repo, encoding: str, log: Path) -> None:
        super().__init__(repo.path, log)
        self.repo, self.encoding = repo, encoding
        self.tracked: dict[str, Tracked] = {}
        self.clock = itertools.count()
        self.counts = {"sequences": 0, "publishes": 0, "diagnostics": 0, "hovers with findings": 0, "hovers on a finding": 0,
                       "code actions": 0}

    # -- checks -----------------------------------------------------------------------------------
    def uri(self, index: int) -> str:
        name, _ = DOCUMENTS[index]
        if name is None:
            return "untitled:Untitled-1"
        path = self.repo.path.parent / name if name.startswith("outside/") else self.repo.path / name
        return path.as_uri()

    def track(self, uri: str, text: str, previous: int | None = None, step: int = 1) -> int:
        """A version number for ``text`` that this URI never had: after ``previous`` by ``step``
        (out of order when ``step`` is not 1), or above all others for a didOpen."""
        tracked = self.tracked.setdefault(uri, Tracked())
        if previous is None:
            version = tracked.floor = tracked.highest + 1
        else:
            version = previous + step
            if version in tracked.order or version < tracked.floor or version <= 0:
                version = tracked.highest + 1
        tracked.highest = max(tracked.highest, version)
        tracked.texts[version] = text
        tracked.order[version] = next(self.clock)
        return version

    def forget(self, uri: str) -> None:
        """After an example (its documents closed): check what came, then keep only the numbering."""
        with self.lock:
            items = self.published.pop(uri, [])
        tracked = self.tracked.setdefault(uri, Tracked())
        self._check(uri, tracked, items[tracked.checked:])
        tracked.checked = 0
        tracked.texts.clear()
        tracked.order.clear()

    def reset(self, uris: set[str]) -> None:
        """After a failed example: close its documents and drop what is left of it, unchecked."""
        for uri in uris:
            self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.barrier()
        for uri in uris:
            with self.lock:
                self.published.pop(uri, None)
            tracked = self.tracked.setdefault(uri, Tracked())
            tracked.texts.clear()
            tracked.order.clear()
            tracked.checked = 0

    def check_publishes(self) -> None:
        """Every publish so far: inside its version's text, never older than one before it."""
        with self.lock:
            pending = {uri: list(items) for uri, items in self.published.items()}
        for uri, items in pending.items():
            tracked = self.tracked.setdefault(uri, Tracked())
            self._check(uri, tracked, items[tracked.checked:])
            tracked.checked = len(items)

    def _check(self, uri: str, tracked: Tracked, items: list[dict]) -> None:
        for params in items:
            version, diagnostics = params.get("version"), params["diagnostics"]
            if version is None:
                assert diagnostics == [], f"an unversioned publish with diagnostics for {uri}: {params}"
                continue
            assert version in tracked.texts, f"{uri}: published version {version} was never sent"
            order = tracked.order[version]
            assert order >= tracked.last_published, \
                f"{uri}: version {version} published after a newer one"
            tracked.last_published = order
            self.counts["publishes"] += 1
            self.counts["diagnostics"] += len(diagnostics)
            for diagnostic in diagnostics:
                self.check_diagnostic(uri, tracked.texts[version], diagnostic, version)

    def check_diagnostic(self, uri: str, text: str, diagnostic: dict, version: int) -> None:
        where = f"{uri} version {version}: {diagnostic.get('code')} {diagnostic.get('message')!r}"
        problem = range_problem(text, diagnostic["range"], self.encoding)
        assert problem is None, f"{where}: range {diagnostic['range']}: {problem}\ntext: {text!r}"
        for related in diagnostic.get("relatedInformation") or []:
            if related["location"]["uri"] == uri:
                problem = range_problem(text, related["location"]["range"], self.encoding)
                assert problem is None, f"{where}: related {related}: {problem}"
        for fix in (diagnostic.get("data") or {}).get("fixes") or []:
            for edit in fix["edits"]:
                problem = range_problem(text, edit["range"], self.encoding)
                assert problem is None, f"{where}: fix {fix['title']!r}: {problem}"


# -- one example ------------------------------------------------------------------------------------
class Example:
    def __init__(self, server: FuzzServer, script: Script) -> None:
        self.server, self.script = server, script
        self.encoding = server.encoding
        self.uris = [server.uri(index) for index in script.documents]
        self.open: dict[str, bool] = {}
        self.text: dict[str, str] = {}
        self.version: dict[str, int] = {}

    def run(self) -> None:
        try:
            self._run()
        except BaseException:
            self.server.reset(set(self.uris))  # the next example (Hypothesis shrinking) starts clean
            raise

    def _run(self) -> None:
        server = self.server
        answer = server.request("workspace/executeCommand", {"command": "mldiff.setBase", "arguments": [None]})
        assert answer["result"] == {"base": None}, answer
        for position, uri in enumerate(self.uris):
            if uri not in self.open:
                self.open_with(uri, self.script.opening[position])
        for step in self.script.ops:
            uri = self.uris[step.document % len(self.uris)]
            note(f"{step.kind} {uri} {step}")
            getattr(self, f"do_{step.kind}")(uri, step)
        server.check_publishes()
        for uri, is_open in self.open.items():
            if is_open:
                server.settle(uri, self.version[uri])
        server.check_publishes()
        for uri, is_open in self.open.items():
            if is_open:
                self.do_close(uri, None)
        server.barrier()  # what was published before the closes has arrived, and nothing comes after them
        for uri in self.open:
            server.forget(uri)
        server.check_health()

    def do_open(self, uri: str, step: Op) -> None:
        self.open_with(uri, step.text)

    def open_with(self, uri: str, text: str | None) -> None:
        text = TRAIN if text is None else text
        if self.script.crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        version = self.server.track(uri, text)
        language = next((lang for name, lang in DOCUMENTS if uri.endswith(_quoted(name))), "python")
        self.server.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})
        self.open[uri], self.text[uri], self.version[uri] = True, text, version

    def do_change(self, uri: str, step: Op) -> None:
        text = self.text.get(uri, "")
        changes = []
        for edit in step.edits:
            change = edit.resolve(text, self.encoding)
            changes.append(change)
            text = apply_change(text, change, self.encoding)
        is_open = self.open.get(uri, False)
        version = self.server.track(uri, text, self.version[uri], step.version_step) if is_open else 1
        self.server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                      "contentChanges": changes})
        if is_open:  # a change to a closed document is ignored
            self.text[uri], self.version[uri] = text, version

    def do_save(self, uri: str, step: Op) -> None:
        self.server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})

    def do_close(self, uri: str, step: Op | None) -> None:
        self.server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.open[uri] = False

    def do_hover(self, uri: str, step: Op) -> None:
        assert step.where is not None
        position = step.where.resolve(self.text.get(uri, ""), self.encoding)
        if step.argument == "finding" and self.open.get(uri):  # on a diagnostic of the current version
            found = self.server.settle(uri, self.version[uri])
            if found:
                self.hover_on(uri, found[step.where.column % len(found)])
        answer = self.server.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
        hover = answer.get("result")
        self.server.counts["hovers with findings"] += bool(hover)
        if hover and hover.get("range") and self.open.get(uri):
            problem = range_problem(self.text[uri], hover["range"], self.encoding)
            assert problem is None, f"hover range {hover['range']}: {problem}"

    def hover_on(self, uri: str, diagnostic: dict) -> None:
        """A hover on a published diagnostic shows it, unless a newer analysis of the same
        version (after setBase) dropped it: that one's publish comes before the hover's answer."""
        with self.server.lock:
            seen = len(self.server.published.get(uri, []))
        answer = self.server.request("textDocument/hover",
                                     {"textDocument": {"uri": uri}, "position": diagnostic["range"]["start"]})
        hover = answer.get("result")
        if hover and diagnostic["code"] in hover["contents"]["value"]:
            self.server.counts["hovers on a finding"] += 1
            return
        with self.server.lock:
            newer = self.server.published.get(uri, [])[seen:]
        assert newer and diagnostic not in newer[-1]["diagnostics"], (diagnostic, answer)

    def do_code_action(self, uri: str, step: Op) -> None:
        assert step.where is not None and step.to is not None
        text = self.text.get(uri, "")
        start, end = step.where.resolve(text, self.encoding), step.to.resolve(text, self.encoding)
        diagnostics: list[dict] = []
        if step.argument == "published":
            with self.server.lock:
                history = self.server.published.get(uri, [])
                diagnostics = list(history[-1]["diagnostics"]) if history else []
        elif step.argument == "forged":
            diagnostics = [{"range": {"start": start, "end": end}, "message": "forged", "source": "mldiff",
                            "code": "ML201", "data": {"version": self.version.get(uri), "fixes": [
                                {"title": "x", "edits": [{"range": "everything", "newText": 5}]},
                                {"title": "y", "edits": [{"range": {"start": start, "end": end}, "newText": "z"}]}]}}]
        answer = self.server.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": start, "end": end},
            "context": {"diagnostics": diagnostics}})
        for action in answer.get("result") or []:
            assert isinstance(action.get("title"), str), action
            self.server.counts["code actions"] += 1

    def do_code_lens(self, uri: str, step: Op) -> None:
        answer = self.server.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
        for lens in answer.get("result") or []:
            if self.open.get(uri):
                assert range_problem(self.text[uri], lens["range"], self.encoding) is None, lens

    def do_set_base(self, uri: str, step: Op) -> None:
        answer = self.server.request("workspace/executeCommand",
                                     {"command": "mldiff.setBase", "arguments": [step.argument]})
        assert "result" in answer, answer
        assert not (self.server.repo.path / "pwned").exists()

    def do_command(self, uri: str, step: Op) -> None:
        answer = self.server.request("workspace/executeCommand", {"command": step.argument, "arguments": [uri]})
        if step.argument != "mldiff.attachToCommit":
            assert "error" in answer, answer

    def do_garbage(self, uri: str, step: Op) -> None:
        server = self.server
        if step.argument == "bad change":
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": "x"},
                                                     "contentChanges": [{"range": {"start": {"line": -1}}}]})
        elif step.argument == "unknown request":
            assert "error" in server.request("mldiff/nothingHere", {"x": 1})
        elif step.argument == "unknown notification":
            server.notify("mldiff/nothingHere", [1, 2])
            server.notify("$/setTrace", {"value": "verbose"})
        elif step.argument == "bad hover":
            assert "error" in server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                                    "position": {"line": "one"}})
        elif step.argument == "not json":
            server.send_bytes(b"{garbage")
        else:
            server.notify("$/cancelRequest", {"id": 10**9})


def _quoted(name: str | None) -> str:
    from urllib.parse import quote
    return quote(name or "Untitled-1")


# -- the tests --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory) -> Repo:
    top = tmp_path_factory.mktemp("fuzz")
    repo = Repo(top / "repo")
    repo.write("train.py", TRAIN.replace("lr=0.01", "lr=0.02"))
    repo.write("conf/train.yaml", "optimizer:\n  lr: 0.1\n")
    repo.write("requirements.txt", "torch==2.1.0\n")
    repo.commit("first")
    repo.write("train.py", TRAIN)
    repo.write("my dir é/-rf.py", "x = 1\n")
    repo.commit("second")
    (top / "outside").mkdir()
    return repo


@pytest.fixture(scope="module", params=["utf-16", "utf-8"])
def fuzz_server(request, fuzz_repo, tmp_path_factory):
    log = tmp_path_factory.mktemp("fuzz-log") / f"server-{request.param}.log"
    server = FuzzServer(fuzz_repo, request.param, log)
    capabilities = server.start(request.param)["capabilities"]
    assert capabilities.get("positionEncoding", "utf-16") == request.param
    started = time.monotonic()
    yield server
    seconds = time.monotonic() - started
    code = server.stop()
    print(f"\nlsp fuzz ({request.param}): {seconds:.0f} s, {server.requests} requests, "
          + ", ".join(f"{value} {name}" for name, value in server.counts.items())
          + f"; server exit status {code}")
    assert code == 0


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(script=scripts)
def test_random_editor_sessions(fuzz_server: FuzzServer, script: Script) -> None:
    fuzz_server.counts["sequences"] += 1
    Example(fuzz_server, script).run()


# -- the model itself ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, change, expected", [
    ("a😀b\n", {"range": {"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 3}}, "text": ""},
     "ab\n"),   # utf-16 column 2 splits the emoji: it rounds down to its start
    ("ab\r\ncd", {"range": {"start": {"line": 0, "character": 9}, "end": {"line": 1, "character": 1}}, "text": "-"},
     "ab-d"),
    ("ab", {"range": {"start": {"line": 5, "character": 0}, "end": {"line": 0, "character": 1}}, "text": "X"},
     "aX"),
    ("a\r", {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "\nb"},
     "a\r\nb"),
])
def test_model_edits(text, change, expected) -> None:
    assert apply_change(text, change, "utf-16") == expected


def test_model_ranges() -> None:
    text = "x😀\r\nyz\n"
    assert range_problem(text, {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}},
                         "utf-16") is None
    assert "splits" in range_problem(text, {"start": {"line": 0, "character": 2},
                                            "end": {"line": 0, "character": 3}}, "utf-16")
    assert "past the end" in range_problem(text, {"start": {"line": 1, "character": 0},
                                                  "end": {"line": 1, "character": 3}}, "utf-16")
    assert "past the last line" in range_problem(text, {"start": {"line": 3, "character": 0},
                                                        "end": {"line": 3, "character": 0}}, "utf-16")
    assert offset(text, 0, 5, "utf-8") == 2 and offset(text, 0, 4, "utf-8") == 1
