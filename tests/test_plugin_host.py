"""The plugin host follows pluggy: only ``@hookimpl`` functions are hooks,
each must name a real hook, and compat calls the implementations pluggy
registered, sorted by plugin name."""

from __future__ import annotations

import types

import pytest

from compat.core.diagnostics import CompatError
from compat.plugin import OutputSpec, hookimpl
from compat.plugin.host import PluginHost
from compat.testing import MINIMAL_REGISTRY, build_in_memory, make_host
from conftest import ROOT


def _module(name: str, **functions) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, func in functions.items():
        setattr(module, attr, func)
    return module


def test_a_misspelled_hook_is_an_error_naming_the_plugin_and_the_real_hook():
    @hookimpl
    def compat_outputz():
        return []

    host = make_host(builtins=False)
    with pytest.raises(CompatError) as info:
        host.register(_module("typo", compat_outputz=compat_outputz), "typo")
    (diagnostic,) = info.value.diagnostics
    assert "plugin 'typo'" in diagnostic.message
    assert "unknown hook 'compat_outputz'" in diagnostic.message
    assert "did you mean 'compat_outputs'" in diagnostic.message
    assert "docs/hooks.md" in diagnostic.hint
    assert "typo" not in host.plugins and host.pm.get_plugin("typo") is None


def test_a_misspelled_hook_fails_the_build_not_silently():
    @hookimpl
    def compat_validat(registry):
        raise AssertionError("never called")

    result = build_in_memory(MINIMAL_REGISTRY, [("typo", _module("t", compat_validat=compat_validat))])
    assert not result.ok
    assert "did you mean 'compat_validate'" in result.text()


def test_an_unmarked_function_is_never_called_nor_listed():
    called = []

    def compat_outputs(bogus_arg=1):  # no @hookimpl: pluggy registers nothing
        called.append(bogus_arg)
        return [OutputSpec("bogus", ("bogus.txt",), "never declared")]

    host = make_host(("plain", _module("plain", compat_outputs=compat_outputs)), builtins=False)
    assert host.plugins["plain"].hooks == []
    assert host.outputs() == {}
    assert host.call("compat_outputs") == []
    assert called == []


def test_hooks_are_listed_from_pluggy():
    def compat_validate(registry, derivation):  # unmarked: not a hook
        return []

    @hookimpl
    def compat_outputs():
        return []

    host = make_host(("mixed", _module("m", compat_outputs=compat_outputs,
                                       compat_validate=compat_validate)), builtins=False)
    assert host.plugins["mixed"].hooks == ["compat_outputs"]
    builtin = PluginHost.create()
    assert builtin.plugins["compat-props"].hooks == ["compat_outputs", "compat_render_output",
                                                     "compat_validate"]


def test_calls_run_in_plugin_name_order_whatever_the_registration_order():
    def plugin(tag):
        @hookimpl
        def compat_schema_fragments():
            return [{"tag": tag}]
        return _module(tag, compat_schema_fragments=compat_schema_fragments)

    for order in (("b", "a", "c"), ("c", "b", "a"), ("a", "c", "b")):
        host = make_host(*[(name, plugin(name)) for name in order], builtins=False)
        assert [name for name, _ in host.call("compat_schema_fragments")] == ["a", "b", "c"]


def test_a_hook_wrapper_is_refused():
    @hookimpl(wrapper=True)
    def compat_outputs():
        return (yield)

    host = make_host(builtins=False)
    with pytest.raises(CompatError, match="hook wrapper"):
        host.register(_module("w", compat_outputs=compat_outputs), "w")


def test_the_malformed_hook_hint_names_a_page_that_exists():
    @hookimpl
    def compat_validate(registry, banana):
        return []

    host = make_host(builtins=False)
    with pytest.raises(CompatError) as info:
        host.register(_module("bad", compat_validate=compat_validate), "bad")
    hint = info.value.diagnostics[0].hint
    assert "docs/hooks.md" in hint
    assert (ROOT / "docs" / "hooks.md").is_file()
    assert "docs/plugins.md" not in (ROOT / "compat" / "plugin" / "host.py").read_text()
