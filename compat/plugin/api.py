"""Data types that plugins receive and return (see :mod:`compat.plugin.hookspecs`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Callable, Mapping

from compat.core.derive import Derivation
from compat.core.model import Registry
from compat.plugin.hookspecs import hookimpl
from compat.qemu.resolved import ResolvedView, resolve


@dataclass(frozen=True)
class Fragment:
    """A piece of registry contributed by a plugin.

    ``text`` is TOML in registry format (``schema-version`` may be omitted);
    alternatively ``data`` is the parsed mapping.  ``name`` identifies the
    fragment in error messages (``"rhel-machines.toml"``).
    """

    name: str
    text: str | None = None
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OutputSpec:
    """An output a plugin can build.

    ``files`` are paths relative to the output directory, with ``/`` as
    separator and no ``..``.  ``default`` says whether ``compat build``
    builds it when the registry does not list outputs.
    """

    name: str
    files: tuple[str, ...]
    description: str
    default: bool = True
    plugin: str = field(default="", compare=False)  # filled in by the host


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may read.  ``source_name`` is the registry's base
    name (never an absolute path) for provenance comments;
    ``registry.data`` is the validated document itself, including keys that
    plugins' schema fragments added.  ``memo`` is shared by every output
    of one build: a place for work several outputs need (the docs plugins
    keep their document model there), keyed by a name of the plugin's own."""

    registry: Registry
    derivation: Derivation
    output: OutputSpec
    source_name: str
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def resolved(self) -> ResolvedView:
        """The resolved view of this build (:mod:`compat.qemu.resolved`):
        every register's rule on every machine type, built once and shared
        by every output, so all of them say the same."""
        view = self.memo.get("compat:resolved")
        if view is None:
            view = self.memo["compat:resolved"] = resolve(self.registry, self.derivation)
        return view


def output_hooks(spec: OutputSpec, render: Callable[[RenderContext], dict[str, Any]]
                 ) -> tuple[Callable[[], list[OutputSpec]], Callable[..., dict[str, Any] | None]]:
    """The two hooks of a plugin that builds one output.

    ``compat_outputs`` declares ``spec``; ``compat_render_output`` calls
    ``render(context)`` for it (and returns ``None`` for other names).  Use
    at module level::

        compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)
    """
    @hookimpl
    def compat_outputs() -> list[OutputSpec]:
        return [spec]

    @hookimpl
    def compat_render_output(name: str, context: RenderContext) -> dict[str, Any] | None:
        return render(context) if name == spec.name else None

    return compat_outputs, compat_render_output


def provenance(location: Any) -> str:
    """``registry.toml:53`` for a :class:`~compat.core.diagnostics.Location`: the
    file's base name only, so generated files never carry absolute paths."""
    name = _base_name(location.file)
    return f"{name}:{location.line}" if location.line else name


@functools.lru_cache(maxsize=64)
def _base_name(file: str) -> str:
    return PurePath(file).name or file


class PluginError(Exception):
    """Raise from a hook to report a problem with a location.

    The host prefixes the plugin's name; ``location`` (a
    :class:`compat.core.diagnostics.Location`, for example a register's) says
    which part of the registry is involved.
    """

    def __init__(self, message: str, location: Any = None) -> None:
        super().__init__(message)
        self.location = location
