"""The public face of compat for plugin authors.

A plugin imports what it needs from here and nowhere else in compat
(except :mod:`compat.qemu`, QEMU's own rules, for backends that generate
QEMU code)::

    from compat.plugin import OutputSpec, RenderContext, hookimpl

What is here: the hook marker and the contract (:mod:`.hookspecs`), the data
types hooks receive and return (:mod:`.api`), the registry model and its
derivation (read-only), the resolved view every output reads its rules
from (:meth:`RenderContext.resolved`), diagnostics, index formatting and the escaping
helpers that make registry text inert in C, rST, Markdown and HTML.
Everything else in compat may change between releases.
"""

from compat.core.codec import format_index
from compat.core.derive import Derivation, MachineRules, Refusal, Rule
from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.core.model import (HIDE, TOLERATE_MISSING, Change, Feature, FeatureWrite,
                               MachineFamily, MachineVersion, Register, Registry, SafeWhen)
from compat.core.text import (GENERATED, SPDX, c_comment, c_file_header, c_string,
                              c_string_lines, html_text, md_text, one_line, rst_literal,
                              rst_text)
from compat.core.versions import Version
from compat.plugin.api import (Fragment, OutputSpec, PluginError, RenderContext,
                               output_hooks, provenance)
from compat.plugin.hookspecs import PROJECT, hookimpl
from compat.qemu.resolved import (Decision, MachineView, RefusalView, RegisterView,
                                  ResolvedView)
from compat.qemu.value_rules import Pin

__all__ = [
    # hooks
    "PROJECT", "hookimpl", "output_hooks",
    # what hooks receive and return
    "Fragment", "OutputSpec", "PluginError", "RenderContext",
    # the registry model and its derivation
    "Change", "Derivation", "Feature", "FeatureWrite", "HIDE", "MachineFamily",
    "MachineRules", "MachineVersion", "Refusal", "Register", "Registry", "Rule",
    "SafeWhen", "TOLERATE_MISSING", "Version",
    # the resolved view: every register's rule on every machine type
    # (RenderContext.resolved())
    "Decision", "MachineView", "Pin", "RefusalView", "RegisterView", "ResolvedView",
    # diagnostics
    "CompatError", "Diagnostic", "Location",
    # formatting and escaping
    "GENERATED", "SPDX", "c_comment", "c_file_header", "c_string", "c_string_lines",
    "format_index", "html_text", "md_text", "one_line", "provenance", "rst_literal",
    "rst_text",
]
