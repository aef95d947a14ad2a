"""``--shard K/N``: one deterministic Nth of a lab run, for CI machines in parallel.

The work items (kernel versions for ``lab collect``, case names for ``lab
migrate``) are put in sorted order, duplicates dropped, and item ``i`` goes
to shard ``i mod N + 1``.  The split depends only on the set of items and
on N, never on the order they were given in or on the machine, so every
CI job computes the same split; shards 1..N together hold every item once,
and their sizes differ by at most one.  Sorting keeps items of one kernel
next to each other, so the round robin spreads the slow kernels over all
shards.

A sharded run writes, beside its results, ``.compat-shard-K-of-N.json``
(which shard, every item of the whole run, this shard's items and the files
it wrote); ``compat lab merge`` (:mod:`compat.lab.merge`) reads it to check
that every shard is there before it joins them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from compat.core.diagnostics import COMMAND_LINE, CompatError
from compat.output import write_file

MARKER_GLOB = ".compat-shard-*-of-*.json"
_MARKER = re.compile(r"^\.compat-shard-(\d+)-of-(\d+)\.json$")


@dataclass(frozen=True)
class Shard:
    index: int   # K, from 1
    count: int   # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def marker_name(self) -> str:
        return f".compat-shard-{self.index}-of-{self.count}.json"


def parse(text: str | None) -> Shard | None:
    """``K/N`` (1 <= K <= N) as a :class:`Shard`; None for None; a
    ``<command line>`` error (exit 2) for anything else."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise CompatError.at(COMMAND_LINE, f"--shard '{text}': expected K/N (e.g. 2/4)",
                             hint="K counts from 1: --shard 1/4 .. --shard 4/4")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise CompatError.at(COMMAND_LINE, f"--shard '{text}': K must be 1..N and N at least 1",
                             hint=f"for N = {max(n, 1)}: --shard 1/{max(n, 1)} .. "
                             f"--shard {max(n, 1)}/{max(n, 1)}")
    return Shard(k, n)


def split(names, shard: Shard | None) -> list[str]:
    """The items of ``names`` that belong to ``shard`` (all of them for None),
    duplicates dropped, in the order given: which shard an item falls to
    depends on the sorted items only."""
    given = list(dict.fromkeys(names))
    if shard is None:
        return given
    mine = {name for i, name in enumerate(sorted(given)) if i % shard.count == shard.index - 1}
    return [name for name in given if name in mine]


def write_marker(out_dir: Path, shard: Shard, command: str, every: list[str],
                 mine: list[str], files: list[str]) -> Path:
    """Record what shard ``shard`` of ``command`` did in ``out_dir``."""
    data = {"command": command, "shard": shard.index, "of": shard.count,
            "items": sorted(set(every)), "shard_items": sorted(mine),
            "files": sorted(set(files)), "made_by": "compat lab --shard"}
    path = Path(out_dir) / shard.marker_name
    write_file(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def is_marker(name: str) -> bool:
    return bool(_MARKER.match(name))
