"""Where the bundled registry and schema live, installed or in a checkout.

An installed compat carries them in ``compat/data/`` (``setup.py`` copies
them there); a checkout keeps them at its top level.  This module is the one
place that knows both, and the one place that picks the default registry.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _data_file(relative: str) -> Path:
    installed = resources.files("compat").joinpath("data", *relative.split("/"))
    if installed.is_file():
        return Path(os.fspath(installed))
    return _CHECKOUT / relative


def bundled_registry() -> Path:
    """The curated ``registry.toml`` that ships with compat."""
    return _data_file("registry.toml")


def schema_path() -> Path:
    """The JSON Schema of registry format version 1."""
    return _data_file("schemas/registry.schema.json")


def samples_dir() -> Path:
    """The folder of bundled sample register lists and their README
    (``compat/data/samples``, installed and in a checkout alike)."""
    return Path(os.fspath(resources.files("compat").joinpath("data", "samples")))


def local_registry(cwd: Path | None = None) -> Path | None:
    """``./registry.toml`` if there is one (the registry a command may write)."""
    if cwd is None:
        try:
            cwd = Path.cwd()
        except OSError:  # the working directory was deleted: there is no ./registry.toml
            return None
    local = cwd / "registry.toml"
    return local if local.is_file() else None


def default_registry(cwd: Path | None = None) -> tuple[Path, str]:
    """The registry a command reads when ``-r`` is not given:
    ``./registry.toml`` if present, else the bundled one; with its display name."""
    local = local_registry(cwd)
    if local is not None:
        return local, "registry.toml"
    return bundled_registry(), "<bundled>/registry.toml"


def compat_module_files() -> list[Path]:
    """The source files of every compat module loaded so far (the model,
    the derivation, the built-in plugins, the writers...): what shapes the
    generated files, for ``build --depfile``."""
    import sys
    files = set()
    for name, module in list(sys.modules.items()):
        if name == "compat" or name.startswith("compat."):
            found = getattr(module, "__file__", None)
            if found and Path(found).is_file():
                files.add(Path(found).resolve())
    return sorted(files)
