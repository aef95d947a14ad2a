"""Mutate real migration streams and read each mutant in-process; run as a
script by tests/test_hostile_readers.py (a subprocess, so its peak RSS is
its own).  Prints one JSON object: runs, outcomes, the slowest run, peak
RSS, and every unexpected exception."""

from __future__ import annotations

import gzip
import json
import random
import resource
import struct
import sys
import time
from pathlib import Path

from compat.analysis import readers
from compat.analysis.readers.base import Source
from compat.core.diagnostics import CompatError

EXTREMES = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 8, 4096)


class Seed:
    """A stream to mutate, with the offsets worth aiming at."""

    def __init__(self, data: bytes):
        self.data = data
        start = data.rfind(b'{"page_size"')
        self.digits = [i for i in range(max(start, 0), len(data)) if 48 <= data[i] <= 57] \
            if start > 0 else []
        self.heads = [i for i in range(len(data) - 1)
                      if data[i] in (1, 4) and data[i + 1] == 0][:2000]


def mutate(rng: random.Random, seed: Seed) -> bytes:
    """One mutation of a seed stream (byte flips, extreme 32-bit fields,
    cuts, splices, JSON edits, section types)."""
    data = seed.data
    out = bytearray(data)
    kind = rng.randrange(7)
    at = rng.randrange(len(out))
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == 1:
        out[at:at + 4] = struct.pack(">I", rng.choice(EXTREMES))
    elif kind == 2:
        del out[at:]
    elif kind == 3:
        other = rng.randrange(len(out))
        out[at:at] = out[other:other + rng.randint(1, 4096)]
    elif kind == 4:
        del out[at:at + rng.randint(1, 4096)]
    elif kind == 5 and seed.digits:   # a number inside the JSON VM description
        i = rng.choice(seed.digits)
        out[i:i + 1] = rng.choice([b"0", b"-1", b"99999999999", b"1e400", b'"x"', b"null"])
    elif seed.heads:                  # a section header byte
        out[rng.choice(seed.heads)] = rng.choice((0, 2, 3, 5, 6, 7, 8, 0x7E, 0xFF))
    return bytes(out)


def peak_rss_kib() -> int:
    """This process's own peak RSS.  Linux's ``ru_maxrss`` survives fork and
    exec (a child of a 600 MiB pytest reports 600 MiB before doing
    anything), so read the address space's high-water mark, VmHWM, which
    exec resets; ``ru_maxrss`` where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(count: int, seed: int, paths: list[str]) -> dict:
    rng = random.Random(seed)
    streams = [Seed(gzip.decompress(Path(p).read_bytes())) for p in paths]
    outcomes = {"read": 0, "error": 0}
    unexpected = []
    slowest = (0.0, "")
    for run in range(count):
        which = rng.randrange(len(streams))
        data = mutate(rng, streams[which])
        started = time.monotonic()
        try:
            readers.read(Source(f"m{run}.qevm", data))
            outcomes["read"] += 1
        except CompatError as exc:
            outcomes["error"] += 1
            if not exc.format().startswith(f"m{run}.qevm"):
                unexpected.append(f"run {run}: unlocated: {exc.format()[:200]}")
        except Exception as exc:  # noqa: BLE001 - the point of the fuzzer
            unexpected.append(f"run {run} ({paths[which]}): {type(exc).__name__}: {exc}"[:300])
        took = time.monotonic() - started
        slowest = max(slowest, (took, f"run {run}"))
    rss_kib = peak_rss_kib()
    return {"runs": count, "outcomes": outcomes, "slowest": slowest, "rss_mib": rss_kib / 1024,
            "unexpected": unexpected}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])))
