"""``compat samples``: the real lists bundled for the README's tour, their
provenance, and the tour itself as the README writes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import ROOT

SAMPLES = ROOT / "compat" / "data" / "samples"
REAL = ROOT / "tests" / "data" / "real"
MIGRATIONS = ROOT / "tests" / "data" / "real-migrations"
OLD, NEW = "qemu7.2-max-linux-7.2.13+deb14.reglist", "qemu7.2-max-linux-7.3.4+deb13.reglist"


def test_samples_are_the_real_lists_with_their_provenance():
    lists = sorted(p.name for p in SAMPLES.glob("*.reglist"))
    assert lists == [OLD, NEW]
    readme = (SAMPLES / "README.md").read_text()
    for name in lists:
        text = (SAMPLES / name).read_bytes()
        assert text == (REAL / name).read_bytes(), name    # copies, byte for byte
        entries = sum(1 for ln in text.decode().splitlines() if ln.startswith("0x"))
        assert f"| `{name}` |" in readme and readme.split(f"| `{name}` |")[1] \
            .split("\n")[0].rstrip().endswith(f"| {entries} |"), name
    # the measured migrations the README cites exist and say what it says
    for case, verdict in (("7.2-to-7.3_qemu11.1_virt-11.0", "pass"),
                          ("7.3-to-7.2_qemu11.1_virt-11.0", "fail")):
        assert case in readme
        info = json.loads((MIGRATIONS / case / "case.json").read_text())
        assert info["verdict"] == verdict, case
    assert "crn:9 crm:14 op2:6" in readme
    assert any("crn:9 crm:14 op2:6" in m for m in json.loads(
        (MIGRATIONS / "7.3-to-7.2_qemu11.1_virt-11.0" / "case.json").read_text())["qemu_messages"])


def test_samples_lists_them(compat_cli):
    r = compat_cli("samples")
    assert (r.rc, r.err) == (0, "")
    assert re.search(rf"^  {re.escape(OLD)}\s+host qemu7.2-max, Linux 7\.2, 331 entries$",
                     r.out, re.M), r.out
    assert re.search(rf"^  {re.escape(NEW)}\s+host qemu7.2-max, Linux 7\.3, 332 entries$",
                     r.out, re.M), r.out


def test_samples_copy_is_idempotent_and_never_overwrites(compat_cli, tmp_path):
    out = tmp_path / "deep" / "samples"
    r = compat_cli("samples", "-o", str(out))
    assert r.rc == 0 and r.out.startswith(f"{out}: wrote 3 of 3 files"), r.out
    assert sorted(p.name for p in out.iterdir()) == sorted([OLD, NEW, "README.md"])
    assert (out / NEW).read_bytes() == (SAMPLES / NEW).read_bytes()
    again = compat_cli("samples", "-o", str(out))
    assert again.rc == 0 and again.out.startswith(f"{out}: wrote 0 of 3 files")
    # a user's own README.md there: an error, and nothing at all is written
    other = tmp_path / "mine"
    other.mkdir()
    (other / "README.md").write_text("my notes\n")
    clash = compat_cli("samples", "-o", str(other))
    assert clash.rc == 1 and clash.out == ""
    assert clash.err.startswith(f"{other / 'README.md'}: error: exists with other content")
    assert sorted(p.name for p in other.iterdir()) == ["README.md"]
    assert (other / "README.md").read_text() == "my notes\n"
    a_file = tmp_path / "file"
    a_file.write_text("x\n")
    r = compat_cli("samples", "-o", str(a_file))
    assert r.rc == 1 and r.err.startswith(f"{a_file}: error: not a directory")
    assert compat_cli("samples", "--no-such").rc == 2


def _tour() -> list[str]:
    """The README's shell block that starts with ``compat samples -o``."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"^```sh\n(.*?)^```", readme, re.S | re.M)
                 if b.startswith("compat samples -o "))
    return block.splitlines()


def test_the_readme_tour_runs_as_written(tmp_path):
    """The tour as one script, from an empty directory: each ``compat``
    line exits as its comment promises (passes: 0, fails: 1)."""
    lines = _tour()
    script = [f'compat() {{ "{sys.executable}" -m compat "$@"; }}']
    expected = {}
    for n, line in enumerate(lines):
        command, _, comment = line.partition("#")
        script.append(command)
        if command.startswith("compat "):
            script.append(f'echo "rc{n}=$?"')
            expected[n] = 1 if comment.strip().startswith("fails") else 0
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True)
    got = {int(n): int(rc) for n, rc in re.findall(r"^rc(\d+)=(\d+)$", proc.stdout, re.M)}
    assert got == expected, (proc.stdout, proc.stderr)
    assert list(expected.values()).count(1) == 1 and len(expected) >= 4
    assert ("PMMIR_EL1 (0x603000000013c4f6): handle_cpreg_only_in_incoming_stream: system "
            "register op0:3 op1:0 crn:9 crm:14 op2:6 in the incoming stream") in proc.stdout
    assert (tmp_path / "samples" / "report.html").is_file()
