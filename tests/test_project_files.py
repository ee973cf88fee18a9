"""A function of one file made what it is by another file: ``utils.cosine_scheduler`` builds a
list, ``main.py`` makes it the learning rate. The repository's other files are read through
git on each side (``project_files``), by ``mldiff check`` on the working tree, the index and a
commit range, by ``mldiff log`` and by the language server on an unsaved buffer."""
from __future__ import annotations

import asyncio
import json

from conftest import Repo, mldiff
from lsp_session import session

UTILS = '''import numpy as np


def cosine_scheduler(base, final, epochs, niter, warmup_epochs=0):
    warmup = np.array([])
    if warmup_epochs > 0:
        warmup = np.linspace(0, base, warmup_epochs * niter)
    return np.concatenate((warmup, np.full(epochs * niter, final)))
'''
CHANGED = UTILS.replace("if warmup_epochs > 0:", "if warmup_epochs * niter > 0:")
MAIN = '''import utils


def main(args, optimizer):
    values = utils.cosine_scheduler(args.lr, args.min_lr, args.epochs, 100, args.warmup_epochs)
    for it in range(100):
        for group in optimizer.param_groups:
            group["lr"] = values[it]
'''
MESSAGE = "the schedule cosine_scheduler() computes (main.py sets the learning rate from it) changed"


def project(repo: Repo, main: str = MAIN) -> Repo:
    repo.write("utils.py", UTILS)
    repo.write("main.py", main)
    repo.commit("a schedule")
    return repo


def check(repo: Repo, *args: str) -> list[dict]:
    result = mldiff("check", "--format", "json", *args, cwd=repo.path)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["findings"]


def test_check_reads_where_the_project_uses_the_changed_function(repo: Repo) -> None:
    project(repo)
    repo.write("utils.py", CHANGED)
    found = check(repo)
    assert [(f["path"], f["code"], f["line"]) for f in found] == [("utils.py", "ML399", 6)]
    assert MESSAGE in found[0]["message"]
    repo.git("add", "utils.py")
    assert [f["code"] for f in check(repo, "--head", "index")] == ["ML399"]
    repo.commit("warmup counted in steps")
    assert [f["code"] for f in check(repo, "--base", "HEAD~1", "--head", "HEAD")] == ["ML399"]
    log = mldiff("log", "--no-cache", "--format", "json", cwd=repo.path)
    assert log.returncode in (0, 1), log.stderr
    assert MESSAGE in log.stdout


def test_silent_where_no_other_file_makes_it_the_learning_rate(repo: Repo) -> None:
    # printed, not written into the optimizer
    project(repo, MAIN.replace('group["lr"] = values[it]', 'print(values[it])'))
    repo.write("utils.py", CHANGED)
    assert check(repo) == []


def test_a_file_that_imports_another_module_of_that_name_or_defines_its_own_is_not_read(repo: Repo) -> None:
    project(repo, MAIN.replace("import utils", "from vendor import utils"))
    repo.write("utils.py", CHANGED)
    assert check(repo) == []
    own = MAIN.replace("import utils", "from utils import cosine_scheduler").replace("utils.cos", "cos") \
        + "\n\ndef cosine_scheduler(*args):\n    return [0.1] * 100\n"
    repo.write("main.py", own)
    repo.commit("main has its own")
    repo.write("utils.py", CHANGED)
    assert check(repo) == []


def test_the_use_is_read_on_each_side_and_from_a_package(repo: Repo) -> None:
    repo.write("pkg/__init__.py", "")
    repo.write("pkg/utils.py", UTILS)
    repo.write("main.py", MAIN.replace("import utils", "from pkg import utils"))
    repo.commit("in a package")
    repo.write("pkg/utils.py", CHANGED)
    assert [f["path"] for f in check(repo)] == ["pkg/utils.py"]
    # the head no longer makes it the learning rate: a change of a plain function on that side
    repo.write("main.py", MAIN.replace("import utils", "from pkg import utils")
               .replace('group["lr"] = values[it]', 'print(values[it])'))
    assert [f["path"] for f in check(repo) if f["code"] == "ML399"] == []


def test_an_unreadable_other_file_is_left_out_without_an_error(repo: Repo) -> None:
    project(repo)
    # git lists it (no NUL byte: not binary to git), mldiff cannot decode it
    repo.write("broken.py", b"import utils\nx = utils.cosine_scheduler(1)  # \xff\xfe\n")
    repo.commit("an undecodable file")
    repo.write("utils.py", CHANGED)
    result = mldiff("check", "--format", "json", cwd=repo.path)
    assert result.returncode == 0, result.stderr  # an information finding fails nothing
    assert json.loads(result.stdout)["errors"] == []
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["ML399"]


async def test_the_language_server_reads_the_other_files_on_disk(repo: Repo) -> None:
    project(repo)
    async with session(repo.path) as lsp:
        uri = lsp.open(repo.path / "utils.py", CHANGED)  # unsaved
        diagnostics = await lsp.diagnostics(uri, lambda found: any(d.code == "ML399" for d in found))
        assert [d.message for d in diagnostics if d.code == "ML399"][0].startswith(MESSAGE)


async def test_a_saved_file_is_read_again_by_the_language_server(repo: Repo) -> None:
    printed = MAIN.replace('group["lr"] = values[it]', 'print(values[it])')
    project(repo)
    repo.write("main.py", printed)  # on disk, the table is only printed: no longer the learning rate
    async with session(repo.path) as lsp:
        uri = lsp.open(repo.path / "utils.py", CHANGED)
        await asyncio.sleep(0.5)
        assert [d for d in await lsp.diagnostics(uri) if d.code == "ML399"] == []
        # main.py makes the table the learning rate again, saved from the editor
        main = lsp.open(repo.path / "main.py")
        repo.write("main.py", MAIN)
        lsp.change(main, (None, MAIN))
        lsp.save(main)
        lsp.change(uri, (None, CHANGED + "\n"))  # the next edit of utils.py reads main.py as saved
        diagnostics = await lsp.diagnostics(uri, lambda found: any(d.code == "ML399" for d in found))
        assert [d.message for d in diagnostics if d.code == "ML399"][0].startswith(MESSAGE)
