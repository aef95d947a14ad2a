"""Helpers for testing compat plugins (and compat itself) without touching disk.

Typical use in a plugin's test suite::

    from compat.testing import MINIMAL_REGISTRY, build_in_memory

    def test_my_output():
        result = build_in_memory(MINIMAL_REGISTRY, plugins=[my_plugin], only=["my-output"])
        assert result.ok, result.diagnostics
        assert "virt-10.1" in result.files["my-output.txt"]

or, as a pytest plugin (``pytest_plugins = ["compat.testing"]`` in a
``conftest.py``), with the fixtures :func:`compat_registry` (the minimal
registry text) and :func:`compat_build` (:func:`build_in_memory`).

Plugins given to :func:`make_host` / :func:`build_in_memory` are modules or
objects with ``@hookimpl`` functions, or ``(name, plugin)`` pairs; a plugin
without a pair is named after its ``NAME`` attribute, else its module's last
dotted component, else its class name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Iterable

from compat.core.diagnostics import CompatError
from compat.plugin.host import PluginHost

#: A small valid registry: one machine family (virt-10.1 on Linux >= 6.12,
#: virt-10.0 on Linux >= 6.6), one register hidden on both, one feature.
MINIMAL_REGISTRY = """\
schema-version = 1

[machines.virt]
cpu-driver = "TYPE_ARM_CPU"
versions = [
  { version = "10.1", min-kernel = "6.12" },
  { version = "10.0", min-kernel = "6.6" },
]

[features.impl-cpu]
description = "Target implementation CPUs."
writes = { register = "KVM_REG_ARM_VENDOR_HYP_BMAP_2", value = "0x3" }

[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]
description = "Firmware pseudo-register: vendor hypervisor services bitmap 2."
encoding = { group = "fw-feat-bmap", number = 3 }
index = "0x6030000000160003"
reset = "0x0"
changes = [
  { kernel = "6.15", change = "added", commit = "c0000e58c74e" },
]
compat = "hide"
safe-when = { mask = "0xffffffffffffffff", value = "0x0" }
used-by = ["impl-cpu"]
"""


def registry_text(*, extra: str = "", header: str = "") -> str:
    """:data:`MINIMAL_REGISTRY` with ``header`` TOML lines inserted right after
    ``schema-version`` (top-level keys such as ``plugins = ["x"]``) and
    ``extra`` TOML appended at the end (more tables)."""
    text = MINIMAL_REGISTRY
    if header:
        first, rest = text.split("\n", 1)
        text = f"{first}\n{header.rstrip()}\n{rest}"
    if extra:
        text = text + "\n" + extra.strip("\n") + "\n"
    return text


def plugin_name(plugin: Any) -> str:
    """The name :func:`make_host` registers ``plugin`` under."""
    name = getattr(plugin, "NAME", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(plugin, ModuleType):
        return plugin.__name__.rsplit(".", 1)[-1].replace("_", "-")
    return type(plugin).__name__


def make_host(*plugins: Any, builtins: bool = True) -> PluginHost:
    """A :class:`PluginHost` with the built-ins (unless ``builtins=False``)
    and ``plugins`` registered inline (version ``"0"``, source ``"inline"``)."""
    host = PluginHost.create(builtins=builtins)
    for item in plugins:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, plugin = item
        else:
            name, plugin = plugin_name(item), item
        host.register(plugin, name)
    return host


@dataclass
class BuildResult:
    """What :func:`build_in_memory` produced: files or diagnostics, never both."""

    files: dict[str, str] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the build succeeded."""
        return not self.diagnostics

    def text(self) -> str:
        """The diagnostics as ``compat`` prints them (one block per problem)."""
        return "\n".join(self.diagnostics)


def build_in_memory(text: str, plugins: Iterable[Any] = (), only: Iterable[str] | None = None,
                    *, name: str = "registry.toml", builtins: bool = True,
                    entry_points: Iterable[str] = ()) -> BuildResult:
    """Load ``text`` with ``plugins`` (see :func:`make_host`), render ``only``
    (else the registry's ``outputs``, else every default output) and return
    ``{path: text}``.  Never raises :class:`CompatError`: its diagnostics are
    returned as formatted strings (``registry.toml:3:1: error: ...``).
    ``entry_points`` names installed third-party plugins to load too."""
    from compat.load import pipeline as build

    try:
        host = make_host(*plugins, builtins=builtins)
        loaded = build.load_text(text, name, entry_points, host=host)
        files = build.render(loaded, build.select_outputs(loaded, list(only) if only else None))
    except CompatError as exc:
        return BuildResult({}, [_format(d) for d in exc.diagnostics])
    return BuildResult(files, [])


def _format(diagnostic: Any) -> str:
    render = getattr(diagnostic, "render", None) or getattr(diagnostic, "format", None)
    if callable(render):
        try:
            return str(render())
        except TypeError:
            pass
    return str(diagnostic)


# -- pytest plugin (fixtures only when pytest is installed) -----------------------
try:
    import pytest
except ImportError:  # pragma: no cover - compat itself does not need pytest
    pass
else:
    @pytest.fixture
    def compat_registry() -> str:
        """The text of :data:`MINIMAL_REGISTRY` (a valid registry)."""
        return MINIMAL_REGISTRY

    @pytest.fixture
    def compat_build():
        """:func:`build_in_memory`, as a fixture."""
        return build_in_memory
