"""Hostile inputs for the register-list and migration-stream readers
(issue 20, items 1, 2, 6-9 and 11): generators, not single cases.

Every bad input must be a located error (``file:line`` for text lists,
``file:0xOFFSET`` for streams), exit status 1, never 0 (a wrong answer) and
never 3 (a crash)."""

from __future__ import annotations

import gzip
import json
import struct
import time
from pathlib import Path

import pytest

from compat.analysis.readers.stream import read_stream
from compat.analysis.reglist import parse_reglist, read_reglist
from compat.core.diagnostics import CompatError
from conftest import REGLISTS, ROOT
from hostile_util import assert_graceful, run_inproc
from stream_util import cpu_section_bytes, description_of, reglist_values, write_stream

PSCI = 0x6030000000140000
STREAMS = ROOT / "tests" / "data" / "streams"
REAL = ROOT / "tests" / "data" / "real-migrations"
DST_612 = str(REGLISTS / "n1-linux-6.12.reglist")


def _value_lines(psci: int = 0x10003) -> list[str]:
    values = reglist_values(REGLISTS / "n1-linux-6.16.reglist", {PSCI: psci})
    return [f"0x{i:016x} 0x{v:x}" for i, v in sorted(values.items())]


def _expect_located(path: Path, line: int, *, match: str | None = None) -> str:
    with pytest.raises(CompatError) as info:
        read_reglist(path)
    text = info.value.format()
    assert text.startswith(f"{path}:{line}: error: "), text
    if match:
        assert match in text, text
    return text


# -- item 1: one unreadable line in a value list -------------------------------

#: Lines a value list cannot read; every one must stop the read where it is.
CORRUPT_LINES = [
    "0x6030000000140001 -1", "0x603000000013c103", "0x603000000013c103 0x1 0x2",
    "0x603000000013c103 0x1ULLL", "0x603000000013c103 zz", "0x603000000013c103 0x",
    "0x603000000013c103 1e3", "0x603000000013c103 3.0", "0x603000000013c103 1_000",
    "0x603000000013c103 0b101", "0x603000000013c103 \uff11\uff12",
    "0x603000000013c103 0123", "0x603000000013c103 " + "9" * 5000,
    "0x603000000013c103 0x" + "f" * 5000, "0x603000000013c103 18446744073709551616",
    "0x603000000013c103 0x10000000000000000", "480 0x1", "0x1e0 0x1",
    "0x603000000013c103:0x1 0", "hello world", "kvm_arm_cpu_post_load_missing_reg 0x603000000013c513",
]


def test_one_unreadable_value_line_fails_the_check_instead_of_passing(tmp_path):
    """The review's case: PSCI 0x10003 -> Linux 6.12 fails; one line that the
    old pattern did not take made the file a trace and the check pass."""
    lines = _value_lines()
    for corrupt in ("0X0", "0x603000000013c103 -1", "0x603000000013c103"):
        bad = tmp_path / "source.cpregs"
        bad.write_text("# kernel: 6.16\n" + "\n".join(lines[:5] + [corrupt] + lines[5:]) + "\n")
        res = run_inproc("check", str(bad), DST_612, "--rules", "tolerances")
        assert res.rc == 1, (corrupt, res)
        assert f"{bad}:7: error: " in res.err, (corrupt, res.err)
        assert_graceful(res, located=True)


@pytest.mark.parametrize("corrupt", CORRUPT_LINES)
def test_corrupt_value_line_at_every_position_is_located(tmp_path, corrupt):
    lines = _value_lines()[:12]
    for where in range(len(lines) + 1):
        bad = tmp_path / f"at{where}.cpregs"
        body = lines[:where] + [corrupt] + lines[where:]
        bad.write_text("# kernel: 6.16\n" + "\n".join(body) + "\n", encoding="utf-8")
        _expect_located(bad, where + 2)


@pytest.mark.parametrize("corrupt", CORRUPT_LINES)
def test_corrupt_value_line_in_the_cli_exits_1(tmp_path, corrupt):
    lines = _value_lines()
    bad = tmp_path / "bad.cpregs"
    bad.write_text("# kernel: 6.16\n" + "\n".join(lines[:100] + [corrupt] + lines[100:]) + "\n",
                   encoding="utf-8")
    res = run_inproc("check", str(bad), DST_612, "--rules", "tolerances")
    assert res.rc == 1 and f"{bad}:102: error: " in res.err, (corrupt, res)
    assert_graceful(res, located=True)


#: Spellings of 31 in the codec's C integer grammar: all read as 31.
GOOD_SPELLINGS = ["0x1f", "0X1F", "31", "0x1fULL", "31u", "0x001f", "31LL", "0x1FuL"]


@pytest.mark.parametrize("spelling", GOOD_SPELLINGS)
def test_value_spellings_of_the_c_grammar_read_as_their_number(tmp_path, spelling):
    lines = _value_lines()
    lines[3] = lines[3].split()[0] + " " + spelling
    ok = tmp_path / "ok.cpregs"
    ok.write_text("# kernel: 6.16\n" + "\n".join(lines) + "\n")
    got = read_reglist(ok)
    assert got.format == "cpregs" and got.values[int(lines[3].split()[0], 16)] == 31


def test_duplicate_and_non_kvm_indices_in_value_lists(tmp_path):
    lines = _value_lines()
    dup = tmp_path / "dup.cpregs"
    dup.write_text("\n".join(["# kernel: 6.16", *lines[:4], lines[1], *lines[4:]]) + "\n")
    _expect_located(dup, 6, match="listed twice (first at line 3)")


# -- item 9: one number grammar, length first ----------------------------------

@pytest.mark.parametrize("argv", [
    ("decode", "9" * 5000), ("decode", "0x" + "f" * 5000),
    ("encode", "ARM64_SYS_REG(" + "9" * 5000 + ", 0, 0, 0, 0)")])
def test_huge_numbers_on_the_command_line_are_errors(argv):
    res = run_inproc(*argv)
    assert res.rc == 1, res
    assert_graceful(res)


@pytest.mark.parametrize("line", ["9" * 5000, "0x" + "f" * 5000, "0" * 5000 + "1"])
def test_huge_numbers_in_plain_lists_are_located(tmp_path, line):
    bad = tmp_path / "n1-linux-6.12.reglist"
    bad.write_text(f"0x603000000013c103\n{line}\n")
    _expect_located(bad, 2)


# -- item 11: gzip members, binary bytes, non-KVM indices, duplicates ----------

def test_gzip_whose_first_member_is_empty_is_a_stream(tmp_path):
    raw = gzip.decompress((STREAMS / "qemu-7.2-tcg-max-virt.qevm.gz").read_bytes())
    path = tmp_path / "n1-linux-6.12.qevm.gz"
    path.write_bytes(gzip.compress(b"", mtime=0) + gzip.compress(raw, mtime=0))
    got = read_reglist(path)
    assert got.format == "qemu-stream" and len(got.indices) == 304


def test_gzipped_text_lists_are_read_as_text(tmp_path):
    path = tmp_path / "n1-linux-6.12.reglist.gz"
    text = (REGLISTS / "n1-linux-6.12.reglist").read_text().replace("# kernel: 6.12\n", "")
    path.write_bytes(gzip.compress(text.encode()))
    got = read_reglist(path)       # the kernel from the name, .gz and all
    assert got.indices == read_reglist(REGLISTS / "n1-linux-6.12.reglist").indices
    assert (got.format, str(got.kernel)) == ("plain", "6.12")


@pytest.mark.parametrize("blob", [b"\x00\x01\x02garbage\n", b"0x603000000013c103\n\x7fELF\x02\x01\n",
                                  gzip.compress(b"\x00" * 100, mtime=0)])
def test_binary_bytes_are_refused_not_dumped(tmp_path, blob):
    path = tmp_path / "n1-linux-6.12.reglist"
    path.write_bytes(blob)
    res = run_inproc("check", str(path), DST_612)
    assert res.rc == 1 and "binary data" in res.err, res
    assert_graceful(res, located=True)


@pytest.mark.parametrize("line", ["480", "0x1e0", "0x0000000000000001", "0xff3000000013c103",
                                  "KVM_REG_ARM_CORE_REG(regs.pc),", "KVM_REG_SIZE_U64 | 3,"])
def test_plain_and_selftest_lists_refuse_non_kvm_indices(tmp_path, line):
    bad = tmp_path / "n1-linux-6.12.reglist"
    bad.write_text(f"0x603000000013c103\n{line}\n0x603000000013c512\n")
    _expect_located(bad, 2, match="not a KVM register index")


def test_duplicates_in_index_lists_are_reported(tmp_path):
    dup = tmp_path / "n1-linux-6.12.reglist"
    dup.write_text("0x603000000013c103\n0x603000000013c512\n0x603000000013C103\n")
    got = read_reglist(dup)
    assert len(got.indices) == 2
    assert [w.format() for w in got.warnings] == [
        f"{dup}:3: warning: register 0x603000000013c103 is listed twice (first at line 1)"]
    res = run_inproc("check", str(dup), DST_612)
    assert f"{dup}:3: warning: register 0x603000000013c103 is listed twice" in res.err, res
    sel = "ARM64_SYS_REG(3, 0, 2, 0, 3),\nARM64_SYS_REG(3, 0, 10, 2, 2),\nARM64_SYS_REG(3, 0, 2, 0, 3),\n"
    got = parse_reglist(sel, "sel.c", kernel="6.12")
    assert len(got.indices) == 2
    assert [w.format() for w in got.warnings] == [
        "sel.c:3: warning: register 0x603000000013c103 is listed twice (first at line 1)"]


def test_trace_ignores_numbers_that_are_not_register_indices():
    text = ("kvm_arm_cpu_post_load_missing_reg cpu 0 reg 0x603000000013c103\n"
            "pc at 0xffff800080001234 in 0x0000000000000010\n")
    assert parse_reglist(text, "t.log", kernel="6.12").indices == (0x603000000013c103,)


# -- item 2: without a VM description, only real cpu sections count -----------

def _fake_page(values) -> bytes:
    planted = cpu_section_bytes(values)
    return (b"\0" * 100 + planted).ljust(4096, b"\0")


def _n1(kernel: str) -> dict[int, int]:
    return reglist_values(REGLISTS / f"n1-linux-{kernel}.reglist", {PSCI: 0x10001})


def test_guest_ram_cannot_supply_the_cpreg_list(tmp_path):
    real, fake = _n1("6.12"), _n1("6.16")
    data = write_stream(real, vmdesc=False, ram_pages=(_fake_page(fake), b"\0" * 4096))
    got = read_stream(data, name="x.qevm")
    assert not got.described and dict(got.values) == real
    path = tmp_path / "n1-linux-6.12.qevm"
    path.write_bytes(data)
    res = run_inproc("check", str(path), DST_612)     # the planted 6.16 list would fail
    assert res.rc == 0 and ": ok, assuming " in res.out.splitlines()[0], res
    assert "located heuristically" in res.err and f"{path}:0x" in res.err, res.err


@pytest.mark.parametrize("command", ["check", "diff", "audit"])
def test_heuristic_lists_are_said_in_text_output(tmp_path, command):
    path = tmp_path / "n1-linux-6.12.qevm"
    path.write_bytes(write_stream(_n1("6.12"), vmdesc=False))
    res = run_inproc(command, str(path), DST_612)
    assert_graceful(res)
    assert "warning: the stream has no JSON VM description" in res.err, res.err
    assert "located heuristically" in res.err


@pytest.mark.parametrize("vmdesc", [True, False])
def test_vcpus_with_different_lists_are_noted(vmdesc):
    one, other = _n1("6.12"), _n1("6.16")
    data = write_stream(one, cpus=2, cpu_values={1: other}, vmdesc=vmdesc)
    got = read_stream(data, name="x")
    assert dict(got.values) == one and got.cpus == 2
    assert any("vCPU 1's cpreg list differs from vCPU 0's" in n for n in got.notes), got.notes
    same = read_stream(write_stream(one, cpus=2, vmdesc=vmdesc), name="x")
    assert not any("differs" in n for n in same.notes)


# -- items 6, 7, 8: the VM description, every JSON type in every field --------

JSON_VALUES = [5, -1, 0, 1, 2 ** 64, 10 ** 30, 1.5, float("inf"), float("nan"), "abc", "",
               None, True, False, [], [5], ["cpu"], {}, {"a": 1}]
COUNTS = [0, 1, 2, 8, 10 ** 9, 2 ** 31, 2 ** 63, 10 ** 30, -1]


def _paths(node, prefix=()):
    """Every (path) to every value in a JSON tree, containers included."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _replaced(tree, path, value):
    tree = json.loads(json.dumps(tree))
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def _read_desc(values, desc, name="d.qevm"):
    data = write_stream(values, description=desc)
    started = time.monotonic()
    try:
        return read_stream(data, name=name)
    except CompatError as exc:
        text = exc.format()
        assert text.startswith(f"{name}:0x"), text
        return exc
    finally:
        assert time.monotonic() - started < 5, (desc, "took too long")


def _small_values():
    return {PSCI: 0x10001, 0x603000000013c103: 0, 0x603000000013c512: 7}


def test_every_json_type_in_every_description_field():
    values = _small_values()
    base = description_of(values)
    base["devices"][0]["subsections"] = [{"vmsd_name": "cpu/x", "fields": []}]
    base["configuration"] = None
    outcomes = {}
    for path in list(_paths(base)):
        for value in JSON_VALUES:
            got = _read_desc(values, _replaced(base, path, value))
            outcomes[isinstance(got, CompatError)] = path
    assert set(outcomes) == {True, False}     # some replacements are harmless, most are not


@pytest.mark.parametrize("key", ["size", "array_len"])
@pytest.mark.parametrize("count", COUNTS)
def test_huge_or_zero_sizes_and_counts_are_bounded(key, count):
    values = _small_values()
    for field in range(4):
        desc = description_of(values)
        desc["devices"][0]["fields"][field][key] = count
        got = _read_desc(values, desc)
        if key == "size" and count <= 0:
            assert isinstance(got, CompatError) and "must be a positive integer" in str(got)


def test_the_review_hang_is_refused_at_once():
    desc = description_of(_small_values())
    desc["devices"][0]["fields"].insert(0, {"name": "x", "size": 0, "array_len": 10 ** 9})
    got = _read_desc(_small_values(), desc)
    assert isinstance(got, CompatError) and "size must be a positive integer, not 0" in str(got)
    desc["devices"][0]["fields"][0]["size"] = 1
    got = _read_desc(_small_values(), desc)
    assert isinstance(got, CompatError) and "bytes are left in the stream" in str(got)


@pytest.mark.parametrize("body", [
    b'{"page_size": 4096, "devices": [' + b"{}," * 300_000 + b"{}]}",
    b'{"page_size": 4096, "devices": [' + b'{"name": "a"},' * 400_000 + b"{}]}",
    b'{"devices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"devices": [], "x": "' + b"a" * (5 << 20) + b'"}'])
def test_description_bytes_and_objects_are_bounded(body):
    got = _read_desc(_small_values(), body)
    assert isinstance(got, CompatError), got
    assert any(word in str(got) for word in ("MiB", "objects", "nests too deeply")), got


@pytest.mark.parametrize("shape", [
    {"devices": 5}, {"devices": [{"name": "cpu", "instance_id": 0, "fields": 5}]},
    {"devices": [{"name": "cpu", "instance_id": 0, "subsections": [5]}]},
    {"devices": [{"name": "cpu", "instance_id": "abc"}]},
    {"devices": [{"name": "cpu", "instance_id": None}]}, {"devices": [{"name": ["cpu"]}]},
    {"page_size": "abc", "devices": []}, {"page_size": 0, "devices": []},
    {"devices": [{"name": "cpu", "instance_id": 0,
                  "fields": [{"name": "f", "size": float("inf")}]}]}])
def test_listed_description_shapes_are_errors(shape):
    got = _read_desc(_small_values(), shape)
    assert isinstance(got, CompatError), got


def test_cpreg_fields_with_array_len_zero():
    values = _small_values()
    desc = description_of(values)
    for field in desc["devices"][0]["fields"][2:]:
        field["array_len"] = 0
    got = _read_desc(values, desc)
    assert isinstance(got, CompatError) and "cpreg_vmstate_array_len is 3" in str(got)


def test_gzip_of_a_padded_description_stays_small(tmp_path):
    """The review's 245 KB file: a gzipped description padded with empty
    objects (scaled to 8 M of them); refused by size, before json.loads."""
    values = _small_values()
    head = write_stream(values, vmdesc=False)
    desc = b'{"page_size": 4096, "devices": [' + b"{}," * 8_000_000 + b"{}]}"
    path = tmp_path / "n1-linux-6.12.qevm.gz"
    path.write_bytes(gzip.compress(head + b"\x06" + struct.pack(">I", len(desc)) + desc, 9))
    res = run_inproc("check", str(path), DST_612)
    assert res.rc == 1 and "more than the 4 MiB" in res.err, res
    assert res.err.startswith(f"{path}:0x"), res.err


# -- the stream fuzzer (slow) ----------------------------------------------------

FUZZ_SEED = 20260420
FUZZ_RUNS = 2000


def _fuzz_seeds() -> list[Path]:
    return sorted(STREAMS.glob("*.qevm.gz")) + sorted(REAL.glob("*/*.qevm.gz"))


@pytest.mark.slow
def test_stream_fuzzer_finds_no_crash_hang_or_bloat():
    """Mutate the real streams (fixed seed, bounded count) and read every
    mutant in a subprocess: only located CompatErrors or a list, no run
    over 10 s, peak RSS under 512 MiB (VmHWM there)."""
    import subprocess
    import sys
    seeds = _fuzz_seeds()
    assert len(seeds) >= 6
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "stream_fuzz.py"),
                           str(FUZZ_RUNS), str(FUZZ_SEED), *map(str, seeds)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["unexpected"] == [], report["unexpected"][:20]
    assert report["runs"] == FUZZ_RUNS and report["outcomes"]["error"] > FUZZ_RUNS // 10, report
    assert report["slowest"][0] < 10, report["slowest"]
    assert report["rss_mib"] < 512, report["rss_mib"]


@pytest.mark.slow
def test_mutated_streams_through_the_cli(tmp_path, compat_cli):
    """A sample of the fuzzer's mutants through ``compat check`` in a
    subprocess: never exit 2 or 3, never a traceback, errors located."""
    import random
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from stream_fuzz import Seed, mutate
    rng = random.Random(FUZZ_SEED)
    seeds = [Seed(gzip.decompress(p.read_bytes())) for p in _fuzz_seeds()]
    for run in range(12):
        path = tmp_path / f"n1-linux-6.12-{run}.qevm"
        path.write_bytes(mutate(rng, rng.choice(seeds)))
        res = compat_cli("check", str(path), DST_612)
        assert "Traceback" not in res.err and "internal error" not in res.err, res.err
        if " error: " in res.err:          # refused: exit 1, located in the stream
            assert res.rc == 1 and res.err.startswith(f"{path}:0x"), (run, res)
        else:                                # read: the verdict decides the status
            verdict = res.out.splitlines()[0]
            assert res.rc == (0 if ": ok, assuming " in verdict else 1), (run, res)
            assert res.rc == 0 or "FAIL" in res.out, (run, res)


def test_index_name_lines_are_not_a_value_list():
    """Two columns whose second is a name are log text (trace), not values."""
    text = "0x603000000013c103 TCR2_EL1\n0x603000000013c512 PIRE0_EL1\n"
    got = parse_reglist(text, "names.txt", kernel="6.12")
    assert got.format == "trace" and got.values is None and len(got.indices) == 2


# -- .idregs files (issue 24): every bad line located --------------------------

IDREGS_HELD = ROOT / "tests" / "data" / "real"
IDREGS_LIST = "qemu11.1-max-linux-6.17.13+deb13"

#: (what replaces the first register line, words of the error)
IDREGS_CORRUPT = [
    ("0x603000000013c000 0x0", "expected 'INDEX VALUE MASK'"),
    ("0x603000000013c000 0x0 0x0 0x0", "expected 'INDEX VALUE MASK'"),
    ("0x603000000013c000 zz 0x0", "zz"),
    ("0x603000000013c000 0x0 -", "MASK is '-'"),
    ("0x603000000013c000 0x0 0x0 # ok", "expected 'INDEX VALUE MASK'"),
    ("0x603000000013c000 0x10000000000000000 0x0", "does not fit in 64 bits"),
    ("0x603000000013c103 0x0 0x0", "not in the feature ID range"),
    ("0x6030000000140000 0x0 0x0", "not in the feature ID range"),
    ("0xff3000000013c000 0x0 0x0", "not a KVM register index"),
]


def _idregs_copy(tmp_path: Path, edit) -> Path:
    for suffix in (".reglist", ".idregs"):
        text = (IDREGS_HELD / (IDREGS_LIST + suffix)).read_text()
        if suffix == ".idregs":
            text = edit(text)
        (tmp_path / (IDREGS_LIST + suffix)).write_text(text)
    return tmp_path / (IDREGS_LIST + ".reglist")


@pytest.mark.parametrize("line, words", IDREGS_CORRUPT, ids=[w for _, w in IDREGS_CORRUPT])
def test_corrupt_idregs_line_is_located(tmp_path, line, words):
    first = next(l for l in (IDREGS_HELD / (IDREGS_LIST + ".idregs")).read_text().splitlines()
                 if l.startswith("0x603000000013c000 "))
    path = _idregs_copy(tmp_path, lambda t: t.replace(first, line, 1))
    number = next(i for i, l in enumerate(
        (tmp_path / (IDREGS_LIST + ".idregs")).read_text().splitlines(), 1) if l == line)
    with pytest.raises(CompatError) as info:
        read_reglist(path)
    text = info.value.format()
    assert text.startswith(f"{tmp_path / (IDREGS_LIST + '.idregs')}:{number}: error: "), text
    assert words in text, text


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("# entries: 62", "# entries: 61"), "holds 62: is it truncated"),
    (lambda t: t.replace("# entries: 62\n", ""), "no '# entries: N' header"),
    (lambda t: t.replace("# writable-masks: yes", "# writable-masks: maybe"), "expected 'yes'"),
    (lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("# writable-masks"))
     + "\n", "writable-masks"),
    (lambda t: t.replace("# kernel: 6.17.13+deb13-arm64", "# kernel: 6.16.12"),
     "differs from its list's"),
    (lambda t: t.replace("# format: compat-idregs 1", "# format: compat-idregs 2"),
     "expected '# format: compat-idregs 1' first"),
    (lambda t: "\n".join(t.splitlines()[:-5]) + "\n", "truncated"),
    (lambda t: t + "\x00\x01garbage\n", "binary data"),
], ids=["count", "no-count", "masks-word", "no-masks", "kernel", "version", "cut", "binary"])
def test_bad_idregs_headers_are_errors_not_guesses(tmp_path, edit, words):
    path = _idregs_copy(tmp_path, edit)
    with pytest.raises(CompatError) as info:
        read_reglist(path)
    text = info.value.format()
    assert text.startswith(f"{tmp_path / (IDREGS_LIST + '.idregs')}:"), text
    assert words in text, text


def test_bad_idregs_in_the_cli_exits_1(tmp_path):
    path = _idregs_copy(tmp_path, lambda t: t.replace("# entries: 62", "# entries: 9"))
    dst = str(IDREGS_HELD / "qemu11.1-max-linux-6.16.12+deb13.reglist")
    res = run_inproc("check", str(path), dst)
    assert res.rc == 1 and "Traceback" not in res.err, res


def test_unsorted_idregs_are_located_at_the_second_line(tmp_path):
    def swap(text):
        lines = text.splitlines()
        first = next(i for i, l in enumerate(lines) if not l.startswith("#"))
        lines[first], lines[first + 1] = lines[first + 1], lines[first]
        return "\n".join(lines) + "\n"
    path = _idregs_copy(tmp_path, swap)
    text = (tmp_path / (IDREGS_LIST + ".idregs")).read_text().splitlines()
    second = next(i for i, l in enumerate(text, 1) if not l.startswith("#")) + 1
    with pytest.raises(CompatError) as info:
        read_reglist(path)
    assert f".idregs:{second}: error: " in info.value.format()
    assert "out of order" in info.value.format()
