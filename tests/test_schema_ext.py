"""Schema fragments: plugins allowing keys of their own, and nothing else."""

from __future__ import annotations

import copy

import pytest

from compat.core.diagnostics import CompatError
from compat.plugin.hookspecs import hookimpl
from compat.plugin.api import Fragment
from compat.load.schema import registry_schema
from compat.load.schema_ext import EXTENSION_POINTS, added_keys, extend_schema
from compat.testing import MINIMAL_REGISTRY, build_in_memory, registry_text

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def fragment(target="register", key="bugzilla", prop=None, ident=None):
    return {"$schema": DRAFT, "$id": ident or f"urn:test:{target}:{key}",
            "x-compat-extends": target,
            "properties": {key: prop or {"type": "string", "pattern": "^BZ-[0-9]+$"}}}


class SchemaPlugin:
    def __init__(self, *fragments, registry_fragments=()):
        self.fragments = list(fragments)
        self.registry_fragments = list(registry_fragments)

    @hookimpl
    def compat_schema_fragments(self):
        return self.fragments

    @hookimpl
    def compat_registry_fragments(self):
        return self.registry_fragments


WITH_KEY = MINIMAL_REGISTRY.replace('reset = "0x0"\n', 'reset = "0x0"\nbugzilla = "BZ-42"\n')


def test_unknown_key_fails_without_fragment():
    result = build_in_memory(WITH_KEY, builtins=False)
    assert "unknown key 'bugzilla'" in result.text()


def test_fragment_allows_its_key():
    result = build_in_memory(WITH_KEY, plugins=[("bz", SchemaPlugin(fragment()))])
    assert result.ok, result.diagnostics


def test_fragment_key_is_validated():
    bad = WITH_KEY.replace("BZ-42", "42")
    result = build_in_memory(bad, plugins=[("bz", SchemaPlugin(fragment()))])
    line = bad.splitlines().index('bugzilla = "42"') + 1
    assert f"registry.toml:{line}:" in result.text()
    assert "'bugzilla'" in result.text()


def test_other_keys_still_fail():
    text = WITH_KEY.replace('bugzilla = "BZ-42"\n', 'bugzilla = "BZ-42"\nbugzila = "x"\n')
    result = build_in_memory(text, plugins=[("bz", SchemaPlugin(fragment()))])
    assert "unknown key 'bugzila'" in result.text()
    assert "did you mean 'bugzilla'" in result.text()


def test_fragment_only_extends_its_target():
    # a register key is still unknown on a feature
    text = MINIMAL_REGISTRY.replace('[features.impl-cpu]\n', '[features.impl-cpu]\nbugzilla = "BZ-1"\n')
    result = build_in_memory(text, plugins=[("bz", SchemaPlugin(fragment()))])
    assert "unknown key 'bugzilla'" in result.text()


@pytest.mark.parametrize("target, where", [
    ("registry", 'schema-version = 1\n'),
    ("feature", '[features.impl-cpu]\n'),
    ("machine-family", '[machines.virt]\n'),
])
def test_every_table_extension_point(target, where):
    text = MINIMAL_REGISTRY.replace(where, where + 'team = "BZ-7"\n', 1)
    plugin = SchemaPlugin(fragment(target, "team"))
    assert build_in_memory(text, builtins=False).diagnostics
    result = build_in_memory(text, plugins=[("ext", plugin)])
    assert result.ok, result.diagnostics


def test_machine_version_extension_used_by_registry_fragment():
    rhel = ('[machines.rhel]\ncpu-driver = "TYPE_ARM_CPU"\nversions = [\n'
            '  { version = "10.0.0", min-kernel = "6.12", release = "BZ-10" },\n]\n')
    plugin = SchemaPlugin(fragment("machine-version", "release"),
                          registry_fragments=[Fragment("rhel.toml", text=rhel)])
    assert build_in_memory(MINIMAL_REGISTRY, plugins=[("rhel", plugin)]).ok
    # without the schema fragment, the registry fragment is rejected, in its own file
    bare = SchemaPlugin(registry_fragments=[Fragment("rhel.toml", text=rhel)])
    result = build_in_memory(MINIMAL_REGISTRY, plugins=[("rhel", bare)])
    assert "rhel.toml:4:" in result.text() and "unknown key 'release'" in result.text()


def test_fragment_refs_resolve_locally_and_to_base():
    frag = {"$schema": DRAFT, "$id": "urn:test:refs", "x-compat-extends": "register",
            "$defs": {"ticket": {"type": "string", "pattern": "^T[0-9]+$"}},
            "properties": {"ticket": {"$ref": "#/$defs/ticket"},
                           "mask2": {"$ref": "urn:compat:schema:registry:1#/$defs/u64"}}}
    good = MINIMAL_REGISTRY.replace('reset = "0x0"\n', 'reset = "0x0"\nticket = "T1"\nmask2 = "0xff"\n')
    assert build_in_memory(good, plugins=[("t", SchemaPlugin(frag))]).ok
    bad = good.replace('"T1"', '"X1"')
    assert "'ticket'" in build_in_memory(bad, plugins=[("t", SchemaPlugin(frag))]).text()


def test_base_schema_not_modified():
    base = registry_schema()
    before = copy.deepcopy(base)
    extended = extend_schema(base, [("p", [fragment()])])
    assert base == before
    assert added_keys(extended) == {"register": ["bugzilla"]}
    assert added_keys(base) == {}


@pytest.mark.parametrize("bad, message", [
    ({**fragment(), "$id": None}, "not valid JSON Schema"),
    ({k: v for k, v in fragment().items() if k != "$id"}, "has no '$id'"),
    ({**fragment(), "x-compat-extends": "cpu"}, "'x-compat-extends' must be one of"),
    ({k: v for k, v in fragment().items() if k != "x-compat-extends"}, "'x-compat-extends'"),
    ({**fragment(), "properties": {}}, "'properties' must name"),
    ({**fragment(), "properties": {"x": {"type": "no-such-type"}}}, "not valid JSON Schema"),
    ({**fragment(), "$schema": "http://json-schema.org/draft-07/schema#"}, "declares $schema"),
    (fragment(key="description"), "already defines"),
    (fragment(key="Bad_Key"), "not a valid registry key"),
    (["not", "a", "dict"], "must be a JSON object"),
])
def test_bad_fragments_are_rejected(bad, message):
    with pytest.raises(CompatError) as info:
        extend_schema(registry_schema(), [("myplugin", [bad])])
    text = info.value.format()
    assert "myplugin" in text
    assert message in text


def test_duplicate_id_and_key_across_plugins():
    with pytest.raises(CompatError, match="already used by plugin 'a'"):
        extend_schema(registry_schema(), [("a", [fragment()]), ("b", [fragment(key="other",
                                                                               ident="urn:test:register:bugzilla")])])
    with pytest.raises(CompatError, match="which plugin 'a' already defines"):
        extend_schema(registry_schema(), [("a", [fragment()]),
                                          ("b", [fragment(ident="urn:test:other")])])
    with pytest.raises(CompatError, match="already used by the base schema"):
        extend_schema(registry_schema(), [("a", [fragment(ident="urn:compat:schema:registry:1")])])


def test_extension_points_exist_in_base():
    schema = registry_schema()
    for path in EXTENSION_POINTS.values():
        node = schema
        for part in path:
            node = node[part]
        assert node.get("additionalProperties") is False
        assert "properties" in node


def test_plugin_error_in_build_names_plugin():
    result = build_in_memory(registry_text(), plugins=[("broken", SchemaPlugin({"$id": 3}))])
    assert "plugin 'broken'" in result.text()


def test_fragment_pattern_does_not_pass_a_trailing_newline():
    """A plugin's ``^...$`` pattern means the whole string, as in the base schema."""
    bad = WITH_KEY.replace('"BZ-42"', '"BZ-42\\n"')
    result = build_in_memory(bad, plugins=[("bz", SchemaPlugin(fragment()))])
    assert not result.ok and "'bugzilla'" in result.text()


@pytest.mark.parametrize("ref", ["https://example.com/s.json", "file:///etc/passwd",
                                 "urn:other:thing#/x"])
def test_fragment_remote_ref_is_refused_naming_the_plugin(ref):
    frag = fragment(prop={"$ref": ref})
    result = build_in_memory(WITH_KEY, plugins=[("bz", SchemaPlugin(frag))])
    assert not result.ok
    assert "bz" in result.text() and "$ref" in result.text(), result.text()
