"""The folder tree is the import tree: each top-level unit of compat imports
only from units on lower layers (docs/architecture.md)."""

from __future__ import annotations

import ast

import pytest

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


def _targets(module: str, is_package: bool, tree: ast.AST):
    """Every compat unit ``module``'s source imports: ``import compat.x``,
    ``from compat.x import y``, ``from compat import x`` and relative imports
    (``from ..x import y``, ``from . import y``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else [])
            base = ".".join(base + ([node.module] if node.module else []))
            # `from compat import output` imports the unit compat.output
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            unit = _unit(name)
            if unit in LAYERS:
                yield unit


def _imports():
    for root, package in ((ROOT / "compat", "compat"), (ROOT / "plugins", "compat.plugins")):
        for path in sorted(root.rglob("*.py")):
            module = ".".join((package, *path.relative_to(root).with_suffix("").parts))
            is_package = module.endswith(".__init__")
            module = module.removesuffix(".__init__")
            source = _unit(module)
            tree = ast.parse(path.read_text(), str(path))
            for unit in _targets(module, is_package, tree):
                if source and unit != source:
                    yield path.relative_to(ROOT), source, unit


@pytest.mark.parametrize("module,is_package,source,units", [
    ("compat.core.x", False, "import compat.qemu.chain", {"qemu"}),
    ("compat.core.x", False, "from compat.qemu import chain", {"qemu"}),
    ("compat.core.x", False, "from compat import output, __version__", {"output"}),
    ("compat.core.x", False, "from ..qemu import chain", {"qemu"}),
    ("compat.core.x", False, "from .. import load", {"load"}),
    ("compat.core.x", False, "from . import codec", {"core"}),
    ("compat.core", True, "from .codec import sysreg", {"core"}),
    ("compat.core", True, "from ..analysis import reglist", {"analysis"}),
    ("compat.plugins.docs.md", False, "from ...core import text", {"core"}),
    ("compat.plugins.docs.md", False, "from .writer import x", {"plugins"}),
    ("compat.core.x", False, "import os\nfrom pathlib import Path", set()),
])
def test_every_spelling_of_an_import_is_seen(module, is_package, source, units):
    assert set(_targets(module, is_package, ast.parse(source))) == units


def test_every_unit_has_a_layer():
    units = {p.name.removesuffix(".py") for p in (ROOT / "compat").iterdir()
             if p.suffix == ".py" and p.name != "__init__.py"
             or (p / "__init__.py").is_file()} | {"plugins"}
    assert units == set(LAYERS), units ^ set(LAYERS)


def test_no_import_runs_upward_or_sideways():
    bad = [f"{path}: {source} (layer {LAYERS[source]}) imports {unit} (layer {LAYERS[unit]})"
           for path, source, unit in _imports() if LAYERS[unit] >= LAYERS[source]]
    assert not bad, "\n".join(bad)
