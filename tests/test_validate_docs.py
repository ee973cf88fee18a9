"""docs/validation.md names every validate option, config key and command of this part."""
from __future__ import annotations

from conftest import ROOT

from mldiff.cli import build_parser
from mldiff.validate.command import _KNOWN, TABLES

DOC = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_validate_flag_is_documented():
    parser = build_parser()
    validate = parser._subparsers._group_actions[0].choices["validate"]
    flags = [flag for action in validate._actions for flag in action.option_strings if flag.startswith("--")]
    assert set(flags) > {"--base", "--steps", "--plot"}
    missing = [flag for flag in flags if flag != "--help" and flag not in DOC]
    assert missing == []


def test_every_config_key_and_command_is_documented():
    assert [key for key in sorted(_KNOWN) if f"{key} = " not in DOC] == []
    for table, keys in TABLES.items():
        assert f"[tool.mldiff.validate.{table}]" in DOC and f"[tool.mldiff.validate.{table}]" in CONFIGURATION
        section = DOC.split(f"[tool.mldiff.validate.{table}]", 1)[1].split("```", 1)[0]
        assert [key for key in sorted(keys) if f"{key} = " not in section] == [], table
    for command in ("mldiff hook install", "mldiff hook uninstall", "mldiff attach", "mldiff notes",
                    "python -m mldiff.probe", "bench/gpu_validation.sh"):
        assert command in DOC
