"""The folder tree is the import tree: each top-level unit of compat imports
only from units on lower layers (docs/architecture.md)."""

from __future__ import annotations

import ast

from conftest import ROOT

#: unit -> layer; a unit may import units of a lower layer only.
#: ``collector`` is copied as-is into the lab's guest: on layer 1 beside
#: ``core`` it can import nothing from compat.
LAYERS = {
    "core": 1, "collector": 1,
    "qemu": 2, "output": 2,
    "analysis": 3, "plugin": 3,
    "load": 4, "plugins": 4, "lab": 4,
    "commands": 5, "testing": 5,
    "cli": 6, "__main__": 7,
}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "compat" or len(parts) < 2:
        return None
    return "plugins" if parts[1] == "plugins" else parts[1]


def _imports():
    for root, package in ((ROOT / "compat", "compat"), (ROOT / "plugins", "compat.plugins")):
        for path in sorted(root.rglob("*.py")):
            module = ".".join((package, *path.relative_to(root).with_suffix("").parts))
            source = _unit(module.removesuffix(".__init__"))
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                           else [a.name for a in node.names] if isinstance(node, ast.Import)
                           else [])
                for target in targets:
                    unit = _unit(target)
                    if unit and source and unit != source:
                        yield path.relative_to(ROOT), source, unit


def test_every_unit_has_a_layer():
    units = {p.name.removesuffix(".py") for p in (ROOT / "compat").iterdir()
             if p.suffix == ".py" and p.name != "__init__.py"
             or (p / "__init__.py").is_file()} | {"plugins"}
    assert units == set(LAYERS), units ^ set(LAYERS)


def test_no_import_runs_upward_or_sideways():
    bad = [f"{path}: {source} (layer {LAYERS[source]}) imports {unit} (layer {LAYERS[unit]})"
           for path, source, unit in _imports() if LAYERS[unit] >= LAYERS[source]]
    assert not bad, "\n".join(bad)
