"""Generate ``docs/registry-format.md`` from the registry's JSON Schema.

The reference of the registry format is written once, in the schema's
``description`` fields; this module renders it as Markdown so the document
can never drift from what ``compat validate`` accepts.  Regenerate with::

    python -m compat.load.schema_doc --write        # rewrites docs/registry-format.md
    python -m compat.load.schema_doc --check        # exit 1 when the file is stale

``tests/test_reference_docs.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping

from compat.core.text import one_line

REGENERATE = "python -m compat.load.schema_doc --write"
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "registry-format.md"

#: Sections: ($defs name or "" for the top level, heading, TOML form, intro).
SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("", "Top level", "", "The keys at the top of `registry.toml`."),
    ("machine-family", "Machine families", "[machines.FAMILY]",
     "One table per machine family; `FAMILY` is the part of the machine type "
     "name before the version (`virt` in `virt-10.1`)."),
    ("machine-version-entry", "Machine versions", "versions = [ { ... }, ... ]",
     "Each element of a family's `versions` array is one machine type, "
     "`FAMILY-VERSION`."),
    ("feature", "Features", "[features.NAME]",
     "A QEMU option that writes registers; a machine type that hides a register "
     "refuses the features that write it."),
    ("feature-write", "Feature writes", "writes = { ... }", "One register value a feature writes."),
    ("register", "Registers", "[registers.NAME]",
     "A register whose exposure to KVM guests changed between host kernels "
     "or QEMU versions. A NAME that is an architectural name compat knows "
     "(`compat encode NAME` gives its index) must have that name's encoding."),
    ("change", "Changes", "changes = [ { ... }, ... ]",
     "One change of a register's exposure, oldest first. Exactly one of "
     "`kernel` and `qemu` is given."),
)

#: Value types documented in their own table.
VALUE_TYPES = ("register-name", "feature-name", "family-name", "output-name", "version",
               "machine-version", "u64", "commit", "text")


def _cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


def describe_type(node: Mapping[str, Any]) -> str:
    """A short Markdown description of a schema node's type."""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name in VALUE_TYPES:
            return f"[{name}](#{name})"
        for defname, heading, _, _ in SECTIONS:
            if defname == name:
                return f"table ([{heading.lower()}](#{_anchor(heading)}))"
        if name == "encoding":
            return "table ([encoding](#encoding))"
        return name
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "oneOf" in node:
        return " or ".join(describe_type(alt) for alt in node["oneOf"])
    kind = node.get("type")
    if kind == "array":
        items = describe_type(node.get("items", {}))
        extra = ", unique" if node.get("uniqueItems") else ""
        extra += ", not empty" if node.get("minItems") else ""
        return f"array of {items}{extra}"
    if kind == "object":
        extra_props = node.get("additionalProperties")
        if isinstance(extra_props, dict) and extra_props:
            names = describe_type(node.get("propertyNames", {"type": "string"}))
            return f"tables named by {names}: {describe_type(extra_props)}"
        props = node.get("properties")
        if props and set(props) == set(node.get("required", ())):
            return "table { " + ", ".join(f"`{k}`: {describe_type(v)}"
                                         for k, v in props.items()) + " }"
        return "table"
    if kind == "string" and "pattern" in node:
        # ``$(?![\s\S])`` is "the very end" in Python and ECMA-262 alike;
        # readers know it as ``$``.
        pattern = node["pattern"].removesuffix(r"$(?![\s\S])")
        pattern += "$" if pattern != node["pattern"] else ""
        return f"string matching `{pattern}`"
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None:
            return f"integer {low}..{high}"
        if low is not None:
            return f"integer >= {low}"
        return "integer"
    if kind == "boolean":
        return "boolean"
    if kind == "string":
        low, high = node.get("minLength"), node.get("maxLength")
        if low is not None and high is not None:
            return f"string of {low}..{high} characters"
        return "string"
    return "any"


def _anchor(heading: str) -> str:
    return heading.lower().replace(" ", "-")


def _key_table(node: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    required = set(node.get("required", ()))
    lines = ["| key | type | required | description |", "|---|---|---|---|"]
    for key, sub in node.get("properties", {}).items():
        description = sub.get("description", "")
        if not description and "$ref" in sub:
            target = defs.get(str(sub["$ref"]).rsplit("/", 1)[-1], {})
            description = target.get("description", "")
        lines.append(f"| `{key}` | {_cell(describe_type(sub))} | "
                     f"{'yes' if key in required else 'no'} | {_cell(description)} |")
    return lines


def _encoding(schema: Mapping[str, Any]) -> list[str]:
    enc = schema["$defs"]["encoding"]
    groups = enc["properties"]["group"]["enum"]
    lines = ["## Encoding", "", "`encoding = { group = \"...\", ... }`: the register's index "
             "as fields; compat checks that it agrees with `index`.", "",
             "`group` is one of " + ", ".join(f"`{g}`" for g in groups) + ".", "",
             "| group | fields (required in bold) |", "|---|---|"]
    for rule in enc.get("allOf", []):
        cond = rule["if"]["properties"]["group"]
        names = [cond["const"]] if "const" in cond else list(cond["enum"])
        then = rule["then"]
        required = set(then.get("required", ()))
        fields = []
        for key, sub in then.get("properties", {}).items():
            if key == "group":
                continue
            label = f"**`{key}`**" if key in required else f"`{key}`"
            fields.append(f"{label} ({describe_type(sub)})")
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {_cell(', '.join(fields))} |")
    return lines


def render(schema: Mapping[str, Any]) -> str:
    """The Markdown reference of ``schema``."""
    defs = schema["$defs"]
    out = [
        "<!-- Generated from schemas/registry.schema.json by compat.load.schema_doc; do not edit.",
        f"     Regenerate with: {REGENERATE} -->",
        "",
        f"# Registry format ({one_line(schema.get('title', 'registry'))})",
        "",
        one_line(schema.get("description", "")),
        "",
        f"The schema's identifier is `{schema.get('$id')}`. Unknown keys are errors "
        "everywhere; plugins can allow keys of their own with schema fragments "
        "(see [hooks.md](hooks.md#compat_schema_fragments)).",
        "",
    ]
    for defname, heading, form, intro in SECTIONS:
        node = schema if not defname else defs[defname]
        out += [f"## {heading}", ""]
        if form:
            out += [f"`{form}`", ""]
        out += [intro, ""]
        out += _key_table(node, defs)
        out.append("")
    out += _encoding(schema)
    out.append("")
    out += ["## Value types", "", "| name | type | description |", "|---|---|---|"]
    for name in VALUE_TYPES:
        node = defs[name]
        out.append(f"| <a id=\"{name}\"></a>`{name}` | {_cell(describe_type(node))} | "
                   f"{_cell(node.get('description', ''))} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m compat.load.schema_doc [--write | --check] [--output FILE]``."""
    from compat.load.schema import registry_schema

    parser = argparse.ArgumentParser(prog="python -m compat.load.schema_doc",
                                     description="generate docs/registry-format.md")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite the file")
    group.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = render(registry_schema())
    if args.write:
        from compat.output import write_file
        write_file(args.output, text)  # atomic, like every file compat writes
        return 0
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale; run: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
