"""The measured table of ID register fields that differ between consecutive
Debian kernels on one lab host, from the ``.idregs`` files in
tests/data/real/ (format ``compat-idregs 1``, docs/lab.md).

    python3 tests/idregs_table.py [HOST...]     # default: qemu7.2-max qemu11.1-max

prints one Markdown table per host: register, field (bits, and its name
where the Arm ARM names it here), the older and the newer kernel's value,
the kernel that changes it, and whether each kernel lets userspace write
the field (its writable mask; ``-`` before Linux 6.8, which has none).
A test-side helper: the registry's facts and the docs are idmodel's.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
HOSTS = ("qemu7.2-max", "qemu11.1-max")

#: (register, lowest bit of a 4-bit group) -> the field(s) there (Arm ARM,
#: Linux's arch/arm64/tools/sysreg), for the fields this table has shown to change
FIELD_NAMES = {
    ("ID_AA64MMFR3_EL1", 0): "TCRX", ("ID_AA64MMFR3_EL1", 4): "SCTLRX",
    ("ID_AA64MMFR3_EL1", 8): "S1PIE", ("ID_AA64MMFR3_EL1", 12): "S2PIE",
    ("ID_AA64MMFR3_EL1", 16): "S1POE", ("ID_AA64MMFR3_EL1", 20): "S2POE",
    ("ID_AA64PFR2_EL1", 32): "FPMR",
    ("ID_AA64FPFR0_EL1", 0): "F8E4M3, F8E5M2 (bits 1, 0)",
    ("ID_AA64FPFR0_EL1", 24): "F8MM8, F8MM4 (bits 27, 26)",
    ("ID_AA64FPFR0_EL1", 28): "F8CVT, F8FMA, F8DP4, F8DP2 (bits 31..28)",
    ("ID_AA64DFR0_EL1", 0): "DebugVer", ("ID_AA64DFR0_EL1", 8): "PMUVer",
    ("ID_DFR0_EL1", 24): "PerfMon",
    ("ID_AA64ISAR1_EL1", 56): "XS",
    ("ID_AA64ISAR2_EL1", 16): "MOPS", ("ID_AA64ISAR2_EL1", 52): "CSSC",
    ("ID_AA64ISAR2_EL1", 56): "LUT", ("ID_AA64ISAR2_EL1", 60): "ATS1A",
    ("ID_AA64ISAR3_EL1", 4): "FAMINMAX", ("ID_AA64ISAR3_EL1", 28): "FPRCVT",
    ("ID_AA64MMFR1_EL1", 40): "HCX", ("ID_AA64MMFR2_EL1", 24): "NV",
}
#: registers not made of 4-bit feature fields: one row with the whole values
WHOLE = {"CLIDR_EL1", "CTR_EL0", "MIDR_EL1", "MPIDR_EL1", "REVIDR_EL1", "AIDR_EL1", "DCZID_EL0"}


def read_idregs(path: Path) -> tuple[dict, dict[int, tuple[int, int | None]]]:
    """Headers and ``{index: (value, mask or None)}`` of one ``.idregs`` file."""
    head, rows = {}, {}
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            head[key] = value
        elif line.strip():
            index, value, mask = line.split()
            rows[int(index, 16)] = (int(value, 16), None if mask == "-" else int(mask, 16))
    assert head.get("format") == "compat-idregs 1" and int(head["entries"]) == len(rows), path
    return head, rows


def _release(path: Path) -> tuple[int, ...]:
    abi = path.name.split("-linux-", 1)[1].rsplit(".idregs", 1)[0]
    return tuple(int(x) for x in abi.split("+")[0].split("-")[0].split(".")[:2])


def register_name(index: int) -> str:
    from compat.core.sysreg_names import names
    enc = (index >> 14 & 3, index >> 11 & 7, index >> 7 & 15, index >> 3 & 15, index & 7)
    return names().sysreg.get(enc) or "S%d_%d_C%d_C%d_%d" % enc


def _writable(mask: int | None, shift: int) -> str:
    return "-" if mask is None else ("yes" if mask >> shift & 0xF == 0xF else
                                     "no" if mask >> shift & 0xF == 0 else f"bits {mask >> shift & 0xF:#x}")


def field_changes(host: str, real: Path = REAL) -> list[dict]:
    """Every 4-bit field that differs between consecutive kernels' ``.idregs``
    of ``host``, as dicts (register, bits, field, old, new, kernels, writable)."""
    files = sorted(real.glob(f"{host}-linux-*.idregs"), key=_release)
    out = []
    for old_path, new_path in zip(files, files[1:]):
        (_, old), (_, new) = read_idregs(old_path), read_idregs(new_path)
        for index in sorted(old.keys() | new.keys()):
            if index not in old or index not in new:
                out.append({"register": register_name(index), "bits": "all", "field": "",
                            "old": old.get(index, ("absent",))[0], "new": new.get(index, ("absent",))[0],
                            "from": old_path.name, "to": new_path.name, "w_old": "", "w_new": ""})
                continue
            (ov, om), (nv, nm) = old[index], new[index]
            if register_name(index) in WHOLE:
                if ov != nv:
                    out.append({"register": register_name(index), "bits": "all", "field": "",
                                "old": f"{ov:#x}", "new": f"{nv:#x}", "from": old_path.name,
                                "to": new_path.name, "w_old": "-" if om is None else f"{om:#x}",
                                "w_new": "-" if nm is None else f"{nm:#x}"})
                continue
            for shift in range(0, 64, 4):
                a, b = ov >> shift & 0xF, nv >> shift & 0xF
                if a != b:
                    name = register_name(index)
                    out.append({"register": name, "bits": f"[{shift + 3}:{shift}]",
                                "field": FIELD_NAMES.get((name, shift), ""), "old": a, "new": b,
                                "from": old_path.name, "to": new_path.name,
                                "w_old": _writable(om, shift), "w_new": _writable(nm, shift)})
    return out


def _kernel(name: str) -> str:
    return name.split("-linux-", 1)[1].rsplit(".idregs", 1)[0]


def markdown(host: str, rows: list[dict]) -> str:
    lines = [f"### {host}", "",
             "| from -> to | register | bits | field | old | new | writable (old kernel) | writable (new kernel) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_kernel(r['from'])} -> {_kernel(r['to'])} | {r['register']} | {r['bits']} "
                     f"| {r['field']} | {r['old']} | {r['new']} | {r['w_old']} | {r['w_new']} |")
    if not rows:
        lines.append("| (no field differs) | | | | | | | |")
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    for host in argv or HOSTS:
        print(markdown(host, field_changes(host)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
