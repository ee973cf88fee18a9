"""The VS Code extension as built: its own unit tests (node:test on the pure modules), the
packaged .vsix, and the agreement between its manifest, the server's settings and the docs."""
from __future__ import annotations

import json
import re
import zipfile

from vscode_tools import CLIENT, ROOT, build_vsix, npm

CLIENT_ONLY_SETTINGS = {"mldiff.interpreter", "mldiff.install.source", "mldiff.trace.server"}


def _manifest() -> dict:
    with zipfile.ZipFile(build_vsix()) as archive:
        return json.loads(archive.read("extension/package.json"))


def test_extension_unit_tests_pass() -> None:
    result = npm("test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^ℹ pass (\d+)$", output, re.M)
    assert passed and int(passed.group(1)) >= 20, output
    assert re.search(r"^ℹ fail 0$", output, re.M), output


def test_vsix_holds_the_bundle_and_nothing_else() -> None:
    with zipfile.ZipFile(build_vsix()) as archive:
        names = set(archive.namelist())
        bundle = archive.read("extension/out/extension.cjs").decode()
    assert "extension/out/extension.cjs" in names
    assert not any("node_modules" in name or name.startswith("extension/src/") for name in names), sorted(names)
    # vscode-languageclient is bundled in, not left as an import that would fail at run time.
    assert 'require("vscode-languageclient' not in bundle
    for command in _manifest()["contributes"]["commands"]:
        assert f'"{command["command"]}"' in bundle, f"{command['command']} is declared but never registered"


def test_manifest_runs_next_to_the_code_and_limits_untrusted_workspaces() -> None:
    manifest = _manifest()
    assert manifest["extensionKind"] == ["workspace"]
    untrusted = manifest["capabilities"]["untrustedWorkspaces"]
    assert untrusted["supported"] == "limited"
    assert "validation is off" in untrusted["description"]
    settings = manifest["contributes"]["configuration"]["properties"]
    for restricted in untrusted["restrictedConfigurations"]:
        assert restricted in settings
    assert {"mldiff.interpreter", "mldiff.validate.command"} <= set(untrusted["restrictedConfigurations"])
    validate = next(c for c in manifest["contributes"]["commands"] if c["command"] == "mldiff.validateChange")
    assert validate["enablement"] == "isWorkspaceTrusted"


def test_every_setting_has_a_description_and_a_default() -> None:
    settings = _manifest()["contributes"]["configuration"]["properties"]
    assert {"mldiff.base", "mldiff.select", "mldiff.ignore", "mldiff.severity", "mldiff.validate.command",
            "mldiff.validate.steps", "mldiff.validate.runner", "mldiff.validate.timeout",
            "mldiff.trace.server"} <= set(settings)
    for name, schema in settings.items():
        assert "default" in schema, name
        assert len(schema.get("markdownDescription") or schema.get("description") or "") > 20, name


def _server_table(settings: dict) -> dict:
    """The settings the client sends, shaped as the server reads them ([tool.mldiff])."""
    table: dict = {}
    for name, schema in settings.items():
        if name in CLIENT_ONLY_SETTINGS:
            continue
        parts = name.removeprefix("mldiff.").split(".")
        node = table
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = schema["default"]
    return table


def test_server_accepts_the_settings_the_client_sends() -> None:
    from mldiff.lsp.settings import ENGINE_KEYS, SettingsState

    settings = _manifest()["contributes"]["configuration"]["properties"]
    table = _server_table(settings)
    table["severity"] = {"ML201": "error", "batch_size": "information"}
    table["select"] = ["normalization", "ML3"]
    reports: list[str] = []
    state = SettingsState(report=reports.append)
    state.workspace = {"": table}  # what workspace/configuration answers for section "mldiff"
    engine = state.settings_for(None)
    options = state.options()
    assert reports == []
    assert engine.severity_for("ML201", "normalization", "warning") == "error"
    assert engine.select == ("normalization", "ML3")
    assert settings["mldiff.debounceMs"]["default"] == "auto" and options.debounce_ms is None  # None: automatic
    assert options.diagnostic_mode == "auto"
    # Every setting the client sends is one the server reads.
    server_reads = set(ENGINE_KEYS) | {"debounceMs", "maxFileBytes", "diagnosticMode"}
    assert set(table) <= server_reads
    # settings.ts sends exactly these keys; a setting added to package.json must be added there too.
    source = (CLIENT / "src" / "settings.ts").read_text(encoding="utf-8")
    keys_block = re.search(r"SERVER_KEYS = \[(.*?)\] as const", source, re.S).group(1)
    sent = set(re.findall(r'"([\w.]+)"', keys_block))
    declared = {name.removeprefix("mldiff.") for name in settings if name not in CLIENT_ONLY_SETTINGS}
    assert sent == declared


def test_docs_cover_every_setting_and_command() -> None:
    doc = "docs/vscode.md"
    text = (ROOT / doc).read_text(encoding="utf-8")
    manifest = _manifest()
    for name in manifest["contributes"]["configuration"]["properties"]:
        assert f"`{name}`" in text, f"{name} is not documented in {doc}"
    for command in manifest["contributes"]["commands"]:
        assert command["title"] in text, f"command {command['title']!r} is not documented in {doc}"


def test_validation_settings_match_the_validation_engine() -> None:
    from mldiff.errors import ConfigError
    from mldiff.validate.command import check_runner, from_table

    settings = _manifest()["contributes"]["configuration"]["properties"]
    engine = from_table({"command": "python train.py"})
    assert settings["mldiff.validate.steps"]["default"] == engine.steps
    assert settings["mldiff.validate.timeout"]["default"] == engine.timeout
    assert settings["mldiff.validate.runner"]["default"] == engine.runner
    pattern = re.compile(settings["mldiff.validate.runner"]["pattern"])
    for runner in ("auto", "local", "devcontainer", "docker:train-1", "docker", "ssh", "docker:-x"):
        try:
            accepted = check_runner(runner) == runner
        except ConfigError:
            accepted = False
        assert bool(pattern.match(runner)) == accepted, runner
