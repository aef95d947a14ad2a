"""`--shard K/N` and `compat lab merge`: N pieces of a lab run join into exactly
what one run writes.  No QEMU: a fake case runner stands in for the guests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from clirun import run_compat

from compat.core.diagnostics import CompatError
from compat.lab import collect as lab_collect
from compat.lab import kernels, migrate
from compat.lab.cases import matrix
from compat.lab.merge import merge
from compat.lab.runcase import Outcome
from compat.lab.shard import Shard, parse, split

ROOT = Path(__file__).resolve().parents[1]


def _compat(*args):
    return run_compat(*args, cwd=ROOT)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


class FakeRunner:
    """Stands in for the guests: a source 'stream' is a digest of the source's
    options; a case writes case.json, a cpreg list and a binary stream file."""

    def __init__(self, out: Path):
        self.out = out
        self.sources: list[tuple] = []

    def source(self, case, work):
        self.sources.append((case.source, case.qemu, case.machine, case.source_cpu))
        key = f"{case.source}|{case.qemu}|{case.machine}|{case.source_cpu}"
        if "psci" in case.source_cpu and case.qemu == "10.0":
            return None, 1.0, ["source stderr: Property 'host-arm-cpu.kvm-psci-version' not found"]
        return hashlib.sha256(key.encode()).digest() * 8, 1.0, []

    def run(self, case, stream, seconds, msgs, own):
        d = self.out / case.name
        d.mkdir(parents=True, exist_ok=True)
        verdict = "source-error" if stream is None else "pass"
        info = {"case": case.name, "verdict": verdict, "messages": msgs,
                "own": hashlib.sha256(own or b"").hexdigest()}
        (d / "case.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        if stream is not None:
            (d / "source.qevm.gz").write_bytes(stream)
            (d / "source.cpregs").write_text(f"# kernel: {case.source}\n0x{stream[:8].hex()} 0x0\n")
        return Outcome(case, stream is not None, "running", 0, list(msgs), d, seconds, info)

    def failure(self, case, exc):  # pragma: no cover - the fake never fails
        raise AssertionError(exc)


def _run(out: Path, shard: Shard | None):
    out.mkdir(parents=True, exist_ok=True)
    runner = FakeRunner(out)
    results = migrate.migrate(matrix("oracle"), out, shard=shard, runner=runner, jobs=2,
                              report=lambda *a: None)
    return results, runner


# -- K/N -----------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [("1/1", Shard(1, 1)), ("3/3", Shard(3, 3)),
                                        ("2/10", Shard(2, 10)), (" 1 / 4 ", Shard(1, 4))])
def test_shard_parses(text, want):
    assert parse(text) == want


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "0/0", "3", "a/b", "-1/3", "1/3/4", "", "1.5/3"])
def test_bad_shard_is_a_command_line_error(text):
    with pytest.raises(CompatError) as info:
        parse(text)
    assert info.value.is_usage_error()


@pytest.mark.parametrize("command", [["collect", "6.1.0-50"], ["migrate", "--matrix", "oracle"]])
def test_bad_shard_exits_2_before_any_work(tmp_path, command):
    proc = _compat("lab", *command, "-o", str(tmp_path / "out"), "--shard", "4/3",
                   "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("<command line>: error: --shard '4/3'")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_shards_partition_the_work_for_any_n():
    names = [c.name for c in matrix("oracle")]
    assert len(set(names)) == 27
    for n in range(1, 31):
        pieces = [split(names, Shard(k, n)) for k in range(1, n + 1)]
        flat = [x for p in pieces for x in p]
        assert sorted(flat) == sorted(names)            # every case once
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
        # the same split whatever order the cases come in
        assert [set(split(list(reversed(names)), Shard(k, n))) for k in range(1, n + 1)] \
            == [set(p) for p in pieces]
        # each piece keeps the order given
        assert all(p == [x for x in names if x in p] for p in pieces)


# -- migrate: 3 shards merged == one run -------------------------------------------

def test_three_shards_merge_into_the_unsharded_result(tmp_path):
    whole, _ = _run(tmp_path / "whole", None)
    assert len(whole) == 27
    sizes = []
    for k in (1, 2, 3):
        results, runner = _run(tmp_path / f"s{k}", Shard(k, 3))
        sizes.append(len(results))
        # a shard runs each of its sources once, and only its own cases
        assert len(runner.sources) == len(set(runner.sources))
        assert {o.case.name for o in results} == set(split([c.name for c in matrix("oracle")],
                                                           Shard(k, 3)))
        marker = json.loads((tmp_path / f"s{k}" / f".compat-shard-{k}-of-3.json").read_text())
        assert marker["shard"] == k and marker["of"] == 3 and len(marker["items"]) == 27
    assert sizes == [9, 9, 9]
    proc = _compat("lab", "merge", *(str(tmp_path / f"s{k}") for k in (3, 1, 2)),
                   "-o", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr
    assert "3 shards of lab migrate" in proc.stdout
    want, got = _tree(tmp_path / "whole"), _tree(tmp_path / "merged")
    assert len(want) == 27 + 2 * 26   # the 10.0 PSCI source is refused: no stream files
    assert got == want


def test_merge_over_an_earlier_run_replaces_its_case_directories(tmp_path):
    for k in (1, 2):
        _run(tmp_path / f"s{k}", Shard(k, 2))
    out = tmp_path / "out"
    stale = out / matrix("oracle")[0].name / "console.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an older run\n")
    (out / "notes.txt").write_text("mine\n")
    merge([tmp_path / "s1", tmp_path / "s2"], out)
    assert not stale.exists()
    assert (out / "notes.txt").read_text() == "mine\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# -- merge refuses ------------------------------------------------------------------

def _shards(tmp_path, n=3):
    for k in range(1, n + 1):
        _run(tmp_path / f"s{k}", Shard(k, n))
    return [tmp_path / f"s{k}" for k in range(1, n + 1)]


def test_merge_refuses_conflicting_duplicates_and_writes_nothing(tmp_path):
    dirs = _shards(tmp_path)
    other = tmp_path / "other"
    case = next(p for p in sorted(dirs[0].iterdir()) if p.is_dir())
    (other / case.name).mkdir(parents=True)
    (other / case.name / "case.json").write_text('{"verdict": "fail"}\n')
    proc = _compat("lab", "merge", *map(str, dirs), str(other), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{other / case.name / 'case.json'}: error: differs from "
                                  f"{case / 'case.json'}")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_identical_duplicates_are_fine(tmp_path):
    dirs = _shards(tmp_path)
    proc = _compat("lab", "merge", *map(str, dirs), str(dirs[0]), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr


def test_merge_refuses_a_missing_shard(tmp_path):
    dirs = _shards(tmp_path)
    proc = _compat("lab", "merge", str(dirs[0]), str(dirs[2]), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("<command line>: error: shard 2/3 of lab migrate missing")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_a_truncated_shard(tmp_path):
    dirs = _shards(tmp_path)
    victim = next(dirs[1].rglob("source.cpregs"))
    victim.unlink()
    proc = _compat("lab", "merge", *map(str, dirs), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{dirs[1] / '.compat-shard-2-of-3.json'}: error: shard 2/3 wrote "
                                  f"{victim.relative_to(dirs[1]).as_posix()}")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_shards_of_two_runs(tmp_path):
    three = _shards(tmp_path / "a", 3)
    two = _shards(tmp_path / "b", 2)
    proc = _compat("lab", "merge", *map(str, three), str(two[0]), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "shard of another run" in proc.stderr and "Traceback" not in proc.stderr


def test_merge_refuses_symlinks_and_output_among_inputs(tmp_path):
    dirs = _shards(tmp_path, 1)
    os.symlink("/etc/hostname", dirs[0] / "link.reglist")
    proc = _compat("lab", "merge", str(dirs[0]), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1 and "not a regular file" in proc.stderr
    (dirs[0] / "link.reglist").unlink()
    proc = _compat("lab", "merge", str(dirs[0]), "-o", str(dirs[0]))
    assert proc.returncode == 2 and "is an input directory" in proc.stderr
    proc = _compat("lab", "merge", str(dirs[0]), "-o", str(dirs[0] / "all"))
    assert proc.returncode == 2 and "is inside an input directory" in proc.stderr
    assert not (dirs[0] / "all").exists()


# -- collect: the shard picks kernels before anything is downloaded -------------------

def test_collect_shard_boots_only_its_kernels(tmp_path, monkeypatch):
    offered = [kernels.Kernel(abi, f"linux-image-{abi}-arm64", "1", "trixie")
               for abi in ("6.1.0-50", "6.12.117+deb13", "6.16.12+deb13", "7.3.4+deb13")]
    monkeypatch.setattr(kernels, "available", lambda apt: offered)
    monkeypatch.setattr(lab_collect.boot_mod, "qemu_binary", lambda qemu: "qemu-system-aarch64")
    booted = []

    def fake_boot_all(wanted, out_dir, **kw):
        booted.append([k.abi for k in wanted])
        done = []
        for k in wanted:
            path = out_dir / f"qemu7.2-max-linux-{k.abi}.reglist"
            path.write_text(f"# kernel: {k.abi}\n")
            done.append(lab_collect.Collected(k, path, 0, 0.0))
        return done

    monkeypatch.setattr(lab_collect, "_boot_all", fake_boot_all)
    versions = [k.abi for k in reversed(offered)]
    for k in (1, 2, 3):
        lab_collect.collect(versions, tmp_path / f"s{k}", cache=tmp_path / "c", shard=Shard(k, 3))
    lab_collect.collect(versions, tmp_path / "whole", cache=tmp_path / "c")
    assert booted[:2] == [["7.3.4+deb13", "6.1.0-50"], ["6.12.117+deb13"]]
    assert booted[2] == ["6.16.12+deb13"]
    merge([tmp_path / f"s{k}" for k in (1, 2, 3)], tmp_path / "merged")
    assert _tree(tmp_path / "merged") == _tree(tmp_path / "whole")
    # more shards than kernels: the empty shard records itself, boots nothing
    booted.clear()
    assert lab_collect.collect(versions, tmp_path / "s5", cache=tmp_path / "c",
                               shard=Shard(5, 5)) == []
    assert booted == [] and (tmp_path / "s5" / ".compat-shard-5-of-5.json").is_file()


# -- docs/lab.md: the CI examples run the oracle in N pieces that merge --------------

def _doc_commands(text: str) -> list[list[str]]:
    """Every `compat lab ...` command in docs/lab.md's yaml blocks, CI
    variables replaced by the values of job 2 of 4, continuation lines joined."""
    import re
    import shlex
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    cmds = []
    for block in blocks:
        joined = re.sub(r"\n\s+(?=--)", " ", block)
        for m in re.finditer(r"/venv/bin/compat (lab .*)", joined):
            line = (m.group(1).replace("$CI_NODE_INDEX", "2").replace("$CI_NODE_TOTAL", "4")
                    .replace("${{ matrix.shard }}", "2"))
            cmds.append(shlex.split(line))
    return cmds


def test_the_ci_examples_shard_and_merge_with_real_options():
    import importlib
    from compat import cli
    text = (ROOT / "docs" / "lab.md").read_text()
    parser = cli._command_parser("lab", importlib.import_module("compat.commands.lab"))
    cmds = _doc_commands(text)
    kinds = [c[1] for c in cmds]
    assert kinds == ["migrate", "merge", "migrate", "merge"]
    for cmd in cmds:
        args = parser.parse_args(cmd[1:])      # every option exists
        if args.lab_command == "migrate":
            assert args.matrix == "oracle" and parse(args.shard) == Shard(2, 4)
    # GitHub: the matrix has as many entries as the N in --shard, and keeps the records
    assert "shard: [1, 2, 3, 4]" in text and "--shard ${{ matrix.shard }}/4" in text
    assert "include-hidden-files: true" in text
    assert "parallel: 4" in text and "$CI_NODE_INDEX/$CI_NODE_TOTAL" in text
