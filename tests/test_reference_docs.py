"""The reference documentation stays true: generated, complete, runnable."""

from __future__ import annotations

import inspect
import re

import pytest

from compat.plugin import hookspecs
from compat.load import schema_doc
from compat.load.schema import registry_schema
from conftest import ROOT

DOCS = ROOT / "docs"


def hook_names() -> list[str]:
    return sorted(name for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
                  if name.startswith("compat_") and hasattr(func, "compat_spec"))


# -- registry-format.md ----------------------------------------------------------
def test_registry_format_is_current():
    """Fails when the schema changed without regenerating the document."""
    current = (DOCS / "registry-format.md").read_text(encoding="utf-8")
    assert current == schema_doc.render(registry_schema()), (
        f"docs/registry-format.md is stale; run: {schema_doc.REGENERATE}")


def test_registry_format_covers_every_key():
    text = (DOCS / "registry-format.md").read_text(encoding="utf-8")
    schema = registry_schema()
    nodes = [schema] + [schema["$defs"][d] for d, *_ in schema_doc.SECTIONS if d]
    for node in nodes:
        for key in node["properties"]:
            assert f"| `{key}` |" in text, key
    for group in schema["$defs"]["encoding"]["properties"]["group"]["enum"]:
        assert f"`{group}`" in text


def test_generator_check_mode(tmp_path):
    target = tmp_path / "format.md"
    assert schema_doc.main(["--check", "--output", str(target)]) == 1
    assert schema_doc.main(["--write", "--output", str(target)]) == 0
    assert schema_doc.main(["--check", "--output", str(target)]) == 0
    target.write_text(target.read_text() + "edited\n")
    assert schema_doc.main(["--check", "--output", str(target)]) == 1


def test_generator_follows_schema_changes():
    schema = registry_schema()
    changed = {**schema, "properties": {**schema["properties"],
                                        "owner": {"type": "string", "description": "Who."}}}
    assert "| `owner` | string | no | Who. |" in schema_doc.render(changed)
    assert schema_doc.render(changed) != schema_doc.render(schema)


# -- hooks.md ---------------------------------------------------------------------
def test_hookspecs_found():
    assert set(hook_names()) >= {"compat_schema_fragments", "compat_registry_fragments",
                                 "compat_validate", "compat_outputs", "compat_render_output"}


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "When:" in doc, f"{hook} docstring lacks a 'When:' paragraph"
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (\S+)\s*$", text, re.M)
    assert hook in sections, f"docs/hooks.md has no '## {hook}' section"
    body = text.split(f"\n## {hook}\n", 1)[1].split("\n## ", 1)[0]
    assert "When:" in body, f"the {hook} section of docs/hooks.md does not say when it runs"
    assert f"def {hook}(" in body, f"the {hook} section of docs/hooks.md shows no signature"


def test_hooks_md_documents_no_missing_hook():
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    documented = {s for s in re.findall(r"^## (compat_\w+)\s*$", text, re.M)}
    assert documented == set(hook_names())


# -- plugin-tutorial.md -----------------------------------------------------------
def tutorial_blocks() -> list[str]:
    text = (DOCS / "plugin-tutorial.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def test_tutorial_runs(capsys):
    blocks = tutorial_blocks()
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "plugin_tutorial"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"docs/plugin-tutorial.md (python block {number})", "exec")
        exec(code, namespace)  # noqa: S102 - the tutorial is ours
    out = capsys.readouterr().out
    assert "virt-10.1,6.12,KVM_REG_ARM_VENDOR_HYP_BMAP_2" in out
    assert "sbsa" not in out


def test_tutorial_plugin_is_real():
    """The tutorial's functions are proper pluggy hook implementations."""
    namespace: dict = {"__name__": "plugin_tutorial"}
    for block in tutorial_blocks()[:2]:
        exec(compile(block, "tutorial", "exec"), namespace)  # noqa: S102
    assert hasattr(namespace["compat_outputs"], "compat_impl")
    assert hasattr(namespace["compat_render_output"], "compat_impl")


# -- meson.md -----------------------------------------------------------------------
def test_meson_doc_matches_outputs():
    from compat.testing import build_in_memory
    text = (DOCS / "meson.md").read_text(encoding="utf-8")
    files = build_in_memory((ROOT / "registry.toml").read_text()).files
    assert len(files) == 8
    target = text.split("custom_target('arm-kvm-compat'", 1)[1].split("\n)", 1)[0]
    listed = re.findall(r"'([\w.-]+\.[\w.]+)'", target.split("output:", 1)[1].split("]", 1)[0])
    assert listed == sorted(files)
    for word in ("'build'", "'-r'", "'@INPUT@'", "'-o'", "'@OUTDIR@'", "'--depfile'",
                 "'@DEPFILE@'", "depfile: 'arm-kvm-compat.d'"):
        assert word in target
    assert "--check" in text
