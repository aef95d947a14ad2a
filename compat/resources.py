"""Where the bundled registry and schema live, installed or in a checkout."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _data_file(package: str, name: str, checkout_relative: str) -> Path:
    try:
        candidate = resources.files(package) / name
        if candidate.is_file():
            return Path(os.fspath(candidate))
    except (ModuleNotFoundError, TypeError):
        pass
    return _CHECKOUT / checkout_relative


def bundled_registry() -> Path:
    """The curated ``registry.toml`` that ships with compat."""
    return _data_file("compat.data", "registry.toml", "registry.toml")


def schema_path() -> Path:
    """The JSON Schema of registry format version 1."""
    return _data_file("compat.data.schemas", "registry.schema.json",
                      "schemas/registry.schema.json")


def default_registry(cwd: Path | None = None) -> tuple[Path, str]:
    """``./registry.toml`` if present, else the bundled one; with its display name."""
    local = (cwd or Path.cwd()) / "registry.toml"
    if local.is_file():
        return local, "registry.toml"
    return bundled_registry(), "<bundled>/registry.toml"
