#!/usr/bin/env python3
"""Check labelled corpus cases (tests/corpus/*.json): the record format, the families, no
repository held out for independent evaluation or already in the shared corpus, negatives
that say what the diff does; with --mirrors, also that each commit has exactly the labelled
parent and that every evidence line is a changed line of ``git diff -U0 PARENT COMMIT -- PATH``.

Usage: scripts/check_labels.py tests/corpus/vision.json [...] [--mirrors DIR]
DIR holds one bare repository per case repository, as OWNER+NAME/repo (a ``git clone --bare`` of it).
Prints one line per problem and a summary per file; exits 1 when there is any problem.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys

FAMILIES = {"precision", "normalization", "learning_rate", "optimizer", "loss", "batch_size", "determinism",
            "training_loop", "regularization", "data_pipeline", "model_capacity", "compile_distributed",
            "environment"}
HELD_OUT = {"ultralytics/yolov5", "karpathy/build-nanogpt", "facebookresearch/deit", "facebookresearch/moco",
            "pytorch/torchtune", "pytorch/torchtitan", "lucidrains/vit-pytorch", "tloen/alpaca-lora",
            "artidoro/qlora", "kohya-ss/sd-scripts", "openai/guided-diffusion"}
SHARED = {"karpathy/nanoGPT", "karpathy/minGPT", "pytorch/examples", "kuangliu/pytorch-cifar",
          "huggingface/pytorch-image-models", "Lightning-AI/litgpt", "EleutherAI/gpt-neox",
          "lucidrains/denoising-diffusion-pytorch", "huggingface/accelerate", "facebookresearch/dino",
          "facebookresearch/detr", "openai/improved-diffusion"}
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def git_dir(mirrors: str, repo: str) -> str | None:
    base = os.path.join(mirrors, repo.replace("/", "+"))
    for cand in (os.path.join(base, "repo"), base):
        if os.path.isdir(os.path.join(cand, "objects")):
            return cand
    return None


def changed_lines(gd: str, parent: str, commit: str, path: str) -> tuple[set[int], set[int]]:
    out = subprocess.run(["git", "--git-dir", gd, "diff", "-U0", "--no-color", parent, commit, "--", path],
                         capture_output=True, text=True, check=True).stdout
    old, new = set(), set()
    for m in HUNK.finditer(out):
        os_, oc, ns, nc = int(m[1]), int(m[2] or 1), int(m[3]), int(m[4] or 1)
        old.update(range(os_, os_ + oc))
        new.update(range(ns, ns + nc))
    return old, new


def problems_of(cases: list[dict], mirrors: str | None) -> list[str]:
    """Every problem of a list of cases, as lines to print."""
    problems = []
    seen = set()
    for i, c in enumerate(cases):
        where = f"#{i} {c.get('repo')}@{str(c.get('commit'))[:8]} {c.get('path')}"
        for key in ("repo", "commit", "parent", "path", "families", "evidence", "note", "found_by"):
            if key not in c:
                problems.append(f"{where}: missing {key}")
        if c.get("repo") in HELD_OUT:
            problems.append(f"{where}: repository is held out for independent evaluation")
        if c.get("repo") in SHARED:
            problems.append(f"{where}: repository already in the shared corpus")
        if c.get("found_by") not in ("keyword", "reading"):
            problems.append(f"{where}: found_by must be keyword or reading")
        key = (c.get("repo"), c.get("commit"), c.get("path"))
        if key in seen:
            problems.append(f"{where}: duplicate case")
        seen.add(key)
        fams = c.get("families", [])
        for f in fams:
            if f not in FAMILIES:
                problems.append(f"{where}: unknown family {f}")
        ev = c.get("evidence", [])
        if not fams and ev:
            problems.append(f"{where}: negative case with evidence")
        if fams and not c.get("note", "").strip():
            problems.append(f"{where}: no note")
        if not fams and not c.get("note", "").startswith("NEGATIVE"):
            problems.append(f"{where}: negative note should start with NEGATIVE:")
        for e in ev:
            if e.get("family") not in fams:
                problems.append(f"{where}: evidence family {e.get('family')} not in families")
            if e.get("side") not in ("old", "new"):
                problems.append(f"{where}: evidence side must be old or new")
            if not e.get("what"):
                problems.append(f"{where}: evidence without 'what'")
        for f in fams:
            if not any(e.get("family") == f for e in ev):
                problems.append(f"{where}: family {f} has no evidence")
        if mirrors is not None:
            problems.extend(f"{where}: {p}" for p in _git_problems(mirrors, c))
    return problems


def _git_problems(mirrors: str, c: dict) -> list[str]:
    gd = git_dir(mirrors, c.get("repo", ""))
    if gd is None:
        return [f"repository not fetched under {mirrors}"]
    parents = subprocess.run(["git", "--git-dir", gd, "rev-list", "--parents", "-n1", c["commit"]],
                             check=False, capture_output=True, text=True).stdout.split()
    if parents[1:] != [c["parent"]]:
        return [f"parent is not the commit's only parent ({parents[1:]})"]
    try:
        old, new = changed_lines(gd, c["parent"], c["commit"], c["path"])
    except subprocess.CalledProcessError as exc:
        return [f"git diff failed: {exc}"]
    out = []
    if not old and not new:
        out.append("the file does not change in this commit")
    for e in c.get("evidence", []):
        lines = new if e.get("side") == "new" else old
        if e.get("line") not in lines:
            out.append(f"evidence line {e.get('side')}:{e.get('line')} is not a changed line")
    return out


def summary(cases: list[dict]) -> str:
    n = len(cases)
    neg = sum(1 for c in cases if not c.get("families"))
    reading = sum(1 for c in cases if c.get("found_by") == "reading")
    repos = collections.Counter(c.get("repo") for c in cases)
    return (f"{n} cases, {neg} negative ({neg / max(1, n):.0%}), {reading} found by reading "
            f"({reading / max(1, n):.0%}), {len(repos)} repositories")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--mirrors", help="a directory of OWNER+NAME/repo bare repositories")
    args = parser.parse_args()
    failed = False
    for path in args.files:
        with open(path, encoding="utf-8") as handle:
            cases = json.load(handle)
        problems = problems_of(cases, args.mirrors)
        for problem in problems:
            print(f"{path}: {problem}")
        print(f"{path}: {summary(cases)}; {len(problems)} problems")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
