"""compat.testing: the helpers plugin authors use."""

from __future__ import annotations

import types

from compat.load import pipeline as build
from compat.plugin.hookspecs import hookimpl
from compat.plugin.api import OutputSpec
from compat.testing import (MINIMAL_REGISTRY, BuildResult, build_in_memory, make_host,
                            plugin_name, registry_text)


class Hello:
    NAME = "hello"

    @hookimpl
    def compat_outputs(self):
        return [OutputSpec("hello", ("hello.txt",), "greets every machine type", default=False)]

    @hookimpl
    def compat_render_output(self, name, context):
        names = [m.name for m in context.registry.machine_versions()]
        return {"hello.txt": "\n".join(f"hello {n}" for n in names)}


def test_minimal_registry_is_valid():
    loaded = build.load_text(MINIMAL_REGISTRY)
    assert [m.name for m in loaded.registry.machine_versions()] == ["virt-10.1", "virt-10.0"]
    assert set(loaded.registry.registers) == {"KVM_REG_ARM_VENDOR_HYP_BMAP_2"}


def test_registry_text_header_and_extra():
    text = registry_text(header='outputs = ["guards"]', extra='[machines.sbsa]\n'
                         'cpu-driver = "TYPE_ARM_CPU"\n'
                         'versions = [{ version = "10.1", min-kernel = "6.12" }]')
    loaded = build.load_text(text)
    assert loaded.registry.outputs == ("guards",)
    assert loaded.registry.find_machine("sbsa-10.1") is not None


def test_make_host_names_and_builtins():
    host = make_host(Hello(), ("other", Hello()))
    assert {"hello", "other", "compat-props"} <= set(host.plugins)
    assert host.plugins["hello"].source == "inline"
    assert set(make_host(Hello(), builtins=False).plugins) == {"hello"}
    module = types.ModuleType("acme.compat_extra")
    assert plugin_name(module) == "compat-extra"


def test_build_in_memory_files():
    result = build_in_memory(MINIMAL_REGISTRY, plugins=[Hello()], only=["hello"])
    assert isinstance(result, BuildResult) and result.ok
    assert result.files == {"hello.txt": "hello virt-10.1\nhello virt-10.0\n"}
    everything = build_in_memory(MINIMAL_REGISTRY, plugins=[Hello()])
    assert "hello.txt" not in everything.files           # not a default output
    assert "arm-virt-kernel-compat.c.inc" in everything.files


def test_build_in_memory_returns_diagnostics():
    result = build_in_memory(MINIMAL_REGISTRY.replace('"6.12"', '"6.1x"'))
    assert not result.ok and result.files == {}
    assert result.diagnostics[0].startswith("registry.toml: In machine type 'virt-10.1':")
    assert "registry.toml:6:" in result.text()
    bad_output = build_in_memory(MINIMAL_REGISTRY, only=["nope"])
    assert "unknown output 'nope'" in bad_output.text()
    missing = build_in_memory(MINIMAL_REGISTRY, entry_points=["no-such-plugin"])
    assert "unknown plugin 'no-such-plugin'" in missing.text()


def test_build_in_memory_reports_plugin_bugs():
    class Crash(Hello):
        NAME = "crash"

        @hookimpl
        def compat_render_output(self, name, context):
            raise RuntimeError("boom")

    result = build_in_memory(MINIMAL_REGISTRY, plugins=[Crash()], only=["hello"])
    assert "plugin 'crash' failed in compat_render_output: RuntimeError: boom" in result.text()


def test_pytest_plugin_fixtures(pytester):
    """A plugin author's test suite, run by pytest (in this process, as
    pytester does): ``compat.testing``'s fixtures load and build."""
    pytester.makeconftest('pytest_plugins = ["compat.testing"]\n')
    pytester.makepyfile(test_it=
        "def test_fixtures(compat_registry, compat_build):\n"
        "    result = compat_build(compat_registry, only=['guards'])\n"
        "    assert result.ok, result.diagnostics\n"
        "    assert sorted(result.files) == ['arm-compat-guards.c.inc', 'arm-compat-guards.h']\n")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_plugin_cannot_change_the_registry_other_outputs_read():
    """A render hook that empties the registry fails, naming the plugin;
    registry.json is not built from an emptied model."""
    class Vandal(Hello):
        NAME = "vandal"

        @hookimpl
        def compat_render_output(self, name, context):
            context.registry.registers.clear()

    result = build_in_memory(MINIMAL_REGISTRY, plugins=[Vandal()], only=["hello"])
    assert "plugin 'vandal' failed in compat_render_output" in result.text()
    assert not result.files
    loaded = build.load_text(MINIMAL_REGISTRY)
    for mutate in (lambda r: r.features.clear(), lambda r: r.machines.pop("virt"),
                   lambda r: r.data["registers"].clear(),
                   lambda r: r.data["machines"]["virt"]["versions"].append({}),
                   lambda r: setattr(r, "outputs", ())):
        try:
            mutate(loaded.registry)
        except (TypeError, AttributeError):
            continue
        raise AssertionError("the registry model changed")
