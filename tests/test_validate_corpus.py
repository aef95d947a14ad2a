"""``compat validate`` on a corpus of broken registries, one defect each.

Every ``tests/broken/NAME.toml`` starts with one or more header comments::

    # expect: LINE:COL: substring of the error message
    # expect: LINE: substring          (any column)
    # xfail: why this diagnostic is known to be wrong (optional)

and must fail validation with exit status 1, report each expected error as
``NAME.toml:LINE:COL: error: ...`` containing the substring, report errors
sorted by position, and never show a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BUNDLED, ROOT, run_compat

BROKEN = ROOT / "tests" / "broken"
_EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?:(?P<col>\d+):)?\s*(?P<text>.+?)\s*$")
_XFAIL = re.compile(r"^# xfail: (?P<reason>.+?)\s*$")
_ERROR_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): error: ")


@dataclass(frozen=True)
class Expect:
    line: int
    col: int | None
    text: str


def _header(path: Path) -> tuple[list[Expect], str | None]:
    expects: list[Expect] = []
    xfail = None
    for raw in path.read_text().splitlines():
        if not raw.startswith("#"):
            break
        if m := _EXPECT.match(raw):
            col = int(m["col"]) if m["col"] else None
            expects.append(Expect(int(m["line"]), col, m["text"]))
        elif m := _XFAIL.match(raw):
            xfail = m["reason"]
    return expects, xfail


def _cases():
    cases = []
    for path in sorted(BROKEN.glob("*.toml")):
        _, xfail = _header(path)
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        cases.append(pytest.param(path, id=path.stem, marks=marks))
    return cases


def test_corpus_is_well_formed():
    files = sorted(BROKEN.glob("*.toml"))
    assert len(files) >= 30
    for path in files:
        expects, _ = _header(path)
        assert expects, f"{path.name}: first line must be '# expect: LINE:COL: text'"
        assert path.read_text().startswith("# expect: "), path.name


@pytest.mark.parametrize("path", _cases())
def test_broken_registry(path: Path):
    expects, _ = _header(path)
    result = run_compat("validate", "-r", path.name, cwd=BROKEN)
    err = result.err
    assert "Traceback" not in err and "Traceback" not in result.out
    assert "internal error" not in err, err
    assert result.rc == 1, f"rc={result.rc}\nstdout:\n{result.out}\nstderr:\n{err}"

    error_lines = [line for line in err.splitlines() if _ERROR_LINE.match(line)]
    for e in expects:
        prefix = (f"{path.name}:{e.line}:{e.col}: error: " if e.col is not None
                  else None)
        matching = [line for line in error_lines
                    if (line.startswith(prefix) if prefix else
                        re.match(rf"{re.escape(path.name)}:{e.line}:\d+: error: ", line))]
        assert matching, f"no error at {path.name}:{e.line}:{e.col}\nstderr:\n{err}"
        assert any(e.text in line for line in matching), \
            f"error at {e.line}:{e.col} does not contain {e.text!r}\nstderr:\n{err}"

    # Every error of the file is reported in one run, sorted by position.
    positions = [(int(m["line"]), int(m["col"]))
                 for m in map(_ERROR_LINE.match, error_lines)]
    assert positions == sorted(positions), err
    assert len(error_lines) >= len(expects)


@pytest.mark.parametrize("name", ["several-errors", "several-schema-errors"])
def test_several_errors_all_reported(name):
    """One run reports every error of the file, not just the first, sorted."""
    path = BROKEN / f"{name}.toml"
    expects, _ = _header(path)
    assert len(expects) >= 3
    result = run_compat("validate", "-r", path.name, cwd=BROKEN)
    assert result.rc == 1, result.err
    found = [line for line in result.err.splitlines() if _ERROR_LINE.match(line)]
    assert len(found) == len(expects), result.err
    for e, line in zip(expects, found):
        assert line.startswith(f"{path.name}:{e.line}:{e.col}: error: "), (e, line)
        assert e.text in line


def test_bundled_registry_validates(compat_cli):
    result = compat_cli("validate", "-r", str(BUNDLED))
    assert result.rc == 0, result.err
    assert "valid" in result.out
    assert "Traceback" not in result.err


def test_validate_without_registry_uses_bundled(compat_cli, tmp_path):
    """From a directory without registry.toml, the bundled registry is used."""
    assert not (tmp_path / "registry.toml").exists()
    result = compat_cli("validate", cwd=tmp_path)
    assert result.rc == 0, result.err
    count = BUNDLED.read_text().count("\n[registers.")
    assert f"valid: {count} registers" in result.out, result.out


def test_missing_registry_file(compat_cli, tmp_path):
    result = compat_cli("validate", "-r", "nope.toml", cwd=tmp_path)
    assert result.rc == 1
    assert "nope.toml" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("name", ["gated-without-cpu-feature"])
def test_no_cascading_errors(name):
    """A broken change is one error, not also 'the register has no changes'."""
    path = BROKEN / f"{name}.toml"
    result = run_compat("validate", "-r", path.name, cwd=BROKEN)
    assert result.rc == 1
    errors = [line for line in result.err.splitlines() if _ERROR_LINE.match(line)]
    assert len(errors) == 1, result.err


def test_cpu_feature_on_added_means_only_on_cpus_with_it():
    """`cpu-feature` on an added/removed change is valid: the change happens only
    on CPUs with the feature (SCTLR2_EL1, Linux 6.17, FEAT_SCTLR2).  It keeps
    the direction and rule of the plain kind."""
    from compat.core.derive import derive
    from compat.load.semantic import load_registry_text

    text = BUNDLED.read_text()
    registry = load_registry_text(text)
    added = [(reg, c) for reg in registry.registers.values() for c in reg.changes
             if c.kind == "added" and c.cpu_feature]
    assert added, "the bundled registry has an added change with cpu-feature"
    reg, change = added[0]
    assert change.direction == "backward"
    assert change.describe() == f"added on CPUs with {change.cpu_feature} in Linux {change.kernel}"
    rules = derive(registry)
    for machine in rules.machines:
        if change.kernel > machine.machine.min_kernel:
            assert reg.index in machine.hidden_indices, machine.machine.name
