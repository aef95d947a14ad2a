"""The files a build of the bundled registry writes, derived from the plugins
(never a hand list): the tests that check how files are written ask here."""

from __future__ import annotations

import functools

from conftest import BUNDLED, ROOT


@functools.cache
def bundled_output_files() -> tuple[str, ...]:
    """Every file ``compat build`` writes for the bundled registry, in the
    order the selected outputs declare them (what the plugins declare, for
    the outputs the registry selects)."""
    from compat.load import pipeline

    loaded = pipeline.load_text(BUNDLED.read_text(), "registry.toml")
    return tuple(f for spec in pipeline.select_outputs(loaded) for f in spec.files)


def golden_files() -> set[str]:
    """The files of the golden directory (what tests/test_golden.py compares)."""
    return {p.name for p in (ROOT / "tests" / "golden").iterdir() if p.is_file()}
