"""The registry's JSON Schema: a valid, versioned 2020-12 schema that the
bundled registry points at."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from conftest import BUNDLED, ROOT

SCHEMA_PATH = ROOT / "schemas" / "registry.schema.json"


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA_PATH.read_text())


def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_id_is_versioned(schema):
    assert re.search(r"(?:[:/]|\bv)1(?:$|[/.#])", schema["$id"]), schema["$id"]


def test_registry_points_at_schema(bundled_text):
    assert bundled_text.splitlines()[0] == "#:schema ./schemas/registry.schema.json"
    assert (BUNDLED.parent / "schemas" / "registry.schema.json").is_file()


def test_bundled_registry_passes_schema(schema):
    import tomllib
    data = tomllib.loads(BUNDLED.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]


def test_schema_rejects_unknown_register_key(schema):
    import tomllib
    data = tomllib.loads(BUNDLED.read_text())
    data["registers"]["TCR2_EL1"]["compatt"] = "hide"
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)


def test_resources_find_schema_and_registry():
    """compat reads the schema and bundled registry through compat.core.resources."""
    from compat.core import resources
    assert json.loads(resources.schema_path().read_text()) == json.loads(SCHEMA_PATH.read_text())
    assert resources.bundled_registry().read_text() == BUNDLED.read_text()
