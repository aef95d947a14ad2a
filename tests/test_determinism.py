"""Outputs are a pure function of the registry's content.

Byte-identical across hash seeds and locales, across the order in which
register and feature tables are written (up to the ``file:line`` of
provenance notes, which move with the text), and across the order in which
plugins are registered.
"""

from __future__ import annotations

import importlib
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compat.load import pipeline as build
from compat.plugin.host import BUILTIN_PLUGINS, PluginHost
from conftest import BUNDLED, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gen_registry  # noqa: E402

TEXT = BUNDLED.read_text()
#: Non-ASCII text, so a locale-dependent encoding would show.
UNICODE_TEXT = TEXT.replace("Extended Translation Control Register (FEAT_TCRX).",
                            "Extended Translation Control Register (FEAT_TCRX), caf\u00e9 \u2014 "
                            "\u00fcber \u4e2d\u6587 \U0001d518.")


def _run_build(registry: Path, out: Path, env: dict[str, str]) -> dict[str, bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    full.update(env)
    dep = out.parent / f"{out.name}.d"
    proc = subprocess.run([sys.executable, "-m", "compat", "build", "-r", str(registry),
                           "-o", str(out), "--depfile", str(dep)],
                          env=full, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    files["<depfile>"] = dep.read_bytes().replace(str(out).encode(), b"OUT")
    files["<stdout>"] = proc.stdout.replace(str(out).encode(), b"OUT")
    return files


@pytest.fixture(scope="module")
def registries(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("det")
    paths = []
    for name, text in (("unicode.toml", UNICODE_TEXT),
                       ("synthetic.toml", gen_registry.generate(400, seed=7))):
        (base / name).write_text(text, encoding="utf-8")
        paths.append(base / name)
    return paths


ENVIRONMENTS = [
    {"PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "1", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "12345", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "random", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "random", "LC_ALL": "C"},
    {"PYTHONHASHSEED": "7", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    {"PYTHONHASHSEED": "99", "LANG": "tr_TR.UTF-8", "LC_ALL": "tr_TR.UTF-8"},
]


def _installed_locales() -> set[str]:
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
    except OSError:
        return set()
    return {name.lower().replace("-", "") for name in listed.split()}


_LOCALES = _installed_locales()
# tr_TR (dotless i) only tests something where the locale is installed
ENVIRONMENTS = [env for env in ENVIRONMENTS
                if env.get("LC_ALL", "C").split(".")[0] in ("C", "")
                or env["LC_ALL"].lower().replace("-", "") in _LOCALES]


@pytest.mark.process("hash seeds and locales are chosen when an interpreter starts")
def test_same_bytes_across_hash_seeds_and_locales(registries, tmp_path):
    for registry in registries:
        results = [_run_build(registry, tmp_path / f"{registry.stem}-{i}", env)
                   for i, env in enumerate(ENVIRONMENTS)]
        for env, result in zip(ENVIRONMENTS[1:], results[1:]):
            differing = sorted(k for k in result if result[k] != results[0].get(k))
            assert not differing, f"{registry.name} under {env}: {differing} differ"
            assert result.keys() == results[0].keys()


# -- entry order -----------------------------------------------------------------

_HEADER = re.compile(r"^\[(registers|features)\.[^\]]+\]\s*$", re.M)


def shuffle_tables(text: str, seed: int) -> str:
    """``text`` with its [registers.*] and [features.*] tables (each up to
    the next table or section comment) in a random order, each kind kept in
    its own stretch of the file."""
    starts = [m.start() for m in _HEADER.finditer(text)]
    if not starts:
        return text
    head = text[: starts[0]]
    blocks = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    blocks = [b if b.endswith("\n") else b + "\n" for b in blocks]
    rng = random.Random(seed)
    rng.shuffle(blocks)
    return head + "".join(blocks)


def _normalize(files: dict[str, str]) -> dict[str, str]:
    """Provenance ``file.toml:LINE[:COL]`` (``\\:`` in rST) moves with the
    text: drop the numbers.  In C their width changes how comments wrap, so
    comment layout (spaces, ``/``, ``*``) is dropped too."""
    out = {}
    for name, text in files.items():
        text = re.sub(r"\.toml(\\?):\d+(?:\\?:\d+)?", r".toml\1:N", text)
        if name.endswith((".c.inc", ".h")):
            text = re.sub(r"[\s/*]+", " ", text)
        out[name] = text
    return out


def _render(text: str, host: PluginHost | None = None) -> dict[str, str]:
    loaded = build.load_text(text, "registry.toml", host=host)
    return build.render(loaded, build.select_outputs(loaded))


@pytest.mark.parametrize("source", ["bundled", "synthetic"])
def test_table_order_does_not_matter(source):
    text = TEXT if source == "bundled" else gen_registry.generate(150, seed=3)
    want = _render(text)
    for seed in range(8):
        shuffled = shuffle_tables(text, seed)
        assert shuffled != text and sorted(shuffled.splitlines()) == sorted(text.splitlines())
        got = _render(shuffled)
        assert got.keys() == want.keys()
        norm_got, norm_want = _normalize(got), _normalize(want)
        for name in want:
            assert norm_got[name] == norm_want[name], f"{name} depends on table order ({seed})"


def test_normalization_keeps_the_comparison_meaningful():
    """Moving tables really changes provenance lines, and only those."""
    text = shuffle_tables(TEXT, 1)
    got, want = _render(text), _render(TEXT)
    assert any(got[k] != want[k] for k in want)
    changed = [k for k in want if got[k] != want[k]]
    assert changed and all(re.search(r"\.toml\\?:", want[k]) for k in changed)


def test_plugin_registration_order_does_not_matter():
    want = _render(UNICODE_TEXT)
    for order in (list(reversed(BUILTIN_PLUGINS)), BUILTIN_PLUGINS[2:] + BUILTIN_PLUGINS[:2]):
        host = PluginHost.create(builtins=False)
        for name, module in order:
            host.register(importlib.import_module(module), name, "0", "builtin")
        assert list(host.plugins) == [name for name, _ in order]
        assert _render(UNICODE_TEXT, host=host) == want


def test_rendering_twice_in_one_process_is_identical():
    """No state leaks between builds (caches, counters)."""
    assert _render(UNICODE_TEXT) == _render(UNICODE_TEXT)
