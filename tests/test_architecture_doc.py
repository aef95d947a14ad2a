"""docs/architecture.md names real files: a rename that forgets the page
fails here."""

from __future__ import annotations

import re

from conftest import ROOT

#: example names the walk-through invents on purpose, and generated outputs
EXAMPLES = {"plugins/qemu_docs.py", "compat/analysis/readers/FORMAT.py", "commands/NAME.py",
            "registry.json"}


def test_every_file_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([\w./-]+\.(?:py|md|json|toml|txt))`", text))
    assert len(named) > 20
    missing = sorted(n for n in named - EXAMPLES
                     if not any((base / n).exists() for base in (ROOT, ROOT / "compat")))
    assert not missing, missing


def test_the_three_common_changes_are_walked():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Three common changes", 1)[1].split("\n## ", 1)[0]
    for change in ("A new output plugin", "A new kind of registry fact",
                   "A new register-list format"):
        assert f"**{change}**" in section
