"""Registry fragments from plugins: merge, conflicts, and located diagnostics."""

from __future__ import annotations

import pytest

from compat.plugin.hookspecs import hookimpl
from compat.plugin.api import Fragment
from compat.testing import MINIMAL_REGISTRY, build_in_memory, make_host, registry_text
from compat.load import pipeline as build

TCR2 = """\
[registers.TCR2_EL1]
description = "Extended Translation Control Register (FEAT_TCRX)."
encoding = { group = "sysreg", op0 = 3, op1 = 0, crn = 2, crm = 0, op2 = 3 }
index = "0x603000000013c103"
reset = "0x0"
changes = [
  { kernel = "6.13", change = "gated", cpu-feature = "FEAT_TCRX", commit = "0fcb4eea5345" },
]
compat = "tolerate-missing"
safe-because = "A guest without FEAT_TCRX cannot access TCR2_EL1."
"""

RHEL = """\
# RHEL machine types
[machines.rhel]
cpu-driver = "TYPE_ARM_CPU"
versions = [
  { version = "10.0.0", min-kernel = "6.12", qemu = "9.1" },
]
"""


class FragmentPlugin:
    """A plugin that contributes the given fragments."""

    def __init__(self, *fragments):
        self.fragments = list(fragments)

    @hookimpl
    def compat_registry_fragments(self):
        return self.fragments


def load(text=MINIMAL_REGISTRY, **plugins):
    host = make_host(*plugins.items(), builtins=False)
    return build.load_text(text, "registry.toml", host=host)


def error_text(text=MINIMAL_REGISTRY, **plugins) -> str:
    result = build_in_memory(text, plugins=list(plugins.items()), builtins=False)
    assert not result.ok, "expected an error"
    return result.text()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_fragment_adds_register_with_its_own_location():
    loaded = load(extra=FragmentPlugin(Fragment("tcr2.toml", text=TCR2)))
    reg = loaded.registry.registers["TCR2_EL1"]
    assert reg.location.file == "tcr2.toml"
    assert reg.location.line == 1
    rules = loaded.derivation.for_machine("virt-10.1")
    assert "TCR2_EL1" in {r.register.name for r in rules.tolerated}
    # The main registry's own entries keep their locations.
    main = loaded.registry.registers["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]
    assert main.location.file == "registry.toml"
    assert main.location.line == line_of(MINIMAL_REGISTRY, "[registers.KVM_REG_ARM_VENDOR")


def test_fragment_adds_machine_family():
    loaded = load(rhel=FragmentPlugin(Fragment("rhel.toml", text=RHEL)))
    names = [m.name for m in loaded.registry.machine_versions()]
    assert "rhel-10.0.0" in names and "virt-10.1" in names
    version = loaded.registry.find_machine("rhel-10.0.0")
    assert str(version.min_kernel) == "6.12"
    assert version.location.file == "rhel.toml"
    assert version.location.line == 5
    assert loaded.derivation.for_machine("rhel-10.0.0").hidden


def test_data_fragment():
    data = {"machines": {"rhel": {"cpu-driver": "TYPE_ARM_CPU",
                                  "versions": [{"version": "9.6.0", "min-kernel": "6.6"}]}}}
    loaded = load(rhel=FragmentPlugin(Fragment("rhel-data", data=data)))
    assert loaded.registry.find_machine("rhel-9.6.0").location.file == "rhel-data"
    assert data["machines"]["rhel"]["versions"] == [{"version": "9.6.0", "min-kernel": "6.6"}]


def test_version_added_to_existing_family_is_ordered():
    frag = '[machines.virt]\ncpu-driver = "TYPE_ARM_CPU"\nversions = [\n' \
           '  { version = "10.0.5", min-kernel = "6.6" },\n  { version = "9.2", min-kernel = "6.1" },\n]\n'
    loaded = load(old=FragmentPlugin(Fragment("old.toml", text=frag)))
    virt = [m.name for m in loaded.registry.machine_versions() if m.family == "virt"]
    assert virt.index("virt-10.1") < virt.index("virt-10.0.5") < virt.index("virt-10.0") \
        < virt.index("virt-9.2")
    assert loaded.registry.find_machine("virt-9.2").location.file == "old.toml"
    assert loaded.registry.find_machine("virt-9.2").location.line == 5
    assert loaded.registry.find_machine("virt-10.0").location.file == "registry.toml"


def test_conflicting_register_names_both_sources():
    text = registry_text(extra=TCR2)
    other = TCR2.replace('reset = "0x0"', 'reset = "0x1"')
    err = error_text(text, rhel=FragmentPlugin(Fragment("rhel.toml", text="\n\n" + other)))
    assert f"registry.toml:{line_of(text, '[registers.TCR2_EL1]')}:1" in err
    assert "rhel.toml:3:1" in err
    assert "register 'TCR2_EL1' is defined twice" in err
    assert "'reset'" in err


def test_identical_register_is_deduplicated():
    text = registry_text(extra=TCR2)
    loaded = load(text, rhel=FragmentPlugin(Fragment("rhel.toml", text=TCR2)))
    reg = loaded.registry.registers["TCR2_EL1"]
    assert reg.location.file == "registry.toml"


def test_same_machine_version_twice_is_an_error():
    frag = '[machines.virt]\ncpu-driver = "TYPE_ARM_CPU"\nversions = [\n' \
           '  { version = "10.1", min-kernel = "6.12" },\n]\n'
    err = error_text(dup=FragmentPlugin(Fragment("dup.toml", text=frag)))
    assert "machine type 'virt-10.1' is defined twice" in err
    line = line_of(MINIMAL_REGISTRY, '  { version = "10.1"')
    assert f"registry.toml:{line}:" in err
    assert "dup.toml:4:" in err


def test_machine_version_from_two_plugins_names_both():
    frag = Fragment("a.toml", text=RHEL)
    err = error_text(zeta=FragmentPlugin(Fragment("z.toml", text=RHEL)), alpha=FragmentPlugin(frag))
    # plugins merge in name order: alpha first, so zeta's is the duplicate
    assert "by plugin 'alpha' (a.toml:5:3) and by plugin 'zeta' (z.toml:5:3)" in err
    assert "plugin 'zeta' (z.toml:" in err


def test_family_attribute_conflict():
    frag = '[machines.virt]\ncpu-driver = "TYPE_OTHER_CPU"\nversions = [\n' \
           '  { version = "9.2", min-kernel = "6.1" },\n]\n'
    err = error_text(x=FragmentPlugin(Fragment("x.toml", text=frag)))
    assert "'cpu-driver' of machine family 'virt' is defined twice" in err
    assert "x.toml:2:1" in err


def test_conflicting_feature():
    frag = '[features.impl-cpu]\ndescription = "Something else."\n' \
           'writes = { register = "KVM_REG_ARM_VENDOR_HYP_BMAP_2", value = "0x1" }\n'
    err = error_text(f=FragmentPlugin(Fragment("feat.toml", text=frag)))
    assert "feature 'impl-cpu' is defined twice" in err
    assert f"registry.toml:{line_of(MINIMAL_REGISTRY, '[features.impl-cpu]')}:1" in err
    assert "feat.toml:1:1" in err


def test_schema_error_points_into_fragment():
    bad = RHEL.replace('min-kernel = "6.12"', 'min-kernel = "six"')
    err = error_text(rhel=FragmentPlugin(Fragment("rhel.toml", text=bad)))
    assert "rhel.toml:5:" in err and "min-kernel" in err
    assert "registry.toml:" not in err.replace("registry.toml: error", "")


def test_unknown_key_in_fragment_is_located():
    bad = TCR2.replace('reset = "0x0"', 'reset = "0x0"\nrest = "0x0"')
    err = error_text(x=FragmentPlugin(Fragment("tcr2.toml", text=bad)))
    assert "tcr2.toml:6:1: error: unknown key 'rest'" in err
    assert "did you mean 'reset'" in err


def test_semantic_error_points_into_fragment():
    bad = TCR2.replace('index = "0x603000000013c103"', 'index = "0x603000000013c104"')
    err = error_text(x=FragmentPlugin(Fragment("tcr2.toml", text=bad)))
    assert "tcr2.toml:4:" in err


def test_toml_syntax_error_in_fragment():
    err = error_text(x=FragmentPlugin(Fragment("broken.toml", text="[machines.rhel\n")))
    assert "broken.toml:1:" in err and "TOML syntax" in err


def test_fragment_may_not_choose_plugins_or_outputs():
    err = error_text(x=FragmentPlugin(Fragment("p.toml", text='plugins = ["evil"]\n')))
    assert "p.toml:1:1" in err and "may not set 'plugins'" in err


@pytest.mark.parametrize("fragments, message", [
    ("not a list", "must return a list of Fragment"),
    (["text"], "not compat.plugin.api.Fragment"),
    ([Fragment("both", text="", data={})], "exactly one of 'text' and 'data'"),
    ([Fragment("none")], "exactly one of 'text' and 'data'"),
    ([Fragment("", text="")], "needs a name"),
])
def test_bad_fragment_results_name_the_plugin(fragments, message):
    class Bad:
        @hookimpl
        def compat_registry_fragments(self):
            return fragments

    err = error_text(badplugin=Bad())
    assert "badplugin" in err
    assert message in err


def test_merge_is_independent_of_registration_order():
    a = FragmentPlugin(Fragment("a.toml", text=RHEL))
    b = FragmentPlugin(Fragment("b.toml", text=TCR2))
    one = build_in_memory(MINIMAL_REGISTRY, plugins=[("a", a), ("b", b)])
    two = build_in_memory(MINIMAL_REGISTRY, plugins=[("b", b), ("a", a)])
    assert one.ok, one.diagnostics
    assert one.files == two.files
    assert "arm_rhel_kernel_compat_10_0_0" in one.files["arm-virt-kernel-compat.c.inc"]


def test_no_fragments_keeps_document():
    loaded = load()
    assert loaded.registry.registers["KVM_REG_ARM_VENDOR_HYP_BMAP_2"].location.file == "registry.toml"
