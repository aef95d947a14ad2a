"""Structural validation of a registry document against its JSON Schema.

The schema (``schemas/registry.schema.json``, draft 2020-12) says what keys
exist and what types they hold.  This module runs ``jsonschema`` and turns
its errors into located diagnostics that a person can act on: the key path
becomes ``file:line:col``, the entity becomes an ``In register 'X':`` line,
and an unknown key gets a "did you mean".
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable

from compat.core import resources
from compat.core.diagnostics import Diagnostic, Location, did_you_mean
from compat.load.source import KeyPath, SourceDocument

SUPPORTED_SCHEMA_VERSION = 1


@functools.lru_cache(maxsize=None)
def registry_schema() -> dict[str, Any]:
    """The bundled schema, freshly parsed: callers may extend their copy."""
    with open(resources.schema_path(), encoding="utf-8") as handle:
        return json.load(handle)


def inline_local_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``#/$defs/...`` references replaced by their
    targets (``$defs`` stay, for references from other resources).

    Same meaning, but jsonschema no longer resolves a reference per value:
    validation of large registries is about a third faster.  Subschemas with
    an ``$id`` of their own (plugin fragments) are left as they are, since
    their ``#`` means their own root.
    """
    defs = schema.get("$defs", {})
    expanding: set[str] = set()   # a recursive definition keeps its $ref

    def walk(node: Any, root: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict) or ("$id" in node and not root):
            return node
        ref = node.get("$ref")
        name = ref[8:] if isinstance(ref, str) and ref.startswith("#/$defs/") else None
        if name in defs and "/" not in name and name not in expanding:
            expanding.add(name)
            merged = dict(walk(defs[name]))
            expanding.discard(name)
            merged.update((k, walk(v)) for k, v in node.items() if k != "$ref")
            return merged
        return {k: walk(v) for k, v in node.items()}

    return walk(schema, root=True)


def entity_context(path: KeyPath, data: dict[str, Any] | None = None) -> str | None:
    """Name the registry entity a key path belongs to, for ``In ...:`` lines."""
    if len(path) >= 2 and path[0] == "registers":
        return f"register '{path[1]}'"
    if len(path) >= 2 and path[0] == "features":
        return f"feature '{path[1]}'"
    if len(path) >= 2 and path[0] == "machines":
        family = path[1]
        if len(path) >= 4 and path[2] == "versions" and isinstance(path[3], int):
            try:
                version = data["machines"][family]["versions"][path[3]]["version"]  # type: ignore[index]
                return f"machine type '{family}-{version}'"
            except (KeyError, IndexError, TypeError):
                return f"machine family '{family}' version #{path[3] + 1}"
        return f"machine family '{family}'"
    return None


def check_schema_version(doc: SourceDocument) -> list[Diagnostic]:
    """Check ``schema-version`` first: a newer format gets an upgrade hint
    instead of a flood of "unknown key" errors."""
    version = doc.data.get("schema-version")
    if version is None:
        return [Diagnostic(Location(doc.filename, 1, 1),
                           "missing 'schema-version'",
                           hint=f"start the registry with 'schema-version = {SUPPORTED_SCHEMA_VERSION}'")]
    loc = doc.locate(("schema-version",))
    if not isinstance(version, int) or isinstance(version, bool):
        return [Diagnostic(loc, f"'schema-version' must be an integer, not {version!r}")]
    if version > SUPPORTED_SCHEMA_VERSION:
        return [Diagnostic(loc, f"schema-version {version} is newer than this compat "
                           f"understands (it reads version {SUPPORTED_SCHEMA_VERSION})",
                           hint="install a newer compat (pip install . in an up-to-date "
                           "checkout) to read this registry")]
    if version != SUPPORTED_SCHEMA_VERSION:
        return [Diagnostic(loc, f"unknown schema-version {version}",
                           hint=f"this compat reads schema-version {SUPPORTED_SCHEMA_VERSION}")]
    return []


def validate_structure(doc: SourceDocument, schema: dict[str, Any] | None = None) -> list[Diagnostic]:
    """Every schema violation of ``doc``, as diagnostics.

    With ``jsonschema-rs`` installed (``pip install compat[fast]``) a
    compiled validator first answers "is it valid?" (10k registers: about
    0.01 s against 1.3 s); only an invalid document goes through
    ``jsonschema``, which stays the reference that explains each error.
    Where the two disagree, the stricter answer wins: a value only
    ``jsonschema-rs`` refuses (ECMA-262's ``$`` does not match before a
    trailing newline, Python's does) is still reported, located, from the
    compiled validator's own errors.
    """
    schema = schema or registry_schema()
    fast = fast_validator(schema)
    data = doc.data
    if fast is not None:
        try:
            if fast.is_valid(doc.data):
                return []
            data = invalid_entities_only(doc.data, schema)
        except (ValueError, TypeError):  # a TOML date or time: no JSON type, jsonschema explains
            fast, data = None, doc.data
    out = explain_structure(doc, schema, data)
    if not out and fast is not None:
        for error in fast.iter_errors(doc.data):
            out.extend(_diagnose_fast(doc, error))
    return out


def explain_structure(doc: SourceDocument, schema: dict[str, Any], data: Any) -> list[Diagnostic]:
    """Every schema violation ``jsonschema`` (the reference) finds in
    ``data``: ``doc``'s data, or a part of it that keeps its key paths
    (:func:`invalid_entities_only`); located in ``doc``."""
    from jsonschema import Draft202012Validator  # heavy: imported on use

    validator = Draft202012Validator(inline_local_refs(schema))
    out: list[Diagnostic] = []
    for error in validator.iter_errors(data):
        out.extend(_diagnose(doc, error))
    return out


#: Keywords of a table of entities (``registers``, ``features``,
#: ``machines``) that hold for a part of it when they hold for all of it:
#: a part keeping at least one entry still has valid names, valid entries
#: and (for ``minProperties`` of 0 or 1) enough of them.
_PART_SAFE = frozenset({"type", "description", "title", "$comment", "additionalProperties",
                        "propertyNames", "minProperties"})
#: What an entity's own schema keeps of the document's root, so that its
#: references resolve as they do there.
_ROOT_KEYS = ("$schema", "$id", "$defs")


def invalid_entities_only(data: Any, schema: dict[str, Any]) -> Any:
    """``data`` with only its invalid entities, by the compiled validator,
    for the reference validator to explain.

    The reference validator is pure Python: on a 10k-register registry
    with one bad value it took over a second, nearly all of it confirming
    the valid registers.  An entity (``registers.X``, ``features.X``,
    ``machines.X``: an entry of a table of the schema's root) is valid or
    not on its own, by its name and its value, so the reference explains
    the same errors, at the same key paths, from the invalid entities: each
    table keeps the entries whose name or value ``jsonschema-rs`` refuses
    (or its first entry, if none: a table is never emptied), and everything
    outside the tables stays.  A table whose schema says more than
    :data:`_PART_SAFE`, or whose parts the compiled validator cannot take,
    stays whole.  (Not the compiled validator's error paths: it reports an
    error per keyword, not every failing entry.)"""
    props = schema.get("properties")
    if not isinstance(data, dict) or not isinstance(props, dict):
        return data
    part = dict(data)
    for table, table_schema in props.items():
        entries = data.get(table)
        if not isinstance(entries, dict) or not entries or not _splittable(table_schema):
            continue
        names = fast_validator(_entity_schema(schema, table_schema.get("propertyNames", {})))
        values = fast_validator(_entity_schema(schema, table_schema["additionalProperties"]))
        if names is None or values is None:
            continue
        try:
            bad = {name: value for name, value in entries.items()
                   if not (names.is_valid(name) and values.is_valid(value))}
        except (ValueError, TypeError):  # a TOML date or time: explained whole
            continue
        first = next(iter(entries))
        part[table] = bad or {first: entries[first]}
    return part


def _splittable(table_schema: Any) -> bool:
    """Whether a table with ``table_schema`` may be given to the reference
    validator in part (see :func:`invalid_entities_only`)."""
    return (isinstance(table_schema, dict) and table_schema.keys() <= _PART_SAFE
            and table_schema.get("type") == "object"
            and isinstance(table_schema.get("additionalProperties"), dict)
            and isinstance(table_schema.get("propertyNames", {}), dict)
            and table_schema.get("minProperties", 0) in (0, 1))


def _entity_schema(schema: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
    """``sub``, a part of ``schema``, as a schema of its own."""
    return {**{k: schema[k] for k in _ROOT_KEYS if k in schema}, **sub}


_FAST_CACHE: dict[str, Any] = {}


def fast_validator(schema: dict[str, Any]) -> Any:
    """A compiled ``jsonschema-rs`` validator for ``schema``, or None when
    ``jsonschema-rs`` is not installed (or cannot compile the schema: the
    reference validator then does all the work)."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    key = json.dumps(schema, sort_keys=True)
    if key not in _FAST_CACHE:
        try:
            _FAST_CACHE[key] = jsonschema_rs.Draft202012Validator(schema)
        except Exception:  # noqa: BLE001 - any failure: fall back to jsonschema
            _FAST_CACHE[key] = None
    return _FAST_CACHE[key]


def _diagnose_fast(doc: SourceDocument, error: Any) -> Iterable[Diagnostic]:
    """A ``jsonschema-rs`` error the reference validator did not report."""
    path: KeyPath = tuple(error.instance_path)
    key = path[-1] if path and isinstance(path[-1], str) else None
    label = f"'{key}'" if key else "value"
    kind = type(error.kind).__name__
    if kind.endswith("Pattern"):
        pattern = getattr(error.kind, "pattern", "")
        message = (f"{label} {_short(error.instance)} is malformed: "
                   f"{_pattern_rule(path, {'pattern': pattern})}")
    else:
        message = f"{label}: {error.message}"
    yield Diagnostic(doc.locate(path), message + _where(path) if key is None else message,
                     context=entity_context(path, doc.data))


def _describe_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _expected(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    names = {"string": "a string", "integer": "an integer", "array": "an array",
             "object": "a table", "boolean": "a boolean"}
    if isinstance(kind, list):
        return " or ".join(names.get(k, k) for k in kind)
    return names.get(kind, "a valid value")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _diagnose(doc: SourceDocument, error: Any) -> Iterable[Diagnostic]:
    path: KeyPath = tuple(error.absolute_path)
    context = entity_context(path, doc.data)
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    where = _where(path)

    if keyword in ("additionalProperties", "unevaluatedProperties"):
        allowed = set(schema.get("properties", {}))
        instance = error.instance if isinstance(error.instance, dict) else {}
        for key in sorted(k for k in instance if k not in allowed):
            yield Diagnostic(doc.locate(path + (key,), value=False),
                             f"unknown key '{key}'{where}{did_you_mean(key, allowed)}",
                             context=context,
                             hint=None if did_you_mean(key, allowed) else
                             "allowed keys: " + ", ".join(sorted(allowed)))
        return
    if keyword == "required":
        missing = [k for k in schema.get("required", []) if k not in error.instance]
        for key in missing:
            yield Diagnostic(doc.locate(path, value=False),
                             f"missing required key '{key}'{where}", context=context)
        return
    if keyword == "propertyNames" or "propertyNames" in error.schema_path:
        # jsonschema reports a bad key with the object's path: point at the key
        bad = error.instance
        yield Diagnostic(doc.locate(path + (bad,), value=False) if isinstance(bad, str)
                         else doc.locate(path), f"invalid name {_short(bad)}{where}: "
                         f"{_name_rule(path)}", context=context)
        return
    if keyword == "oneOf" and len(path) >= 2 and path[-2] == "changes":
        yield Diagnostic(doc.locate(path), "a change needs exactly one of 'kernel' or 'qemu'",
                         context=context,
                         hint="write kernel = \"X.Y\" for a Linux change, qemu = \"X.Y\" for a QEMU one")
        return
    if keyword in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match
        # A branch that wants another type for the value itself ("an integer"
        # for "0xzz") says nothing useful: explain the branch of its type.
        relevant = [e for e in error.context
                    if not (e.validator == "type" and not e.relative_path)]
        yield from _diagnose(doc, best_match(relevant or error.context))
        return

    value = error.instance
    loc = doc.locate(path)
    key = path[-1] if path and isinstance(path[-1], str) else None
    label = f"'{key}'" if key else "value"
    if keyword == "enum":
        options = [str(v) for v in schema.get("enum", [])]
        suggestion = did_you_mean(str(value), options) if isinstance(value, str) else ""
        message = f"{label} must be {_expected(schema)}, not {_short(value)}{suggestion}"
    elif keyword == "const":
        message = f"{label} must be {_expected(schema)}, not {_short(value)}"
    elif keyword == "type":
        message = f"{label} must be {_expected(schema)}, not {_describe_type(value)}"
    elif keyword == "pattern":
        message = f"{label} {_short(value)} is malformed: {_pattern_rule(path, schema)}"
    elif keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = f"{low}..{high}" if low is not None and high is not None else (
            f">= {low}" if low is not None else f"<= {high}")
        message = f"{label} must be {bounds}, not {_short(value)}"
    elif keyword == "maxLength":
        message = f"{label} must be {error.validator_value} characters at most"
    elif keyword == "minLength":
        count = error.validator_value
        message = f"{label} must be at least {count} character{'s' if count != 1 else ''} long"
    elif keyword in ("minItems", "minProperties"):
        message = f"{label} must not be empty"
    elif keyword == "uniqueItems":
        message = f"{label} lists an item twice"
    elif keyword == "not":
        message = f"{label} is not allowed here"
    else:
        message = f"{label}: {error.message}"
    hint = None
    if isinstance(value, str) and "FIXME" in value:
        hint = ("FIXME is a placeholder of a suggested entry (compat audit, "
                "compat new-register): replace it with the real value")
    yield Diagnostic(loc, message + where if key is None else message, context=context, hint=hint)


def _where(path: KeyPath) -> str:
    return " at the top level" if not path else ""


def _name_rule(path: KeyPath) -> str:
    section = path[0] if path else ""
    return {
        "registers": "a register name is a C identifier (letters, digits, '_')",
        "features": "a feature name is lower-case letters, digits and '-' (impl-cpu)",
        "machines": "a machine family name is lower-case letters and digits (virt)",
    }.get(section, "not a valid name")


def _pattern_rule(path: KeyPath, schema: dict[str, Any]) -> str:
    key = path[-1] if path else ""
    rules = {
        "kernel": "write a Linux release as MAJOR.MINOR (\"6.13\")",
        "qemu": "write a QEMU release as MAJOR.MINOR (\"10.1\")",
        "min-kernel": "write a Linux release as MAJOR.MINOR (\"6.12\")",
        "version": "write the machine version as in the type name (\"10.1\")",
        "commit": "write a git commit hash: 7 to 40 lower-case hex digits",
        "cpu-feature": "write an architectural feature name (FEAT_TCRX)",
        "cpu-driver": "write a C identifier (TYPE_ARM_CPU)",
    }
    if key in rules:
        return rules[key]
    if "0[xX]" in schema.get("pattern", ""):
        return "write an unsigned 64-bit number (\"0x3\" or a decimal string)"
    return f"it must match {schema.get('pattern')}"
