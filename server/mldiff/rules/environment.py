"""environment: container base images, torch-family pins, CUDA wheel indexes and variants.

The same training code gives different numbers, speed and memory under another torch,
CUDA or cuDNN: default algorithms, kernels (SDPA, TF32 defaults), numerics of fused ops
and compiled graphs change between releases. These rules read Dockerfiles,
devcontainer.json, compose files, requirements files, pyproject.toml and conda
environment files (``analysis/textfiles.py``) and report what the environment became.
"""
from __future__ import annotations

import re
from typing import Iterator, cast

from mldiff.analysis.environment import Image, Pin, WheelIndex
from mldiff.analysis.requirements import cuda_label, spec_key
from mldiff.analysis.values import shorten
from mldiff.facts.context import TextContext
from mldiff.findings import Finding, Related, Span
from mldiff.rules.base import Example, Expect, Rule

IMAGE_KINDS = ("dockerfile", "devcontainer", "compose")
PIN_KINDS = ("requirements", "pyproject", "conda", "yaml", "dockerfile", "setup")

# Packages whose version changes what a training run computes or how fast: torch itself and
# what is compiled against it or replaces parts of it (warning), and the libraries whose
# defaults shape training loops (information).
CORE_PACKAGES = frozenset({"torch", "torchvision", "torchaudio", "triton", "pytorch-triton", "xformers",
                           "flash-attn", "deepspeed", "apex", "bitsandbytes", "torchao", "fairscale",
                           "python"})
ECOSYSTEM_PACKAGES = frozenset({"transformers", "accelerate", "lightning", "pytorch-lightning", "timm",
                                "peft", "diffusers", "torchtext", "torchdata", "torchrec", "torchtune",
                                "torchmetrics", "trl", "jax", "jaxlib", "tensorflow", "onnxruntime-gpu",
                                "tensorrt", "cupy", "numpy"})
# conda's names for CUDA itself (pip's are nvidia-*-cu12 wheels)
CUDA_PACKAGES = frozenset({"pytorch-cuda", "cudatoolkit", "cuda-toolkit", "cuda-version", "cuda-runtime",
                           "cuda", "cudnn", "cuda-nvcc", "nccl", "cpuonly"})
_CONDA_NAMES = {"pytorch": "torch"}
_NVIDIA_WHEEL = re.compile(r"(nvidia-[a-z0-9-]+?)-(cu\d+)$")


def _whole(ctx: TextContext) -> bool:
    """Both sides exist: a file added or deleted as a whole is a new setup, not a change."""
    return ctx.text("base") is not None and ctx.text("head") is not None


def _anchor(ctx: TextContext, head_span: Span, via_base: tuple, via_head: tuple) -> tuple[Span, list[Related]]:
    """Where to report a changed value: where it is used if that line changed, else the
    ARG / ENV definition whose value changed (with the use as related information)."""
    if ctx.head_line_changed(head_span.line) or not via_head:
        return head_span, []
    old_values = {v.name: v.value for v in via_base}
    for variable in via_head:
        if old_values.get(variable.name) != variable.value:
            return variable.span, [Related(head_span, f"used here (line {head_span.line})")]
    return head_span, []


# -- images ----------------------------------------------------------------------------------
def _normalize_image(ref: str) -> str:
    ref = re.sub(r"^(?:docker\.io/|index\.docker\.io/)(?:library/)?", "", ref.strip())
    name = ref.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1] and "@" not in ref:
        ref += ":latest"
    return ref


def image_versions(ref: str) -> dict[str, str]:
    """What an image tag says about the environment: torch, CUDA, cuDNN, Python, ROCm, OS."""
    reference = ref.split("@", 1)[0]
    repository, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    repository, tag = repository.lower(), tag.lower()
    name = repository.rsplit("/", 1)[-1]
    out: dict[str, str] = {}
    lead = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    if name == "pytorch" and "nvcr.io" in repository and lead:
        out["NGC release"] = lead.group(1)
    elif name == "pytorch" and lead:
        out["torch"] = lead.group(1)
    elif name == "cuda" and lead:
        out["CUDA"] = lead.group(1)
    elif name in ("python", "pypy"):
        match = re.search(r"(?:^|[-_])(3\.\d+(?:\.\d+)?)", tag)
        if match:
            out["Python"] = match.group(1)
    elif name in ("ubuntu", "debian") and tag:
        out[name.capitalize()] = tag
    patterns = (
        ("torch", r"(?:^|[-_])(?:pytorch|torch|pt)[-_]?(?:release[-_])?v?(\d+\.\d+(?:\.\d+)?)"),
        ("CUDA", r"cuda[-_]?(\d+(?:\.\d+)*)"),
        ("cuDNN", r"cudnn[-_]?(\d+(?:\.\d+)*)"),
        ("Python", r"(?:^|[-_])py(?:thon)?[-_]?(3(?:\.?\d{1,2})?)(?=$|[-_.])"),
        ("ROCm", r"rocm[-_]?(\d+(?:\.\d+)*)"),
        ("Ubuntu", r"ubuntu[-_]?(\d{2}\.\d{2})"),
    )
    for label, pattern in patterns:
        if label in out:
            continue
        match = re.search(pattern, tag)
        if match:
            value = match.group(1)
            if label == "Python" and "." not in value and len(value) > 1:
                value = f"{value[0]}.{value[1:]}"
            out[label] = value
    if "CUDA" not in out:
        match = re.search(r"(?:^|[-_])(cu\d{2,3})(?:$|[-_])", tag)
        if match:
            out["CUDA"] = cuda_label(match.group(1)).split(" ", 1)[1]
    return out


def _version_details(old: str, new: str) -> str:
    before, after = image_versions(old), image_versions(new)
    parts = [f"{label} {before[label]} -> {after[label]}" for label in after
             if label in before and before[label] != after[label]]
    return f" ({', '.join(parts)})" if parts else ""


def _pair_images(base: list[Image], head: list[Image]) -> list[tuple[Image | None, Image | None]]:
    """Pairs of base and head images: same slot and image first (unchanged), then the same
    image under another slot (a renamed stage), then the same slot, then in order."""
    base_left, head_left = list(base), list(head)
    pairs: list[tuple[Image | None, Image | None]] = []
    for same in (lambda b, h: b.slot == h.slot and _normalize_image(b.ref) == _normalize_image(h.ref),
                 lambda b, h: b.is_build_arg == h.is_build_arg and _normalize_image(b.ref) == _normalize_image(h.ref),
                 lambda b, h: b.slot == h.slot,
                 lambda b, h: not b.is_build_arg and not h.is_build_arg and b.slot.startswith("stage")
                 and h.slot.startswith("stage")):
        for b in list(base_left):
            match = next((h for h in head_left if same(b, h)), None)
            if match is not None:
                base_left.remove(b)
                head_left.remove(match)
                pairs.append((b, match))
    pairs.extend((b, None) for b in base_left)
    pairs.extend((None, h) for h in head_left)
    return pairs


def _slot_text(image: Image) -> str:
    if image.slot.startswith("stage "):
        return f" in stage {image.slot[6:]}"
    if image.slot.startswith("service "):
        return f" for {image.slot}"
    return ""


class BaseImageChanged(Rule[TextContext]):
    """The container base image changed: a Dockerfile ``FROM`` (any stage, with ``ARG``
    values substituted), ``.devcontainer/devcontainer.json`` ``image`` or an image build
    argument / feature version, or a compose service's ``image:``.

    The base image fixes the torch, CUDA, cuDNN, NCCL and Python versions a run gets, so
    a new tag can change results, speed and memory with no code change at all (new default
    kernels, TF32 and SDPA defaults, compiled-graph numerics). The message spells out which
    versions the tag changes. Check that results are still comparable with runs on the old
    image, and that pins in requirements files still fit the new torch and CUDA.
    """

    code = "ML1301"
    reports_new_files = True  # a new Dockerfile or devcontainer: the image it starts from
    family = "environment"
    name = "base-image"
    summary = "Container base image (Dockerfile FROM, devcontainer image, compose image) changed"
    file_kinds = IMAGE_KINDS
    examples = (
        Example(
            path="Dockerfile",
            before="FROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\nRUN pip install -r requirements.txt\n",
            after="FROM pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\nRUN pip install -r requirements.txt\n",
            expect=(Expect(1, "(torch 2.1.0 -> 2.4.0, CUDA 11.8 -> 12.1, cuDNN 8 -> 9)"),),
        ),
        Example(  # an ARG feeding FROM: reported where the value changed
            path="docker/Dockerfile",
            before="ARG CUDA=11.8.0\nFROM --platform=linux/amd64 nvidia/cuda:${CUDA}-cudnn8-devel-ubuntu22.04 AS build\n"
                   "RUN echo hi\n",
            after="ARG CUDA=12.1.0\nFROM --platform=linux/amd64 nvidia/cuda:${CUDA}-cudnn8-devel-ubuntu22.04 AS build\n"
                  "RUN echo hi\n",
            expect=(Expect(1, "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04 -> "
                              "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04 in stage build (CUDA 11.8.0 -> 12.1.0)"),),
        ),
        Example(  # devcontainer.json is JSON with comments
            path=".devcontainer/devcontainer.json",
            before='{\n  // the dev image\n  "name": "dev",\n  "image": "mcr.microsoft.com/devcontainers/python:3.10",\n}\n',
            after='{\n  // the dev image\n  "name": "dev",\n  "image": "mcr.microsoft.com/devcontainers/python:3.12",\n}\n',
            expect=(Expect(4, "(Python 3.10 -> 3.12)"),),
        ),
        Example(
            path="docker-compose.yml",
            before="services:\n  train:\n    image: nvcr.io/nvidia/pytorch:23.10-py3\n    shm_size: 8g\n",
            after="services:\n  train:\n    image: nvcr.io/nvidia/pytorch:24.05-py3\n    shm_size: 8g\n",
            expect=(Expect(3, "for service train (NGC release 23.10 -> 24.05)"),),
        ),
        Example(  # multi-stage: the builder stage renamed, the runtime stage's image unchanged
            path="Dockerfile",
            before="FROM python:3.11 AS builder\nRUN pip wheel .\nFROM python:3.11-slim\nCOPY --from=builder /w /w\n",
            after="FROM python:3.11 AS build\nRUN pip wheel .\nFROM python:3.11-slim\nCOPY --from=build /w /w\n",
        ),
        Example(  # comments, whitespace and instruction case
            path="Dockerfile",
            before="FROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\nRUN pip install x\n",
            after="# base image pinned for reproducibility\nfrom   pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\n"
                  "RUN pip install x\n",
        ),
        Example(  # the same image spelled with its registry; compose services reordered
            path="docker-compose.yml",
            before="services:\n  train:\n    image: python:3.11\n  db:\n    image: postgres:16\n",
            after="services:\n  db:\n    image: postgres:16\n  train:\n    image: docker.io/library/python:3.11\n",
        ),
        Example(  # devcontainer: only an unrelated setting changed
            path=".devcontainer/devcontainer.json",
            before='{"image": "pytorch/pytorch:2.1.0-cuda11.8-cudnn8-devel", "postCreateCommand": "pip install -e ."}\n',
            after='{\n  "image": "pytorch/pytorch:2.1.0-cuda11.8-cudnn8-devel",\n'
                  '  "postCreateCommand": "pip install -e .[dev]"\n}\n',
        ),
    )

    def check(self, ctx: TextContext) -> Iterator[Finding]:
        if ctx.text("base") is None and ctx.text("head") is not None:  # a new environment file
            for image in ctx.environment("head").images:
                if not image.is_build_arg:
                    yield self.report(ctx, image.span, f"base image {image.ref}{_slot_text(image)} (new file)",
                                      after=image.ref, severity="information")
            return
        if not _whole(ctx):
            return
        base, head = ctx.environment("base").images, ctx.environment("head").images
        for old, new in _pair_images(base, head):
            if old is not None and new is not None:
                if _normalize_image(old.ref) == _normalize_image(new.ref):
                    continue
                span, related = _anchor(ctx, new.span, old.via, new.via)
                if new.is_build_arg:
                    message = f"{new.slot} {old.ref} -> {new.ref}"
                else:
                    message = f"base image {old.ref} -> {new.ref}{_slot_text(new)}{_version_details(old.ref, new.ref)}"
                yield self.report(ctx, span, message, base_line=old.span.line, before=old.ref, after=new.ref,
                                  related=related)
            elif new is not None and not new.is_build_arg and base:
                yield self.report(ctx, new.span, f"base image {new.ref} added{_slot_text(new)}",
                                  after=new.ref, severity="information")
            elif old is not None and not old.is_build_arg and head:
                yield self.report(ctx, ctx.head_anchor(old.span.line),
                                  f"base image {old.ref} removed{_slot_text(old)}", base_line=old.span.line,
                                  before=old.ref, severity="information")


# -- pins ------------------------------------------------------------------------------------
def _pin_identity(pin: Pin) -> str:
    """The package a pin is about, across managers (conda ``pytorch`` is pip ``torch``) and
    CUDA majors (``nvidia-cudnn-cu11`` and ``-cu12`` are one library)."""
    nvidia = _NVIDIA_WHEEL.match(pin.name)
    if nvidia:
        return nvidia.group(1)
    return _CONDA_NAMES.get(pin.name, pin.name) if pin.manager == "conda" else pin.name


_CUDA_VERSION_PACKAGES = frozenset({"pytorch-cuda", "cudatoolkit", "cuda-toolkit", "cuda-version", "cuda-runtime",
                                    "cuda"})


def _pin_variant(pin: Pin) -> str:
    """``cu121`` for ``torch==2.1+cu121``, ``nvidia-cudnn-cu12``, ``pytorch-cuda=12.1``."""
    nvidia = _NVIDIA_WHEEL.match(pin.name)
    if nvidia:
        return nvidia.group(2)
    if pin.name in _CUDA_VERSION_PACKAGES:
        match = re.search(r"(\d+)\.(\d+)", pin.spec)
        return f"cu{match.group(1)}{match.group(2)}" if match else ""
    return pin.variant


def _public(spec: str) -> str:
    """A constraint without local version labels: ``==2.1.0+cu118`` -> ``==2.1.0``."""
    return re.sub(r"\+[A-Za-z0-9.]+", "", spec)


def _is_cuda_pin(pin: Pin) -> bool:
    return pin.name in CUDA_PACKAGES or bool(_NVIDIA_WHEEL.match(pin.name))


def _tracked(pin: Pin) -> bool:
    identity = _pin_identity(pin)
    if identity == "python":
        return pin.manager == "conda"
    return identity in CORE_PACKAGES or identity in ECOSYSTEM_PACKAGES


def pin_pairs(ctx: TextContext) -> list[tuple[Pin | None, Pin | None]]:
    """Base and head pins of the same package, computed once per change: same group and
    constraint first, then same group, then anywhere in the file."""
    return ctx.fact("pin_pairs", lambda: _pin_pairs(ctx))


def _pin_pairs(ctx: TextContext) -> list[tuple[Pin | None, Pin | None]]:
    base = list(ctx.environment("base").pins)
    head = list(ctx.environment("head").pins)
    pairs: list[tuple[Pin | None, Pin | None]] = []
    for same in (lambda b, h: b.group == h.group and b.spec == h.spec and b.variant == h.variant,
                 lambda b, h: b.group == h.group,
                 lambda b, h: True):
        for b in list(base):
            match = next((h for h in head if _pin_identity(h) == _pin_identity(b) and same(b, h)), None)
            if match is not None:
                base.remove(b)
                head.remove(match)
                pairs.append((b, match))
    pairs.extend((b, None) for b in base)
    pairs.extend((None, h) for h in head)
    return pairs


def _allowed_majors(spec: str) -> frozenset[int]:
    """Which of numpy's major versions 1-3 a constraint admits (``<2`` -> {1})."""
    return frozenset(major for major in (1, 2, 3)
                     if any(_satisfies(spec, (major, minor)) for minor in (0, 26, 99)))


def _satisfies(spec: str, version: tuple[int, ...]) -> bool:
    for clause in filter(None, spec.replace(" ", "").split(",")):
        match = re.match(r"(===|==|!=|~=|>=|<=|>|<|=)?(\d+(?:\.\d+)*)(\.\*)?", clause)
        if match is None:
            continue
        operator, wanted = match.group(1) or "==", tuple(int(p) for p in match.group(2).split("."))
        width = max(len(wanted), len(version))
        have = version + (0,) * (width - len(version))
        want = wanted + (0,) * (width - len(wanted))
        prefix = match.group(3) or operator == "="
        if operator in ("==", "=", "===") and not (have[:len(wanted)] == wanted if prefix else have == want):
            return False
        if operator == "!=" and have == want:
            return False
        if operator == ">=" and have < want or operator == ">" and have <= want:
            return False
        if operator == "<=" and have > want or operator == "<" and have >= want:
            return False
        if operator == "~=" and not (have >= want and have[:len(wanted) - 1] == wanted[:-1]):
            return False
    return True


def _pin_text(spec: str) -> str:
    return shorten(spec, 72) if spec else "(unpinned)"


def _group_text(pin: Pin) -> str:
    return f" in {pin.group}" if pin.group and pin.group not in ("Dockerfile", "conda") else ""


class TorchPinChanged(Rule[TextContext]):
    """A pin of torch or a library built against it changed: torch, torchvision, torchaudio,
    triton, xformers, flash-attn, deepspeed, transformers, accelerate, lightning, timm, a
    numpy major version, or the Python of a conda environment.

    Read from requirements files (``==``, ``>=`` floors, ``~=``, extras and environment
    markers; ``-r`` includes are not followed), pyproject.toml (``[project]`` dependencies and
    optional dependencies, dependency groups, Poetry), conda environment files (conda and
    ``pip:`` sections) and ``RUN pip install`` / ``conda install`` lines of Dockerfiles (with
    ``ARG`` values substituted). A new torch release changes default kernels and numerics;
    extensions such as flash-attn and xformers must match it exactly. Check that the pins
    still agree with each other and with the base image's CUDA.
    """

    code = "ML1302"
    reports_new_files = True  # a new requirements file, Dockerfile or setup.py: the torch it installs
    family = "environment"
    name = "torch-pin"
    summary = "torch-family package pin changed (requirements, pyproject, conda, Dockerfile)"
    file_kinds = PIN_KINDS
    examples = (
        Example(
            path="requirements.txt",
            before="torch>=1.11.0\nfsspec\nboto3\n",
            after="torch>=2.7\nboto3\n",
            expect=(Expect(1, "torch pin >=1.11.0 -> >=2.7"),),
        ),
        Example(  # markers, extras and spaces around the operator
            path="requirements-gpu.txt",
            before='--pre\ntorch >= 2.3.0.dev0; sys_platform == "linux"\ntransformers[torch]==4.38.0\n',
            after='--pre\ntorch >= 2.7.1; sys_platform == "linux"\ntransformers[torch]==4.38.0\n',
            expect=(Expect(2, "torch pin >=2.3.0.dev0 -> >=2.7.1"),),
        ),
        Example(
            path="pyproject.toml",
            before='[project]\nname = "x"\ndependencies = [\n  "torch==2.1.2",\n  "numpy<2",\n]\n',
            after='[project]\nname = "x"\ndependencies = [\n  "torch==2.3.1",\n  "numpy>=2",\n]\n',
            expect=(Expect(4, "torch pin ==2.1.2 -> ==2.3.1"), Expect(5, "numpy pin <2 -> >=2")),
        ),
        Example(
            path="environment.yml",
            before="name: train\nchannels: [pytorch, nvidia]\ndependencies:\n  - python=3.10\n  - pytorch=2.1.0\n"
                   "  - pip:\n    - flash-attn==2.3.3\n",
            after="name: train\nchannels: [pytorch, nvidia]\ndependencies:\n  - python=3.10\n  - pytorch=2.2.0\n"
                  "  - pip:\n    - flash-attn==2.5.0\n",
            expect=(Expect(5, "pytorch pin =2.1.0 -> =2.2.0"), Expect(7, "flash-attn pin ==2.3.3 -> ==2.5.0")),
        ),
        Example(  # setup.py's install_requires
            path="setup.py",
            before='from setuptools import setup\nsetup(name="x", install_requires=["torch>=2.3", "tqdm"])\n',
            after='from setuptools import setup\nsetup(name="x", install_requires=["torch>=2.8", "tqdm"])\n',
            expect=(Expect(2, "torch pin >=2.3 -> >=2.8 in install_requires"),),
        ),
        Example(  # a new requirements file: the torch it installs
            path="requirements.txt",
            before=None,
            after="torch==2.4.1\ntqdm\n",
            expect=(Expect(1, "torch ==2.4.1 (new file)"),),
        ),
        Example(  # a Dockerfile ARG feeding pip install
            path="Dockerfile",
            before="FROM python:3.11\nARG TORCH=2.1.0\nRUN pip install --no-cache-dir torch==${TORCH} numpy\n",
            after="FROM python:3.11\nARG TORCH=2.2.1\nRUN pip install --no-cache-dir torch==${TORCH} numpy\n",
            expect=(Expect(2, "torch pin ==2.1.0 -> ==2.2.1"),),
        ),
        Example(  # reordered, a comment added, an unrelated package bumped, spacing
            path="requirements.txt",
            before="numpy>=1.24\ntorch==2.1.0\nrequests==2.31.0\ntqdm\n",
            after="# training deps\ntorch == 2.1  # matches the image\nnumpy>=1.26\nrequests==2.32.0\ntqdm\n",
        ),
        Example(  # numpy minor bump within major version 1
            path="requirements.txt",
            before="numpy==1.24.4\ntorch>=2.0\n",
            after="numpy==1.26.4\ntorch>=2.0\n",
        ),
        Example(  # the same constraint with its clauses reordered and spaced
            path="requirements.txt",
            before="torch>=2.0,<3\ntorchvision\n",
            after="torch < 3, >= 2.0.0\ntorchvision\n",
        ),
        Example(  # a pyproject change outside the dependencies
            path="pyproject.toml",
            before='[project]\nname = "x"\nversion = "0.1"\ndependencies = ["torch>=2.1"]\n',
            after='[project]\nname = "x"\nversion = "0.2"\ndependencies = [\n    "torch>=2.1",\n]\n',
        ),
    )

    def check(self, ctx: TextContext) -> Iterator[Finding]:
        if ctx.text("base") is None and ctx.text("head") is not None:  # a new environment file
            reported_new: set[tuple] = set()
            for pin in ctx.environment("head").pins:
                if _tracked(pin) and not _is_cuda_pin(pin) and _first_of_its_kind(pin, reported_new):
                    yield self.report(ctx, pin.span, f"{pin.display} {_pin_text(_public(pin.spec))}"
                                                     f"{_group_text(pin)} (new file)",
                                      after=pin.written, severity="information")
            return
        if not _whole(ctx):
            return
        reported: set[tuple] = set()
        for old, new in pin_pairs(ctx):
            pin = cast(Pin, new or old)  # a pair has at least one side
            if _is_cuda_pin(pin) or not _tracked(pin):
                continue
            if old is not None and new is not None:
                if spec_key(_public(old.spec)) == spec_key(_public(new.spec)):
                    if _pin_variant(old) != _pin_variant(new) or spec_key(old.spec) == spec_key(new.spec):
                        continue   # unchanged, or only the CUDA variant (ML1303)
                    span, related = _anchor(ctx, new.span, old.via, new.via)
                    yield self.report(ctx, span, f"{new.display} build {old.spec} -> {new.spec} "
                                                    f"(same version, another local build){_group_text(new)}",
                                      base_line=old.span.line, before=old.written, after=new.written,
                                      related=related, severity=self._severity(new))
                    continue
                message = f"{new.display} pin {_pin_text(_public(old.spec))} -> {_pin_text(_public(new.spec))}"
                if _pin_identity(new) == "numpy":
                    before, after = _allowed_majors(_public(old.spec)), _allowed_majors(_public(new.spec))
                    if before == after:
                        continue
                    message += f" (numpy {_majors(before)} -> {_majors(after)})"
                span, related = _anchor(ctx, new.span, old.via, new.via)
                yield self.report(ctx, span, message + _group_text(new), base_line=old.span.line,
                                  before=old.written, after=new.written, related=related,
                                  severity=self._severity(new))
            elif _first_of_its_kind(pin, reported):   # one per package, group and constraint
                yield self._added_or_removed(ctx, old, new)

    def _added_or_removed(self, ctx: TextContext, old: Pin | None, new: Pin | None) -> Finding:
        if new is not None:
            return self.report(ctx, new.span, f"{new.display} added ({shorten(_public(new.spec), 72) or 'unpinned'})"
                                                 f"{_group_text(new)}", after=new.written, severity="information")
        assert old is not None  # a pair has at least one side
        was = f" (was {shorten(_public(old.spec), 72)})" if old.spec else ""
        return self.report(ctx, ctx.head_anchor(old.span.line),
                           f"{old.display} removed{was}{_group_text(old)}",
                           base_line=old.span.line, before=old.written, severity="information")

    def _severity(self, pin: Pin) -> str:
        return "warning" if _pin_identity(pin) in CORE_PACKAGES else "information"


def _first_of_its_kind(pin: Pin, reported: set[tuple]) -> bool:
    """Whether no pin of the same package, group and constraint was reported yet: the same
    requirement listed once per platform marker is one addition, not five."""
    key = (_pin_identity(pin), pin.group, pin.spec, pin.variant)
    if key in reported:
        return False
    reported.add(key)
    return True


def _majors(majors: frozenset[int]) -> str:
    return "/".join(f"{m}.x" for m in sorted(majors)) or "none"


# -- CUDA wheel indexes and variants ---------------------------------------------------------
def _compute_index(index: WheelIndex) -> bool:
    url = index.url.lower()
    return index.option in ("conda channel",) or index.option.startswith("tool.uv.sources") or any(
        marker in url for marker in ("download.pytorch.org", "pypi.nvidia.com", "data.pyg.org", "/whl/")
    ) or bool(re.search(r"(?:^|[/_-])(cu\d{2,3}|rocm[\d.]+)(?:$|[/_.-])", url))


def _index_variant(url: str) -> str:
    match = re.search(r"(?:^|[/_-])(cu\d{2,3}|rocm[\d.]+|cpu|xpu)(?:$|[/_.-])", url.lower())
    return match.group(1) if match else ""




def _variant_change(old: str, new: str) -> str:
    if old and new and old != new:
        before, after = cuda_label(old), cuda_label(new)
        if before.split(" ")[0] == after.split(" ")[0] and " " in after:
            after = after.split(" ", 1)[1]   # "CUDA 11.8 -> 12.1"
        return f" ({before} -> {after})"
    if new and not old:
        return f" ({cuda_label(new)})"
    return ""


class CudaVariantChanged(Rule[TextContext]):
    """The CUDA (or ROCm / CPU) build of torch changed: a wheel index such as
    ``--extra-index-url https://download.pytorch.org/whl/cu118`` -> ``cu121`` (requirements
    files, ``pip install`` in Dockerfiles, ``PIP_EXTRA_INDEX_URL``, uv and Poetry sources),
    a local version ``torch==2.1.0+cu118`` -> ``+cu121``, a conda ``pytorch-cuda`` /
    ``cudatoolkit`` pin or build string, a compute conda channel, or NVIDIA's CUDA wheels
    (``nvidia-cudnn-cu12``).

    The CUDA build decides which kernels and libraries (cuBLAS, cuDNN, NCCL) a run uses
    and which GPUs and drivers it supports; a new variant can change numerics and speed,
    or fail on an older driver. Check the driver on the training machines and that every
    CUDA extension is built for the same variant.
    """

    code = "ML1303"
    family = "environment"
    name = "cuda-variant"
    summary = "CUDA wheel index, local version (+cu118) or conda CUDA pin changed"
    file_kinds = PIN_KINDS
    examples = (
        Example(
            path="requirements.txt",
            before="--extra-index-url https://download.pytorch.org/whl/cu118\ntorch==2.1.0\n",
            after="--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.1.0\n",
            expect=(Expect(1, "wheel index https://download.pytorch.org/whl/cu118 -> "
                              "https://download.pytorch.org/whl/cu121 (CUDA 11.8 -> 12.1)"),),
        ),
        Example(
            path="requirements.txt",
            before="--pre\n--extra-index-url https://download.pytorch.org/whl/nightly/cu121\ntorch>=2.3\n",
            after="--pre\n--extra-index-url https://download.pytorch.org/whl/nightly/cu121\n"
                  "--extra-index-url https://download.pytorch.org/whl/nightly/cu128\ntorch>=2.3\n",
            expect=(Expect(3, "wheel index added: https://download.pytorch.org/whl/nightly/cu128 (CUDA 12.8)"),),
        ),
        Example(
            path="requirements.txt",
            before="torch==2.1.0+cu118\n",
            after="torch==2.1.0+cu121\n",
            expect=(Expect(1, "torch CUDA variant cu118 -> cu121 (CUDA 11.8 -> 12.1)"),),
        ),
        Example(
            path="environment.yml",
            before="name: train\nchannels:\n  - pytorch\n  - nvidia\ndependencies:\n  - pytorch=2.1.0\n"
                   "  - pytorch-cuda=11.8\n",
            after="name: train\nchannels:\n  - pytorch\n  - nvidia\ndependencies:\n  - pytorch=2.1.0\n"
                  "  - pytorch-cuda=12.1\n",
            expect=(Expect(7, "pytorch-cuda =11.8 -> =12.1 (CUDA 11.8 -> 12.1)"),),
        ),
        Example(
            path="Dockerfile",
            before="FROM python:3.11\nRUN pip install torch==2.3.0 --index-url https://download.pytorch.org/whl/cu118\n",
            after="FROM python:3.11\nRUN pip install torch==2.3.0 --index-url https://download.pytorch.org/whl/cu121\n",
            expect=(Expect(2, "(CUDA 11.8 -> 12.1)"),),
        ),
        Example(  # an index that is not a compute variant (a company mirror) and reordering
            path="requirements.txt",
            before="--index-url https://pypi.example.com/simple\n"
                   "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.2.0\n",
            after="--extra-index-url https://download.pytorch.org/whl/cu121\n"
                  "--index-url https://mirror.example.com/simple\ntorch==2.2.0\n",
        ),
        Example(  # conda: the CPU-only build chosen
            path="environment.yml",
            before="name: t\nchannels: [pytorch]\ndependencies:\n  - pytorch=2.1\n",
            after="name: t\nchannels: [pytorch]\ndependencies:\n  - pytorch=2.1\n  - cpuonly\n",
            expect=(Expect(5, "cpuonly added"),),
        ),
        Example(  # the same index written as -i, with a comment
            path="requirements.txt",
            before="--index-url https://download.pytorch.org/whl/cu121\ntorch==2.2.0\n",
            after="# CUDA 12.1 wheels\n-i https://download.pytorch.org/whl/cu121\ntorch==2.2.0\n",
        ),
    )

    def check(self, ctx: TextContext) -> Iterator[Finding]:
        if not _whole(ctx):
            return
        yield from self._indexes(ctx)
        for old, new in pin_pairs(ctx):
            pin = new or old
            assert pin is not None  # a pair has at least one side
            if _is_cuda_pin(pin):
                yield from self._cuda_pin(ctx, old, new)
            elif old is not None and new is not None and _tracked(pin) and _pin_variant(old) != _pin_variant(new):
                span, related = _anchor(ctx, new.span, old.via, new.via)
                yield self.report(ctx, span, f"{new.display} CUDA variant {_pin_variant(old) or '(none)'} -> "
                                                f"{_pin_variant(new) or '(none)'}"
                                                f"{_variant_change(_pin_variant(old), _pin_variant(new))}",
                                  base_line=old.span.line, before=old.written, after=new.written, related=related)

    def _cuda_pin(self, ctx: TextContext, old: Pin | None, new: Pin | None) -> Iterator[Finding]:
        if old is not None and new is not None:
            if spec_key(old.spec) == spec_key(new.spec) and _pin_variant(old) == _pin_variant(new):
                return
            span, related = _anchor(ctx, new.span, old.via, new.via)
            yield self.report(ctx, span, f"{new.display} {_pin_text(old.spec)} -> {_pin_text(new.spec)}"
                                            f"{_variant_change(_pin_variant(old), _pin_variant(new))}",
                              base_line=old.span.line, before=old.written, after=new.written, related=related)
        elif new is not None:
            yield self.report(ctx, new.span, f"{new.display} added ({new.spec or 'unpinned'})", after=new.written)
        elif old is not None:
            was = f" (was {old.spec})" if old.spec else ""
            yield self.report(ctx, ctx.head_anchor(old.span.line), f"{old.display} removed{was}",
                              base_line=old.span.line, before=old.written)

    def _indexes(self, ctx: TextContext) -> Iterator[Finding]:
        base = [i for i in ctx.environment("base").indexes if _compute_index(i)]
        head = [i for i in ctx.environment("head").indexes if _compute_index(i)]
        for index in list(base):   # unchanged: the same URL still there
            match = next((h for h in head if h.url.rstrip("/") == index.url.rstrip("/")
                          and (h.option == index.option or h.option.startswith("tool."))), None)
            if match is not None:
                base.remove(index)
                head.remove(match)
        for new in list(head):
            old = next((b for b in base if b.option == new.option), None)
            if old is None:
                continue
            base.remove(old)
            head.remove(new)
            span, related = _anchor(ctx, new.span, old.via, new.via)
            what = "conda channel" if new.option == "conda channel" else "wheel index"
            yield self.report(ctx, span, f"{what} {old.url} -> {new.url}"
                                            f"{_variant_change(_index_variant(old.url), _index_variant(new.url))}",
                              base_line=old.span.line, before=old.url, after=new.url, related=related)
        for new in head:
            what = "conda channel" if new.option == "conda channel" else "wheel index"
            yield self.report(ctx, new.span, f"{what} added: {new.url}"
                                                f"{_variant_change('', _index_variant(new.url))}", after=new.url)
        for old in base:
            what = "conda channel" if old.option == "conda channel" else "wheel index"
            yield self.report(ctx, ctx.head_anchor(old.span.line), f"{what} removed: {old.url}",
                              base_line=old.span.line, before=old.url)
