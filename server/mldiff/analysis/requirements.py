"""Package pins, wheel indexes and images, read from the files that set up an environment:
requirements*.txt, pyproject.toml (PEP 621, dependency groups, Poetry, uv), conda
environment files, devcontainer.json and compose files (Dockerfiles: ``dockerfiles.py``).

The requirement syntax is parsed here with a small PEP 508 reader, so the analyzer needs
no ``packaging`` at run time; only what rules compare is kept: the name, the version
constraint, the compute variant (``+cu118``, a conda build string) and where it is written.
"""
from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

from mldiff.analysis.configtree import Node
from mldiff.analysis.environment import Environment, Image, Pin, WheelIndex
from mldiff.findings import Span

_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*")
_OPERATOR = re.compile(r"(?:===|==|!=|~=|>=|<=|>|<)")
_VARIANT = re.compile(r"\+(cu\d+|rocm[\d.]+|cpu|xpu)\b", re.I)
_CONDA_CUDA_BUILD = re.compile(r"(?:^|_)(cuda[\d.]+|cpu)(?:_|$)", re.I)
_WHEEL = re.compile(r"(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_COMMENT = re.compile(r"(?:^|\s+)#.*$")
# pip options in requirements files that take a value; the URL ones are wheel indexes
_INDEX_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
                  "-f": "--find-links", "--find-links": "--find-links"}
_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--trusted-host",
                  "--no-binary", "--only-binary", "--hash", "--config-settings", "-C", "--global-option",
                  "--install-option", "--use-feature"}


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def variant_of(text: str) -> str:
    """The compute variant a version or URL names: ``cu118``, ``rocm5.7``, ``cpu`` or ""."""
    text = unquote(text)
    match = _VARIANT.search(text)
    if match:
        return match.group(1).lower()
    match = re.search(r"/(?:whl/(?:nightly/|test/)?)(cu\d+|rocm[\d.]+|cpu|xpu)(?:/|$)", text, re.I)
    return match.group(1).lower() if match else ""


def cuda_label(variant: str) -> str:
    """``CUDA 11.8`` for ``cu118``, ``ROCm 5.7`` for ``rocm5.7``, ``CPU`` for ``cpu``."""
    match = re.fullmatch(r"cu(\d+)", variant)
    if match:
        digits = match.group(1)
        return f"CUDA {digits[:-1]}.{digits[-1]}" if len(digits) > 1 else f"CUDA {digits}"
    if variant.startswith("rocm"):
        return f"ROCm {variant[4:]}"
    return variant.upper() if variant else ""


def normalize_spec(spec: str) -> str:
    """A version constraint as written, without spaces or parentheses: ``>=2.0,<3``."""
    spec = spec.strip()
    if spec.startswith("(") and spec.endswith(")"):
        spec = spec[1:-1]
    return ",".join(clause.replace(" ", "") for clause in spec.split(",") if clause.strip())


def spec_key(spec: str) -> tuple[str, ...]:
    """A constraint's meaning for comparison: clause order, spaces, ``v`` prefixes and trailing
    ``.0`` release parts do not matter (``==2.1`` is ``==2.1.0``)."""
    clauses = []
    for clause in spec.lower().replace(" ", "").split(","):
        if not clause:
            continue
        match = re.match(r"(===|==|!=|~=|>=|<=|>|<|\^|~|=)?v?(\d+(?:\.\d+)*)?(.*)$", clause)
        assert match is not None  # every part is optional
        operator, release, tail = match.group(1) or "", match.group(2) or "", match.group(3)
        if release and not tail.startswith(".*"):
            parts = release.split(".")
            while len(parts) > 1 and parts[-1] == "0":
                parts.pop()
            release = ".".join(parts)
        clauses.append(operator + release + tail)
    return tuple(sorted(clauses))


def parse_requirement(text: str) -> tuple[str, str, str, str] | None:
    """(display name, spec, variant, written) of a PEP 508 requirement or a wheel URL, or None."""
    text = text.strip()
    if not text:
        return None
    if "://" in text or text.endswith(".whl"):
        return _url_requirement(text)
    match = _NAME.match(text)
    if match is None:
        return None
    name = match.group(1)
    rest = text[match.end():].strip()
    if rest.startswith("@"):
        url = rest[1:].split(";", 1)[0].strip()
        wheel = _url_requirement(url)
        spec = wheel[1] if wheel else "@ " + url.split("#", 1)[0]
        return name, spec, variant_of(url), text
    constraint = rest.split(";", 1)[0].strip()
    if constraint and not _OPERATOR.match(constraint.lstrip("(")):
        return None
    spec = normalize_spec(constraint)
    return name, spec, variant_of(spec), text


def _url_requirement(url: str) -> tuple[str, str, str, str] | None:
    """``torch-2.1.0+cu118-cp310-...whl`` -> (torch, ==2.1.0+cu118, cu118); ``...#egg=name``."""
    try:
        parts = urlsplit(url)
        fragment, path = parts.fragment, parts.path
    except ValueError:   # not a URL urllib accepts ("https://host[/x"): read it as text
        path, _, fragment = url.partition("#")
    egg = re.search(r"egg=([A-Za-z0-9._-]+)", fragment)
    filename = unquote(path.split("?", 1)[0].rsplit("/", 1)[-1])
    wheel = _WHEEL.match(filename)
    if wheel:
        version = wheel.group("version")
        return wheel.group("name"), f"=={version}", variant_of(version) or variant_of(url), url
    if egg:   # a VCS or archive URL: what it points at, not the #egg= fragment, is the pin
        return egg.group(1), "@ " + url.split("#", 1)[0], variant_of(url), url
    return None


def make_pin(requirement: str, span: Span, group: str) -> Pin | None:
    parsed = parse_requirement(requirement)
    if parsed is None:
        return None
    display, spec, variant, written = parsed
    return Pin(normalize_name(display), display, spec, written, span, group, "pip", variant)


def conda_pin(requirement: str, span: Span, group: str = "conda") -> Pin | None:
    """A conda match spec: ``pytorch=2.1.0=py3.10_cuda11.8_0``, ``pytorch-cuda=11.8``,
    ``pytorch::pytorch>=2``, ``cudatoolkit 11.3.*``."""
    text = requirement.strip()
    if "::" in text:
        text = text.split("::", 1)[1]
    match = re.match(r"([A-Za-z0-9_][A-Za-z0-9._-]*)\s*(.*)$", text)
    if match is None:
        return None
    name, rest = match.group(1), match.group(2).strip()
    build = ""
    if rest.startswith("[") or not rest:
        version = ""
    elif " " in rest and not _OPERATOR.match(rest):
        version, _, build = rest.partition(" ")
        version = "=" + version
    else:
        pieces = re.match(r"(==|=|>=|<=|>|<|!=|~=)?([^=\s]*)(?:=(\S+))?", rest)
        assert pieces is not None  # every part is optional
        version = (pieces.group(1) or "=") + pieces.group(2) if pieces.group(2) else ""
        build = pieces.group(3) or ""
    variant = ""
    build_match = _CONDA_CUDA_BUILD.search(build)
    if build_match:
        token = build_match.group(1).lower()
        variant = "cpu" if token == "cpu" else "cu" + token[4:].replace(".", "")
    return Pin(normalize_name(name), name, version.replace(" ", ""), requirement.strip(), span, group,
               "conda", variant)


# -- requirements.txt ------------------------------------------------------------------------
def requirements_environment(text: str) -> Environment:
    """Pins and index options of a pip requirements file (``-r``/``-c`` includes are not followed)."""
    env = Environment()
    lines = text.split("\n")
    number = 0
    while number < len(lines):
        first = number
        line = lines[number].rstrip("\r")
        while line.endswith("\\") and number + 1 < len(lines):   # continuation lines
            number += 1
            line = line[:-1] + " " + lines[number].rstrip("\r")
        number += 1
        content = _COMMENT.sub("", line).strip()
        if not content:
            continue
        first_text = lines[first].rstrip("\r")
        column = len(first_text) - len(first_text.lstrip())
        if content.startswith("-"):
            _read_options(content, first + 1, column, first_text, env)
            continue
        requirement = re.split(r"\s+--?[A-Za-z]", content, maxsplit=1)[0].strip()
        shown = _COMMENT.sub("", first_text).rstrip().rstrip("\\").rstrip()
        end = column + len(requirement) if first_text[column:].startswith(requirement) else len(shown)
        pin = make_pin(requirement, Span(first + 1, column + 1, first + 1, end + 1), "")
        if pin is not None:
            env.pins.append(pin)
    return env


def _read_options(content: str, line: int, column: int, text: str, env: Environment) -> None:
    tokens = content.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        option, eq, value = token.partition("=")
        if not eq and option.startswith("-i") and len(option) > 2 and not option.startswith("--"):
            option, value = "-i", option[2:]
        elif not eq and i + 1 < len(tokens) and (option in _INDEX_OPTIONS or option in _VALUE_OPTIONS):
            value = tokens[i + 1]
            i += 1
        i += 1
        if option in _INDEX_OPTIONS and value:
            start = text.find(value, column)
            span = Span(line, start + 1, line, start + len(value) + 1) if start >= 0 else \
                Span(line, column + 1, line, len(text.rstrip()) + 1)
            env.indexes.append(WheelIndex(value, _INDEX_OPTIONS[option], span))


# -- pyproject.toml --------------------------------------------------------------------------
def pyproject_environment(root: Node) -> Environment:
    """[project] dependencies and optional-dependencies, [dependency-groups], build requires,
    Poetry dependencies and sources, uv indexes and sources, PDM sources."""
    env = Environment()
    project = _child(root, "project")
    if project is not None:
        _pin_list(env, _child(project, "dependencies"), "dependencies")
        for group, node in _items(_child(project, "optional-dependencies")):
            _pin_list(env, node, f"optional-dependencies.{group}")
    for group, node in _items(_child(root, "dependency-groups")):
        _pin_list(env, node, f"dependency-groups.{group}")
    _pin_list(env, _child(_child(root, "build-system"), "requires"), "build-system.requires")
    tool = _child(root, "tool")
    poetry = _child(tool, "poetry")
    sources: dict[str, str] = {}
    for table, option in ((_child(poetry, "source"), "tool.poetry.source"),
                          (_child(_child(tool, "uv"), "index"), "tool.uv.index"),
                          (_child(_child(tool, "pdm"), "source"), "tool.pdm.source")):
        for _, source in _items(table):
            url, name = _child(source, "url"), _child(source, "name")
            if url is not None and isinstance(url.value, str):
                if name is not None and isinstance(name.value, str):
                    sources[name.value] = url.value
                env.indexes.append(WheelIndex(url.value, option, url.span))
    if poetry is not None:
        _poetry_pins(env, _child(poetry, "dependencies"), "tool.poetry.dependencies", sources)
        _poetry_pins(env, _child(poetry, "dev-dependencies"), "tool.poetry.dev-dependencies", sources)
        for group, node in _items(_child(poetry, "group")):
            _poetry_pins(env, _child(node, "dependencies"), f"tool.poetry.group.{group}", sources)
    for package, node in _items(_child(_child(tool, "uv"), "sources")):
        entries = [child for _, child in node.items] if node.kind == "list" else [node]
        for entry in entries:
            index = _child(entry, "index")
            if index is not None and isinstance(index.value, str):
                env.indexes.append(WheelIndex(sources.get(index.value, index.value),
                                              f"tool.uv.sources {package}", index.span))
    return env


def _child(node: Node | None, key: str) -> Node | None:
    return node.get(key) if node is not None and node.kind == "map" else None


def _items(node: Node | None) -> Iterable[tuple[str, Node]]:
    if node is None or node.kind == "scalar":
        return []
    return [(str(key), child) for key, child in node.items]


def _pin_list(env: Environment, node: Node | None, group: str) -> None:
    for _, item in _items(node):
        if item.kind == "scalar" and isinstance(item.value, str):
            pin = make_pin(item.value, item.span, group)
            if pin is not None:
                env.pins.append(pin)


def _poetry_pins(env: Environment, node: Node | None, group: str, sources: dict[str, str]) -> None:
    for name, item in _items(node):
        if name.lower() == "python":
            continue
        constraints = [child for _, child in item.items] if item.kind == "list" else [item]
        for constraint in constraints:
            version: Node | None = constraint
            source: Node | None = None
            if constraint.kind == "map":
                version, source = _child(constraint, "version"), _child(constraint, "source")
                url = _child(constraint, "url")
                if version is None and url is not None and isinstance(url.value, str):
                    wheel = _url_requirement(url.value)
                    spec = wheel[1] if wheel else "@ " + url.value
                    env.pins.append(Pin(normalize_name(name), name, spec, url.value, url.span, group, "pip",
                                        variant_of(url.value)))
                    continue
            spec = _poetry_spec(version.value) if version is not None and isinstance(version.value, str) else ""
            variant = variant_of(spec)
            if source is not None and isinstance(source.value, str):
                variant = variant or variant_of(sources.get(source.value, "")) or _variant_in_name(source.value)
            span = (version or constraint).span
            env.pins.append(Pin(normalize_name(name), name, spec, f"{name} = {spec or '*'}", span, group, "pip",
                                variant))


def _poetry_spec(version: str) -> str:
    version = version.strip()
    if version in ("", "*"):
        return ""
    if re.match(r"\d", version):
        return "==" + version
    return normalize_spec(version)


def _variant_in_name(name: str) -> str:
    match = re.search(r"(cu\d{2,3}|rocm[\d.]+|cpu)", name.lower())
    return match.group(1) if match else ""


# -- conda environment files -----------------------------------------------------------------
def is_conda_environment(root: Node | dict[str, Any]) -> bool:
    """A YAML mapping with a ``dependencies`` list and a ``channels`` list or a ``name``
    (a parsed ``Node`` or the plain value)."""
    if isinstance(root, Node):
        if root.kind != "map":
            return False
        root = {key: child.to_python() if key == "dependencies" else True for key, child in root.items}
    if not isinstance(root, dict):
        return False
    return isinstance(root.get("dependencies"), list) and ("channels" in root or "name" in root)


def conda_environment(root: Node) -> Environment:
    env = Environment()
    for _, channel in _items(root.get("channels")):
        if channel.kind == "scalar" and isinstance(channel.value, str) and is_compute_channel(channel.value):
            env.indexes.append(WheelIndex(channel.value, "conda channel", channel.span))
    for _, item in _items(root.get("dependencies")):
        if item.kind == "scalar" and isinstance(item.value, str):
            pin = conda_pin(item.value, item.span)
            if pin is not None:
                env.pins.append(pin)
        elif item.kind == "map":
            for _, line in _items(item.get("pip")):
                if line.kind != "scalar" or not isinstance(line.value, str):
                    continue
                text = line.value.strip()
                if text.startswith("-"):
                    sub = Environment()
                    _read_options(text, line.span.line, 0, text, sub)
                    env.indexes.extend(WheelIndex(i.url, i.option, line.span) for i in sub.indexes)
                    continue
                pin = make_pin(text, line.span, "conda pip")
                if pin is not None:
                    env.pins.append(pin)
    return env


def is_compute_channel(channel: str) -> bool:
    """A conda channel that decides the torch / CUDA build (pytorch, nvidia, *-nightly, ...)."""
    lower = channel.lower()
    return any(word in lower for word in ("pytorch", "nvidia", "cuda", "rocm"))


# -- devcontainer.json and compose files -----------------------------------------------------
_IMAGE_ARG = re.compile(r"image|cuda|cudnn|torch|python|rocm|ubuntu|base|version", re.I)


def devcontainer_environment(root: Node) -> Environment:
    """``image``, image-related ``build.args`` and version options of features."""
    env = Environment()
    if root.kind != "map":
        return env
    image = root.get("image")
    if image is not None and isinstance(image.value, str):
        env.images.append(Image("image", image.value, image.value, image.span))
    _build_args(env, _child(root, "build"), "build arg")
    for feature, options in _items(root.get("features")):
        name = re.sub(r"[:@].*$", "", feature).rsplit("/", 1)[-1]
        if options.kind == "scalar" and isinstance(options.value, str) and options.value:
            env.images.append(Image(f"feature {name} version", options.value, options.value, options.span,
                                    is_build_arg=True))
        for option, value in _items(options):
            if "version" in option.lower() and value.kind == "scalar" and value.value is not None:
                text = str(value.value)
                env.images.append(Image(f"feature {name} {option}", text, text, value.span, is_build_arg=True))
    return env


def compose_environment(root: Node) -> Environment:
    env = Environment()
    for service, node in _items(_child(root, "services")):
        image = _child(node, "image")
        if image is not None and isinstance(image.value, str):
            env.images.append(Image(f"service {service}", substitute_defaults(image.value), image.value,
                                    image.span))
        _build_args(env, _child(node, "build"), f"service {service} build arg")
    return env


def _build_args(env: Environment, build: Node | None, slot: str) -> None:
    args = _child(build, "args")
    if args is None:
        return
    pairs: list[tuple[str, Node]] = []
    if args.kind == "map":
        pairs = [(str(k), v) for k, v in args.items]
    elif args.kind == "list":   # compose: ["CUDA=11.8", ...]
        for _, item in args.items:
            if item.kind == "scalar" and isinstance(item.value, str) and "=" in item.value:
                key, _, assigned = item.value.partition("=")
                pairs.append((key.strip(), Node("scalar", item.span, assigned.strip(), assigned.strip())))
    for name, value in pairs:
        if value.kind == "scalar" and value.value is not None and _IMAGE_ARG.search(name):
            text = str(value.value)
            env.images.append(Image(f"{slot} {name}", text, text, value.span, is_build_arg=True))


def substitute_defaults(text: str) -> str:
    """``${IMAGE:-pytorch/pytorch:2.1.0}`` -> its default (compose interpolation)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", text)
