"""Schema fragments: plugins extending the registry schema with keys of their own.

A plugin's ``compat_schema_fragments()`` returns JSON Schema documents
(draft 2020-12).  Each one names what it extends with ``x-compat-extends``
and lists the keys it adds under ``properties``::

    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "urn:example:rhel:register",
      "x-compat-extends": "register",
      "properties": {"rhel-bugzilla": {"type": "string", "pattern": "^RHEL-[0-9]+$"}}
    }

:func:`extend_schema` checks each fragment (against the draft 2020-12
metaschema; ``$id`` present and unique; a known ``x-compat-extends``; no key
that the base schema or another fragment already defines) and returns a copy
of the base schema in which those keys are allowed.  The fragment is embedded
whole under ``$defs`` (it keeps its ``$id``, so its own ``#/$defs/...``
references still resolve) and each added key is a ``$ref`` into it.  Every
other unknown key is still an error: ``additionalProperties: false`` stays.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable, Mapping

from compat.core.diagnostics import CompatError, Diagnostic, Location

#: ``x-compat-extends`` value -> the JSON pointer (as a key path) of the
#: object schema whose ``properties`` grow.
EXTENSION_POINTS: dict[str, tuple[str, ...]] = {
    "registry": (),
    "register": ("$defs", "register"),
    "feature": ("$defs", "feature"),
    "machine-family": ("$defs", "machine-family"),
    "machine-version": ("$defs", "machine-version-entry"),
}

#: Where embedded fragments live in the extended schema.
_EMBED_PREFIX = "x-compat-fragment:"

_KEY = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def _fail(plugin: str, index: int, message: str, hint: str | None = None) -> CompatError:
    where = Location(f"<plugin {plugin}: schema fragment #{index + 1}>")
    return CompatError([Diagnostic(where, f"plugin '{plugin}': {message}", hint=hint)])


def check_schema_fragment(plugin: str, index: int, fragment: Any) -> None:
    """Raise :class:`CompatError` unless ``fragment`` is a usable schema fragment."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(fragment, Mapping):
        raise _fail(plugin, index, f"a schema fragment must be a JSON object (dict), "
                    f"not {type(fragment).__name__}")
    try:
        Draft202012Validator.check_schema(dict(fragment))
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise _fail(plugin, index, f"schema fragment is not valid JSON Schema (draft 2020-12) "
                    f"at {path}: {exc.message}") from None
    schema_uri = fragment.get("$schema")
    if schema_uri is not None and "2020-12" not in str(schema_uri):
        raise _fail(plugin, index, f"schema fragment declares $schema {schema_uri!r}",
                    hint="write \"$schema\": \"https://json-schema.org/draft/2020-12/schema\"")
    ident = fragment.get("$id")
    if not isinstance(ident, str) or not ident:
        raise _fail(plugin, index, "schema fragment has no '$id'",
                    hint="give each fragment a unique URI, e.g. \"urn:PLUGIN:schema:register\"")
    if "#" in ident:
        raise _fail(plugin, index, f"schema fragment '$id' {ident!r} must not contain '#'")
    target = fragment.get("x-compat-extends")
    if target not in EXTENSION_POINTS:
        raise _fail(plugin, index, f"schema fragment {ident}: 'x-compat-extends' must be one of "
                    + ", ".join(sorted(EXTENSION_POINTS)) + f", not {target!r}")
    props = fragment.get("properties")
    if not isinstance(props, Mapping) or not props:
        raise _fail(plugin, index, f"schema fragment {ident}: 'properties' must name at least "
                    "one key it adds")
    for key in props:
        if not _KEY.match(key):
            raise _fail(plugin, index, f"schema fragment {ident}: key {key!r} is not a valid "
                        "registry key (lower-case letters, digits and '-')")


def _refs(node: Any):
    """Every ``$ref`` string in a schema document."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


_VERY_END = r"(?![\s\S])"


def anchored_patterns(node: Any) -> Any:
    r"""``node`` with every ``pattern`` that ends in ``$`` made to mean "the very
    end": jsonschema applies ``re.search``, whose ``$`` also matches before a
    final newline; ``$(?![\s\S])`` means the end in Python and ECMA-262 alike."""
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if (key == "pattern" and isinstance(value, str) and value.endswith("$")
                    and not value.endswith("\\$")):
                value += _VERY_END
            out[key] = anchored_patterns(value) if key != "pattern" else value
        return out
    if isinstance(node, list):
        return [anchored_patterns(v) for v in node]
    return node


def _pointer_escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def extend_schema(base: Mapping[str, Any],
                  contributions: Iterable[tuple[str, Iterable[Any]]]) -> dict[str, Any]:
    """``base`` plus the schema fragments ``[(plugin, [fragment, ...]), ...]``.

    Contributions are applied in the order given (the plugin host sorts
    them by plugin name).  Returns a new schema; ``base`` is not modified.
    Raises :class:`CompatError` naming the plugin for a bad fragment, a
    duplicate ``$id`` or a key defined twice.
    """
    schema = copy.deepcopy(dict(base))
    ids: dict[str, str] = {str(base.get("$id")): "the base schema"}
    owners: dict[tuple[str, str], str] = {}
    loaded: list[tuple[str, int, str, Any]] = []
    for plugin, fragments in contributions:
        if not isinstance(fragments, (list, tuple)):
            raise _fail(plugin, 0, "compat_schema_fragments() must return a list of schema "
                        f"documents, not {type(fragments).__name__}")
        for index, fragment in enumerate(fragments):
            check_schema_fragment(plugin, index, fragment)
            loaded.append((plugin, index, fragment["$id"], fragment))
            ident = fragment["$id"]
            if ident in ids:
                raise _fail(plugin, index, f"schema fragment '$id' {ident!r} is already used by "
                            f"{ids[ident]}", hint="every fragment needs its own '$id'")
            ids[ident] = f"plugin '{plugin}'"
            target = fragment["x-compat-extends"]
            node = schema
            for part in EXTENSION_POINTS[target]:
                node = node[part]
            properties = node.setdefault("properties", {})
            for key in fragment["properties"]:
                if key in properties:
                    owner = owners.get((target, key), "the base schema")
                    raise _fail(plugin, index, f"schema fragment {ident} adds key '{key}' to "
                                f"{target}, which {owner} already defines")
                properties[key] = {"$ref": f"{ident}#/properties/{_pointer_escape(key)}"}
                owners[(target, key)] = f"plugin '{plugin}'"
            schema.setdefault("$defs", {})[_EMBED_PREFIX + ident] = anchored_patterns(
                json.loads(json.dumps(fragment)))  # a plain, private copy
    for plugin, index, ident, fragment in loaded:
        for ref in _refs(fragment):
            if not ref.startswith("#") and ref.partition("#")[0] not in ids:
                raise _fail(plugin, index, f"schema fragment {ident}: '$ref' {ref!r} names no "
                            "schema compat has; compat never fetches schemas",
                            hint="refer to \"#/$defs/NAME\", the base schema or another "
                                 "fragment's '$id'")
    return schema


def fragment_only_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` relaxed for validating a registry *fragment* on its own:
    no top-level key is required and ``machines`` may be empty."""
    relaxed = copy.deepcopy(dict(schema))
    relaxed.pop("required", None)
    machines = relaxed.get("properties", {}).get("machines")
    if isinstance(machines, dict):
        machines.pop("minProperties", None)
    return relaxed


def added_keys(schema: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{extension point: [keys added by fragments]}`` of an extended schema."""
    out: dict[str, list[str]] = {}
    for target, path in EXTENSION_POINTS.items():
        node: Any = schema
        for part in path:
            node = node.get(part, {})
        keys = [k for k, v in node.get("properties", {}).items()
                if isinstance(v, dict) and str(v.get("$ref", "")).count("#/properties/")
                and not str(v["$ref"]).startswith("#")]
        if keys:
            out[target] = sorted(keys)
    return out
