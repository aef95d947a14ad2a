"""Built-in output ``registry-json``: the resolved view, for other tools.

One JSON document with the registers (decoded, with their value limits and
CPU property), features and machine versions together with what compat
decided for each machine version (:meth:`RenderContext.resolved`): the
registers it hides or tolerates, the values it pins and the features it
refuses.  A machine
version refers to a register by ``name`` and ``index`` and to the changes
that are the reason by their position in that register's ``changes``
(``reasons``): each fact is written once, under ``registers``.  Keys are sorted and lists ordered (registers and features by
name, machine versions as :meth:`Registry.machine_versions` lists them), so
the file is byte-identical across runs.  Integers wider than 53 bits are
hex strings, since JSON consumers often read numbers as doubles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from compat.plugin import (Change, Feature, format_index, MachineView, output_hooks, OutputSpec,
                           provenance, Registry, RegisterView, RenderContext, ResolvedView, Rule)
from compat.qemu.resolved import cpu_property_json, limit_json, pin_json


FILE = "registry.json"
#: Version of this JSON document's layout (bumped on incompatible changes).
#: 2: a machine version's hidden/tolerated entries refer to the register
#: (``name``, ``index``) and to its ``changes`` by position (``reasons``)
#: instead of copying the change objects.
#: 3: value rules: a register's ``accepts`` and ``cpu-property``, its
#: ``rules`` (one line per rule, as ``compat explain`` and the docs say
#: them), and a machine version's ``pins`` (the limit and the kernel that
#: forced each pin, by position in the register's ``accepts``).
SCHEMA_VERSION = 3
OUTPUT = OutputSpec(name="registry-json", files=(FILE,),
                    description="the resolved registry and derived rules as JSON")


def render_files(context: RenderContext) -> dict[str, Iterator[str]]:
    """registry.json as chunks, one register a chunk (written as they come)."""
    return {FILE: chunks(model(context.resolved(), context.source_name, lazy=True))}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


def render(view: ResolvedView, source_name: str) -> str:
    """The JSON text: sorted keys, one top-level key a line and one
    register, feature or machine a line, so diffs stay readable.  (An
    ``indent`` makes :mod:`json` fall back to its pure-Python encoder, about
    ten times slower on large registries.)"""
    return dumps(model(view, source_name, lazy=True))


def dumps(data: dict[str, Any]) -> str:
    """``data`` as JSON with the layout :func:`render` describes."""
    return "".join(chunks(data))


def chunks(data: dict[str, Any]) -> Iterator[str]:
    """:func:`dumps`'s text in pieces: an iterator's items (the lazy
    registers) are encoded one at a time and never held together."""
    # one encoder for every item: json.dumps would build a new one (and its
    # C encoder) for each of the registers
    compact = json.JSONEncoder(sort_keys=True).encode

    yield "{\n"
    for n, key in enumerate(sorted(data)):
        value = data[key]
        head = ("" if n == 0 else ",\n") + f"  {compact(key)}: "
        if isinstance(value, (list, Iterator)):
            first = True
            for item in value:
                yield (head + "[\n    " if first else ",\n    ") + compact(item)
                first = False
            yield head + "[]" if first else "\n  ]"
        else:
            yield head + compact(value)
    yield "\n}\n"


def model(view: ResolvedView, source_name: str, *, lazy: bool = False) -> dict[str, Any]:
    """The resolved view as plain JSON-ready data.  With ``lazy`` the
    registers are an iterator, so :func:`dumps` never holds all of their
    objects at once (about half of a 100k-register build's peak memory)."""
    registry = view.registry
    changes: dict[int, dict[str, Any]] = {}  # one object per change, however often cited
    registers = (_register(registry, v, changes) for v in view.registers())
    return {
        "generated-by": "compat",
        "source": source_name,
        "schema-version": SCHEMA_VERSION,
        "registry-schema-version": registry.schema_version,
        "registers": registers if lazy else list(registers),
        "features": [_feature(registry, registry.features[n], view)
                     for n in sorted(registry.features)],
        "machine-families": [
            {"name": fam.name, "cpu-driver": fam.cpu_driver, "layout": fam.layout,
             "description": fam.description,
             "versions": [v.name for v in fam.versions], "source": provenance(fam.location)}
            for fam in (registry.machines[n] for n in sorted(registry.machines))],
        "machine-versions": [_machine(m, changes) for m in view.machines],
        "outputs": None if registry.outputs is None else sorted(registry.outputs),
        "plugins": sorted(registry.plugins),
    }


def _change(change: Change, cache: dict[int, dict[str, Any]]) -> dict[str, Any]:
    found = cache.get(id(change))
    if found is None:
        found = cache[id(change)] = _change_data(change)
    return found


def _change_data(change: Change) -> dict[str, Any]:
    return {
        "change": change.kind,
        "kernel": None if change.kernel is None else str(change.kernel),
        "qemu": None if change.qemu is None else str(change.qemu),
        "commit": change.commit,
        "cpu-feature": change.cpu_feature,
        "vcpu-feature": change.vcpu_feature,
        "accel": change.accel,
        "subject": change.subject,
        "source": change.source,
        "direction": change.direction,
        "describe": change.describe(),
        "where": provenance(change.location),
    }


def _register(registry: Registry, view: RegisterView, changes: dict) -> dict[str, Any]:
    reg = view.register
    d = reg.decoded
    return {
        "name": reg.name,
        "index": format_index(reg.index),
        "decoded": {"arch": d.arch, "group": d.group, "size": d.size,
                    "fields": d.fields, "macro": d.macro,  # keys sorted by the encoder
                    "qemu_name": d.qemu_name, "in_cpreg_list": d.in_cpreg_list()},
        "description": reg.description,
        "reset": None if reg.reset is None else hex(reg.reset),
        "changes": [_change(c, changes) for c in reg.changes],
        "compat": reg.compat,
        "safe-when": None if reg.safe_when is None else {
            "mask": hex(reg.safe_when.mask), "value": hex(reg.safe_when.value)},
        "safe-because": reg.safe_because,
        "refuse-because": reg.refuse_because,
        "used-by": sorted(reg.used_by),
        "written-by": list(registry.writers(reg)),
        "sources": list(reg.sources),
        "source": provenance(reg.location),
        "accepts": [dict(limit_json(limit), where=provenance(limit.location))
                    for limit in reg.accepts],
        "cpu-property": cpu_property_json(reg.cpu_property),
        "rules": list(view.summary),
    }


def _feature(registry: Registry, feature: Feature, view: ResolvedView) -> dict[str, Any]:
    refused = [m.machine.name for m in view.machines
               if any(r.feature == feature.name for r in m.refusals)]
    return {
        "name": feature.name,
        "description": feature.description,
        "property": feature.property,
        "reference": feature.source,
        "writes": sorted(({"register": w.register, "index": _index_of(registry, w.register),
                           "value": hex(w.value), "source": provenance(w.location)}
                          for w in feature.writes),
                         key=lambda w: (w["register"], w["value"])),
        "refused-by": refused,
        "source": provenance(feature.location),
    }


def _index_of(registry: Registry, name: str) -> str | None:
    reg = registry.registers.get(name)
    return None if reg is None else format_index(reg.index)


def _rule(rule: Rule, changes: dict) -> dict[str, Any]:
    """A reference to the register (its facts and changes are listed once,
    under ``registers``): ``reasons`` are positions in its ``changes``."""
    key = ("rule", rule.register.name, rule.kind, rule.override, tuple(map(id, rule.reasons)))
    found = changes.get(key)
    if found is None:
        position = {id(c): i for i, c in enumerate(rule.register.changes)}
        found = changes[key] = {
            "name": rule.register.name,
            "index": format_index(rule.index),
            "kind": rule.kind,
            "override": rule.override,
            "reasons": [position[id(c)] for c in rule.reasons],
        }
    return found


def _machine(view: MachineView, changes: dict) -> dict[str, Any]:
    machine, rules = view.machine, view.rules
    refusals = sorted(({"feature": r.feature, "register": r.refusal.register.name,
                        "index": format_index(r.refusal.register.index),
                        "value": hex(r.refusal.value), "oldest-allowing": r.oldest_allowing}
                       for r in view.refusals),
                      key=lambda r: (r["feature"], r["register"]))
    return {
        "name": machine.name,
        "family": machine.family,
        "version": machine.version,
        "qemu": None if machine.qemu is None else str(machine.qemu),
        "min-kernel": str(machine.min_kernel),
        "description": machine.description,
        "hide-overrides": sorted(machine.hide),
        "tolerate-missing-overrides": sorted(machine.tolerate_missing),
        "hidden": [_rule(r, changes) for r in rules.hidden],
        "hidden-indices": [format_index(r.index) for r in rules.hidden],
        "tolerated": [_rule(r, changes) for r in rules.tolerated],
        "tolerated-indices": [format_index(r.index) for r in rules.tolerated],
        "pins": [pin_json(p) for p in view.pins],
        "refusals": refusals,
        "source": provenance(machine.location),
    }
