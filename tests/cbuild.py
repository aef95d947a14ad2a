"""Compile and run C test harnesses against generated files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

C_DIR = Path(__file__).resolve().parent / "c"
#: -Wall -Wextra -Werror plus the prototype checks QEMU builds with.  QEMU's
#: compat tables are positional three-field rows ({ driver, property,
#: value }) and QEMU does not build with -Wextra, so the one -Wextra warning
#: about them is off, as in QEMU.
CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
          "-Wmissing-prototypes", "-Wstrict-prototypes", "-Wredundant-decls"]


def compile_harness(name: str, generated: Path, out_dir: Path) -> Path:
    """Build ``tests/c/NAME_harness.c`` with the generated files on the
    include path; a compiler warning fails the test."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    exe = out_dir / name
    proc = subprocess.run(["gcc", *CFLAGS, f"-I{generated}", f"-I{C_DIR}", "-o", str(exe),
                           str(C_DIR / f"{name}_harness.c")], capture_output=True, text=True)
    assert proc.returncode == 0, f"gcc failed:\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    return exe


def run(exe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=30)


def run_many(exe: Path, calls: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """What :func:`run` answers for each of ``calls``, from one process:
    the harness's ``batch`` mode (the guards harness has it) reads one
    command a line and frames each answer as ``STATUS LENGTH``, then the
    output.  Thousands of calls cost one process instead of thousands."""
    for call in calls:
        assert call and not any("\t" in a or "\n" in a for a in call), call
    proc = subprocess.run([str(exe), "batch"], input="".join("\t".join(c) + "\n" for c in calls).encode(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    data, pos, answers = proc.stdout, 0, []
    for call in calls:
        end = data.index(b"\n", pos)
        status, length = map(int, data[pos:end].split())
        out = data[end + 1:end + 1 + length].decode()
        answers.append(subprocess.CompletedProcess([str(exe), *call], status, out, ""))
        pos = end + 1 + length
    assert pos == len(data), "the harness answered more than it was asked"
    return answers


def without_section(text: str, header: str) -> str:
    """Registry text without the table ``header`` (up to the next table)."""
    start = text.index(header)
    end = text.find("\n[", start + 1)
    return text[:start] + (text[end + 1:] if end != -1 else "")
