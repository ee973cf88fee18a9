"""Config files and environment files: parsing with positions, value changes, pins,
images and indexes, parse errors, JSONC, BOMs and CRLF, through the real engine."""
from __future__ import annotations

import pytest

from mldiff.analysis.configtree import ConfigSyntaxError, parse_json, parse_toml, parse_yaml
from mldiff.analysis.dockerfiles import dockerfile_environment
from mldiff.engine import analyze
from mldiff.analysis.requirements import (conda_pin, parse_requirement, requirements_environment, spec_key)
from mldiff.analysis.textfiles import text_change
from mldiff.facts.context import TextContext
from mldiff.facts.value_changes import value_changes
from mldiff.findings import Span


def config_changes(change):
    """The value changes the rules read for a config file's change."""
    return value_changes(TextContext(change))


def at(text: str, span: Span) -> str:
    """The text a single-line span covers."""
    line = text.split("\n")[span.line - 1]
    assert span.line == span.end_line
    return line[span.column - 1:span.end_column - 1]


def changes(path: str, kind: str, before: str, after: str) -> list[str]:
    change = text_change(kind, path, before, after)
    return [value_change.describe() for value_change in config_changes(change)]


# -- positions -------------------------------------------------------------------------------
def test_json_positions_with_escapes_comments_and_trailing_commas():
    text = '{\n  // optimizer\n  "optim": {"lr": 1e-3, "name": "ad\\u00e9m\\"w",},\n  /* x */ "n": [1, 2,],\n}\n'
    root = parse_json(text)
    optim = root.get("optim")
    assert at(text, optim.get("lr").span) == "1e-3"
    assert optim.get("lr").value == 0.001
    assert optim.get("name").value == 'adém"w'
    assert at(text, optim.get("name").span) == '"ad\\u00e9m\\"w"'
    assert at(text, optim.get("lr").key_span) == '"lr"'
    assert root.get("n").to_python() == [1, 2]


def test_json_strict_errors_carry_the_line():
    with pytest.raises(ConfigSyntaxError) as raised:
        parse_json('{\n  "a": 1,\n  "b" 2\n}\n', comments=False)
    assert raised.value.line == 3
    with pytest.raises(ConfigSyntaxError) as raised:
        parse_json('{"a": "unterminated\n}')
    assert raised.value.line == 1


def test_bom_and_crlf_keep_columns_of_the_file():
    text = '\ufeff{"lr": 0.1,\r\n "wd": 0.01}\r\n'
    root = parse_json(text)
    assert at(text, root.get("lr").span) == "0.1"
    assert at(text, root.get("wd").span) == "0.01"
    yaml_text = "\ufefflr: 0.1\r\nwd: 0.01\r\n"
    document = parse_yaml(yaml_text)[0]
    assert at(yaml_text, document.get("lr").span) == "0.1"
    assert document.get("wd").span.line == 2


def test_yaml_positions_anchors_merges_and_documents():
    text = "base: &base\n  lr: 1.0e-3\n  wd: 0.1\ntrain:\n  <<: *base\n  wd: 0.05\n---\nseed: 1\n"
    first, second = parse_yaml(text)
    train = first.get("train")
    assert train.get("lr").span.line == 2            # merged from the anchor: where it is written
    assert at(text, train.get("wd").span) == "0.05"  # an explicit key wins over the merge
    assert second.get("seed").value == 1


def test_yaml_recursive_alias_and_bad_yaml_do_not_crash():
    parse_yaml("a: &a [1, *a]\n")
    with pytest.raises(ConfigSyntaxError) as raised:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert raised.value.line >= 2


def test_toml_positions_tables_arrays_and_multiline_strings():
    text = ('title = """a\nb"""\n[project]\ndependencies = [\n  "torch>=2.1",  # floor\n  \'numpy<2\',\n]\n'
            '[[tool.uv.index]]\nname = "pytorch"\nurl = "https://download.pytorch.org/whl/cu121"\n'
            '[tool.poetry.dependencies]\ntorch = { version = "^2.1", source = "pytorch" }\n')
    root = parse_toml(text)
    dependencies = root.get("project").get("dependencies")
    assert at(text, dependencies.items[0][1].span) == '"torch>=2.1"'
    assert at(text, dependencies.items[1][1].span) == "'numpy<2'"
    index = root.get("tool").get("uv").get("index").items[0][1]
    assert at(text, index.get("url").span) == '"https://download.pytorch.org/whl/cu121"'
    torch = root.get("tool").get("poetry").get("dependencies").get("torch")
    assert at(text, torch.get("version").span) == '"^2.1"'
    with pytest.raises(ConfigSyntaxError) as raised:
        parse_toml("a = 1\nb = \n")
    assert raised.value.line == 2


# -- config value changes --------------------------------------------------------------------
def test_nested_keys_are_classified_by_their_last_component():
    before = "optimizer:\n  lr: 1e-3\n  weight_decay: 0.05\ntrainer:\n  precision: 16\nseed: 42\n"
    after = "optimizer:\n  lr: 3e-4\n  weight_decay: 0.05\ntrainer:\n  precision: bf16-mixed\nseed: 42\n"
    change = text_change("yaml", "configs/train.yaml", before, after)
    found = {(c.family, c.topic, c.subject, c.span.line) for c in config_changes(change)}
    assert found == {("learning_rate", "lr", "optimizer.lr", 2), ("precision", "dtype", "trainer.precision", 5)}


def test_comments_formatting_reordering_and_number_spelling_are_silent():
    before = "lr: 0.001\nbatch_size: 32\nmodel:\n  n_layer: 12\n"
    after = "# tuned\nmodel: {n_layer: 12}\nbatch_size: 32   # per GPU\nlr: 1e-3\n"
    assert changes("configs/a.yaml", "yaml", before, after) == []
    assert changes("a.json", "json", '{"lr": 0.001, "bs": 8}', '{\n  "bs": 8,\n  "lr": 1e-3\n}\n') == []
    assert changes("a.toml", "toml", "lr = 0.001\n", "# x\nlr = 1.0e-3\n") == []


def test_a_key_moved_to_another_section_with_its_value_is_silent():
    assert changes("c.yaml", "yaml", "lr: 0.1\nmodel: {}\n", "optimizer:\n  lr: 0.1\nmodel: {}\n") == []


def test_added_and_removed_keys_are_reported():
    found = changes("c.yaml", "yaml", "lr: 0.1\ndropout: 0.1\n", "lr: 0.1\nwarmup_steps: 500\n")
    assert "warmup_steps set to 500" in found
    assert "dropout 0.1 removed" in found


def test_param_groups_are_paired_by_name_not_position():
    before = "param_groups:\n  - name: backbone\n    lr: 1e-4\n  - name: head\n    lr: 1e-3\n"
    after = "param_groups:\n  - name: embed\n    lr: 1e-5\n  - name: backbone\n    lr: 1e-4\n  - name: head\n    lr: 1e-2\n"
    found = changes("c.yaml", "yaml", before, after)
    assert "param_groups[name=head].lr 1e-3 -> 1e-2" in found
    assert not any("backbone" in f for f in found)


def test_class_naming_keys_are_classified_by_their_section():
    change = text_change("yaml", "c.yaml", "optimizer:\n  _target_: torch.optim.AdamW\n",
                         "optimizer:\n  _target_: torch.optim.SGD\n")
    assert [(c.family, c.topic) for c in config_changes(change)] == [("optimizer", "optimizer_choice")]
    assert changes("c.yaml", "yaml", "wandb:\n  name: run-1\n", "wandb:\n  name: run-2\n") == []


def test_learning_rate_rule_reports_config_files_through_the_engine():
    result = analyze("config/train.json", '{"optimizer": {"lr": 0.1}}\n', '{"optimizer": {"lr": 0.01}}\n')
    assert [(f.code, f.line, f.message) for f in result.findings] == [("ML301", 1, "optimizer.lr 0.1 -> 0.01")]
    assert at('{"optimizer": {"lr": 0.01}}', result.findings[0].span) == "0.01"


def test_crlf_config_reports_the_right_line():
    result = analyze("c.yaml", "a: 1\r\nlr: 0.1\r\n", "a: 1\r\nlr: 0.2\r\n")
    assert [(f.line, f.span.column, f.span.end_column) for f in result.findings] == [(2, 5, 8)]


@pytest.mark.parametrize("path,broken", [
    ("c.yaml", "lr: [0.1\nwd: 2\n"),
    ("c.json", '{"lr": 0.1,\n "wd" 2}\n'),
    ("c.toml", "lr = 0.1\nwd = \n"),
])
def test_a_side_that_does_not_parse_is_an_error_with_its_line_not_a_crash(path, broken):
    good = {"c.yaml": "lr: 0.1\nwd: 2\n", "c.json": '{"lr": 0.1, "wd": 2}\n', "c.toml": "lr = 0.1\nwd = 2\n"}[path]
    result = analyze(path, good, broken)
    assert result.findings == []
    assert len(result.errors) == 1
    assert result.errors[0].message.startswith("head side does not parse at line 2")
    assert result.errors[0].line == 2
    result = analyze(path, broken, good)
    assert result.errors and result.errors[0].message.startswith("base side does not parse")


def test_deleted_config_is_not_parsed_and_added_config_reports_nothing():
    assert analyze("c.yaml", "lr: [\n", None).errors == []
    assert analyze("c.yaml", None, "lr: 0.1\n").findings == []


def test_ci_and_docs_yaml_are_not_configs():
    assert text_change("yaml", ".github/workflows/tests.yml", "a: 1\n", "a: 2\n") is None
    assert text_change("yaml", "docs/source/_toctree.yml", "a: 1\n", "a: 2\n") is None
    assert text_change("yaml", "configs/train.yml", "a: 1\n", "a: 2\n") is not None


def test_suppression_comment_in_a_config():
    result = analyze("c.yaml", "lr: 0.1\n", "lr: 0.2  # mldiff: ignore[ML301]\n")
    assert result.findings == []


# -- requirements ----------------------------------------------------------------------------
def test_requirement_syntax():
    assert parse_requirement('torch >= 2.3.0.dev0; sys_platform == "linux"')[:2] == ("torch", ">=2.3.0.dev0")
    assert parse_requirement("transformers[torch]~=4.38")[:2] == ("transformers", "~=4.38")
    assert parse_requirement("torch==2.1.0+cu118")[2] == "cu118"
    url = "https://download.pytorch.org/whl/cu118/torch-2.1.0%2Bcu118-cp310-cp310-linux_x86_64.whl"
    assert parse_requirement(url)[:3] == ("torch", "==2.1.0+cu118", "cu118")
    assert parse_requirement("git+https://github.com/x/y#egg=xformers")[0] == "xformers"
    assert parse_requirement("torch 2.0") is None
    assert spec_key(">= 2.0, <3") == spec_key("<3,>=2.0.0")
    assert spec_key("==2.1") == spec_key("==2.1.0") != spec_key("==2.1.1")


def test_requirements_file_lines_options_and_continuations():
    text = ("# deps\n-r base.txt\n--extra-index-url https://download.pytorch.org/whl/cu121\n"
            "-i https://pypi.org/simple\ntorch==2.2.0 \\\n    --hash=sha256:abc\nnumpy<2  # ABI\n-e .\n")
    env = requirements_environment(text)
    assert [(p.name, p.spec, p.span.line) for p in env.pins] == [("torch", "==2.2.0", 5), ("numpy", "<2", 7)]
    assert at(text, env.pins[0].span) == "torch==2.2.0"
    assert [(i.option, i.url) for i in env.indexes] == [
        ("--extra-index-url", "https://download.pytorch.org/whl/cu121"), ("--index-url", "https://pypi.org/simple")]
    assert at(text, env.indexes[0].span) == "https://download.pytorch.org/whl/cu121"


def test_conda_specs():
    pin = conda_pin("pytorch=1.13.1=py3.9_cuda11.7_cudnn8.5.0_0", Span(1, 1, 1, 1))
    assert (pin.name, pin.spec, pin.variant) == ("pytorch", "=1.13.1", "cu117")
    assert conda_pin("pytorch::pytorch>=2", Span(1, 1, 1, 1)).spec == ">=2"
    assert conda_pin("cudatoolkit 11.3.*", Span(1, 1, 1, 1)).spec == "=11.3.*"


def test_conda_like_yaml_under_another_name_is_read_for_pins():
    before = "name: env\nchannels: [pytorch]\ndependencies:\n  - pytorch=1.13\n"
    after = "name: env\nchannels: [pytorch]\ndependencies:\n  - pytorch=2.0\n"
    result = analyze("a100env.yml", before, after)
    assert [(f.code, f.line) for f in result.findings] == [("ML1302", 4)]


def test_pyproject_groups_poetry_and_uv_sources():
    before = ('[project]\ndependencies = ["torch>=2.1"]\n[project.optional-dependencies]\ncuda = ["triton==2.1.0"]\n'
              '[[tool.uv.index]]\nname = "pytorch-cu118"\nurl = "https://download.pytorch.org/whl/cu118"\n'
              '[tool.uv.sources]\ntorch = { index = "pytorch-cu118" }\n')
    after = before.replace("triton==2.1.0", "triton==3.0.0").replace("cu118", "cu124")
    found = [(f.code, f.line, f.message) for f in analyze("pyproject.toml", before, after).findings]
    assert ("ML1302", 4, "triton pin ==2.1.0 -> ==3.0.0 in optional-dependencies.cuda") in found
    assert any(code == "ML1303" and line == 7 and "(CUDA 11.8 -> 12.4)" in message for code, line, message in found)


def test_poetry_dependencies():
    before = '[tool.poetry.dependencies]\npython = "^3.10"\ntorch = {version = "2.1.0", source = "torch-cu118"}\n'
    after = '[tool.poetry.dependencies]\npython = "^3.11"\ntorch = {version = "2.2.0", source = "torch-cu121"}\n'
    found = [(f.code, f.message) for f in analyze("pyproject.toml", before, after).findings]
    assert ("ML1302", "torch pin ==2.1.0 -> ==2.2.0 in tool.poetry.dependencies") in found
    assert any(code == "ML1303" and "cu118 -> cu121" in message for code, message in found)


def test_requirements_suppression_and_unrelated_packages():
    assert analyze("requirements.txt", "torch==2.1\n", "torch==2.2  # mldiff: ignore[environment]\n").findings == []
    assert analyze("requirements.txt", "requests==1\nflask\n", "requests==2\n").findings == []


def test_whole_requirements_file_added_notes_the_torch_it_installs_not_a_pin_change():
    """A new environment file has no old pin: one note (information) for the framework it
    installs, none for the packages around it."""
    findings = analyze("requirements.txt", None, "torch==2.1\nrequests==2\n").findings
    assert [(f.code, f.severity, f.message, f.before) for f in findings] == [
        ("ML1302", "information", "torch ==2.1 (new file)", None)]


# -- Dockerfiles -----------------------------------------------------------------------------
DOCKERFILE = """# syntax=docker/dockerfile:1
ARG CUDA=12.1.0
FROM --platform=linux/amd64 nvidia/cuda:${CUDA}-cudnn8-devel-ubuntu22.04 AS build
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu121
ARG TORCH=2.2.0
RUN apt-get update && \\
    # a comment line inside the continuation
    pip install --no-cache-dir "torch==${TORCH}" torchvision \\
      --index-url https://download.pytorch.org/whl/cu121 && \\
    conda install -y -c pytorch -c nvidia pytorch-cuda=12.1
FROM build AS test
RUN <<EOF
pip3 install flash-attn==2.5.0
EOF
FROM python:3.11-slim
"""


def test_dockerfile_instructions_args_stages_and_heredocs():
    env = dockerfile_environment(DOCKERFILE)
    assert [(i.slot, i.ref) for i in env.images] == [
        ("stage build", "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"), ("stage", "python:3.11-slim")]
    pins = {p.name: p for p in env.pins}
    assert pins["torch"].spec == "==2.2.0" and pins["torch"].via[0].name == "TORCH"
    assert at(DOCKERFILE, pins["torch"].span) == '"torch==${TORCH}"'
    assert pins["flash-attn"].span.line == 13
    assert pins["pytorch-cuda"].manager == "conda"
    assert [(i.option, i.span.line) for i in env.indexes] == [
        ("--extra-index-url", 4), ("--index-url", 9), ("conda channel", 10), ("conda channel", 10)]


def test_dockerfile_escape_directive():
    text = "# escape=`\nFROM python:3.10\nRUN pip install `\n    torch==2.0.1\n"
    env = dockerfile_environment(text)
    assert [(p.name, p.span.line) for p in env.pins] == [("torch", 4)]


def test_dockerfile_arg_change_is_reported_at_the_arg():
    before = DOCKERFILE
    after = DOCKERFILE.replace("ARG CUDA=12.1.0", "ARG CUDA=12.4.1").replace("ARG TORCH=2.2.0", "ARG TORCH=2.4.0")
    found = {(f.code, f.line): f for f in analyze("Dockerfile", before, after).findings}
    assert "(CUDA 12.1.0 -> 12.4.1)" in found[("ML1301", 2)].message
    assert found[("ML1301", 2)].related[0].span.line == 3
    assert found[("ML1302", 5)].message == "torch pin ==2.2.0 -> ==2.4.0"


def test_devcontainer_with_comments_build_args_and_features():
    before = ('{\n  // CUDA dev box\n  "build": {"dockerfile": "Dockerfile", "args": {"CUDA_VERSION": "11.8"}},\n'
              '  "features": {"ghcr.io/devcontainers/features/python:1": {"version": "3.10"}},\n}\n')
    after = before.replace('"11.8"', '"12.1"').replace('"3.10"', '"3.11"')
    found = [(f.code, f.line, f.message) for f in analyze(".devcontainer/devcontainer.json", before, after).findings]
    assert found == [("ML1301", 3, "build arg CUDA_VERSION 11.8 -> 12.1"),
                     ("ML1301", 4, "feature python version 3.10 -> 3.11")]


def test_broken_devcontainer_is_an_error():
    result = analyze(".devcontainer/devcontainer.json", '{"image": "a:1"}\n', '{"image": "a:2"\n')
    assert result.findings == [] and result.errors[0].message.startswith("head side does not parse")


def test_compose_image_and_interpolation():
    before = "services:\n  train:\n    image: ${IMAGE:-pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime}\n"
    after = "services:\n  train:\n    image: ${IMAGE:-pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime}\n"
    (finding,) = analyze("compose.yaml", before, after).findings
    assert "torch 2.1.0 -> 2.3.0, CUDA 11.8 -> 12.1" in finding.message


def test_file_kinds_for_compose_overrides_and_requirements_directories():
    from mldiff.analysis.filekinds import file_kind
    assert file_kind("docker-compose.override.yml") == "compose"
    assert file_kind("deploy/compose.gpu.yaml") == "compose"
    assert file_kind("requirements/train.txt") == "requirements"
    assert file_kind("docs/notes.txt") is None


def test_positions_of_changes_deep_in_a_large_config():
    groups = ",\n".join(f'    {{"name": "g{i}", "lr": {i}.5, "wd": 0.1}}' for i in range(20))
    before = '{\n  "other": {"seed": 1},\n  "param_groups": [\n' + groups + '\n  ]\n}\n'
    after = before.replace('"name": "g7", "lr": 7.5', '"name": "g7", "lr": 9.5')
    change = text_change("json", "c.json", before, after)
    (value_change,) = config_changes(change)
    assert value_change.subject == "param_groups[name=g7].lr"
    assert at(after, value_change.span) == "9.5" and value_change.base_line == value_change.span.line
    yaml_before = "other: {seed: 1}\nparam_groups:\n" + "".join(f"  - name: g{i}\n    lr: {i}.5\n" for i in range(20))
    yaml_after = yaml_before.replace("name: g7\n    lr: 7.5", "name: g7\n    lr: 9.5")
    (value_change,) = config_changes(text_change("yaml", "c.yaml", yaml_before, yaml_after))
    assert at(yaml_after, value_change.span) == "9.5"


def test_a_url_urllib_rejects_is_not_a_crash():
    assert parse_requirement("https://download.pytorch.[org/whl/torch-2.1.0-cp310-cp310-linux_x86_64.whl")[:2] == (
        "torch", "==2.1.0")
    result = analyze("Dockerfile", "FROM a:1\nRUN pip install torch --index-url https://x.[org/cu118\n",
                     "FROM a:2\nRUN pip install torch --index-url https://x.[org/cu121\n")
    assert result.errors == [] and {f.code for f in result.findings} == {"ML1301", "ML1303"}


_SEEDS = {
    "c.yaml": "a: &x {lr: 0.1}\nb:\n  <<: *x\n  betas: [0.9, 0.99]\n",
    "c.json": '{"lr": 0.1, "g": [{"name": "a", "lr": 1}]} // c\n',
    "c.toml": 'lr = 0.1\n[[opt]]\nbetas = [0.9, 0.99]\ns = """x"""\n',
    "Dockerfile": "ARG T=2.1\nFROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime AS b\n"
                  "RUN pip install torch==${T} \\\n  --index-url https://download.pytorch.org/whl/cu118\n",
    ".devcontainer/devcontainer.json": '{"image": "python:3.10", "build": {"args": {"CUDA": "11.8"}},}\n',
    "requirements.txt": "--extra-index-url https://download.pytorch.org/whl/cu118\ntorch==2.1.0+cu118\nnumpy<2\n",
    "pyproject.toml": '[project]\ndependencies = ["torch>=2"]\n[tool.poetry.dependencies]\ntorch = {version = "2"}\n',
    "environment.yml": "name: e\nchannels: [pytorch]\ndependencies:\n  - pytorch=2.1=py3.10_cuda11.8_0\n"
                       "  - pip:\n    - torch==2\n",
}


@pytest.mark.parametrize("path", sorted(_SEEDS))
def test_mangled_files_never_crash_and_spans_stay_in_the_file(path):
    """Random edits of each kind of file: never an internal error, every finding inside the head."""
    from hypothesis import given, settings, strategies as st

    pieces = st.sampled_from(list('{}[]:,"\'\\#/=<>~-\n\t ') + ["\ufeff", "\r\n", "é", "${T}", "&x", "*x", "[[", "\\\n"])

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), pieces), max_size=6))
    def check(edits):
        head = _SEEDS[path]
        for position, delete, piece in edits:
            position = min(position, len(head))
            head = head[:position] + piece + head[position + delete:]
        result = analyze(path, _SEEDS[path], head)
        assert not [e for e in result.errors if "internal error" in e.message]
        line_count = max(len(head.split("\n")), 1)
        assert all(1 <= f.span.line <= f.span.end_line <= line_count for f in result.findings)

    check()


def test_yaml_with_custom_tags_is_read_not_rejected():
    before = "lr: 0.1\nbetas: !!python/tuple [0.9, 0.999]\nmodel: !new:speechbrain.Model\n  dropout: !ref <drop>\n"
    after = before.replace("0.999", "0.99")
    assert changes("hparams/train.yaml", "yaml", before, after) == ["betas [0.9, 0.999] -> [0.9, 0.99]"]
    assert analyze("hparams/train.yaml", before, after).errors == []
