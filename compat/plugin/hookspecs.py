"""The plugin contract: every hook compat calls, when, and with what.

compat is a pluggy host with project name ``compat``.  A plugin is a module
or object with functions decorated by :data:`hookimpl`; built-in plugins live
in :mod:`compat.plugins`, third-party ones are found through the entry-point
group ``compat.plugins`` and are loaded for ``compat build`` only when named
(``--plugin NAME`` or the registry's ``plugins = [...]``), so installing a
package can never silently change QEMU's generated C.

Plugins *return data*; the core owns everything else: the order in which
contributions are merged (sorted by plugin name, never by registration
order), de-duplication, attributing errors to the plugin that caused them,
and writing files (a plugin never touches the file system).

Call order during ``compat build``::

    compat_schema_fragments      # once, before validation
    compat_registry_fragments    # once, before validation
    (validate + derive)
    compat_validate              # once, after derivation
    compat_outputs               # once, to list what can be built
    compat_render_output         # once per selected output, declaring plugin only
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "compat"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def compat_schema_fragments() -> "list[dict[str, Any]]":
    """Contribute JSON Schema fragments for keys of the plugin's own.

    When: once per run, before the registry is validated.

    Returns: a list of JSON Schema documents (draft 2020-12, each with its
    own ``$id``).  Each fragment is an object schema with a top-level
    ``"x-compat-extends"`` naming what it extends (``"registry"``,
    ``"register"``, ``"feature"``, ``"machine-family"`` or
    ``"machine-version"``) and ``"properties"`` for the keys it adds.  Keys
    without a schema remain errors.

    Not first-result: every plugin's fragments are used.
    """


@hookspec
def compat_registry_fragments() -> "list[Fragment]":
    """Contribute registry fragments: machine types, registers, features.

    When: once per run, before validation; fragments are validated by the
    same schema and semantic checks as ``registry.toml`` and merged into it
    in plugin-name order.  Two sources that define the same register with
    different facts, or the same machine version twice, is an error naming
    both sources; an identical register or feature from two sources is
    accepted once (the first definition keeps its location).

    Returns: a list of :class:`compat.plugin.api.Fragment` (TOML text or a
    mapping, and a display name used in error messages).

    Not first-result: every plugin's fragments are merged.
    """


@hookspec
def compat_validate(registry: "Registry", derivation: "Derivation") -> "list[Diagnostic]":
    """Check the validated, derived registry for plugin-specific rules.

    When: once per run, after the core's checks and derivation succeeded.

    Arguments: the :class:`~compat.core.model.Registry` and its
    :class:`~compat.core.derive.Derivation` (read-only).

    Returns: a list of :class:`~compat.core.diagnostics.Diagnostic`; any error
    stops the build.  Not first-result: all plugins' diagnostics are shown.
    """


@hookspec
def compat_outputs() -> "list[OutputSpec]":
    """Declare the outputs the plugin can build.

    When: once per run, before rendering; also by ``compat plugins``.

    Returns: a list of :class:`compat.plugin.api.OutputSpec` (unique name,
    the files it writes relative to the output directory, description).
    Output names must be unique across plugins.

    Not first-result: outputs of all plugins are collected.
    """


@hookspec(firstresult=True)
def compat_render_output(name: str, context: "RenderContext") -> "dict[str, Any] | None":
    """Render the output called ``name``.

    When: once per selected output; called only on the plugin that declared
    ``name`` in :func:`compat_outputs`.

    Arguments: ``name``, the output's name; ``context``, a
    :class:`compat.plugin.api.RenderContext` with the registry, the
    derivation and helpers.

    Returns: ``{relative path: file text}`` for exactly the files the
    output declared; a text may also be an iterable of ``str`` chunks,
    written as they come (docs/hooks.md).  Text must be deterministic:
    same input, same bytes.

    First-result: the declaring plugin's answer is the output.
    """
