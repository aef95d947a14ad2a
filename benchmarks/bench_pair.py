"""Paired A/B of ``compat build``: two installs (e.g. the previous commit
and this one, each in its own venv), alternating on the same registry, in
one sitting.  Each run reports wall seconds, CPU seconds of the process
(user + sys, from ``os.wait4``), its peak RSS and the 1-minute load
average at its start, so a figure from a busy shared machine can be read
(CPU time moves much less with load than wall time does).  Outputs of the
two installs must be byte-identical.  Each install's optional compiled
packages (``jsonschema-rs``, ``tomli``) are printed first: without
``jsonschema-rs`` every registry is validated by the pure-Python
``jsonschema``.

The host's own speed moves: on this shared 2-CPU machine the same build of
the same install has taken from 2.0 to 3.8 s of wall within an hour, with
the guest's load average under 1 (contention the guest does not see).  So
the runs are framed by a reference the project's issue 23 quoted: the
parse of the registry by the compiled ``tomli`` and by the standard
library's ``tomllib`` (minimum of 3, in the new install's interpreter),
measured before the first run and after the last; the issue measured 0.25
and 0.53 s for the 10k registry.  A build's figures are worth comparing
with another sitting's only at a similar reference.

    python benchmarks/gen_registry.py --registers 10000 -o /tmp/r10k.toml
    python benchmarks/bench_pair.py --old /tmp/venv-old/bin/python \\
        --new /tmp/venv-new/bin/python -r /tmp/r10k.toml --runs 5
    # one install, docs rendered in one process against two:
    python benchmarks/bench_pair.py --old PY --new PY --old-env COMPAT_RENDER_PROCESSES=1 ...
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_help import machine  # noqa: E402


def one_build(python: str, registry: Path, out: Path,
              env: dict[str, str] | None = None) -> dict[str, float]:
    """Build ``registry`` into the fresh directory ``out`` with ``python``
    (and ``env`` added to the environment); wall and CPU seconds (of the
    build and the processes it waited for: the docs' child), peak RSS (MiB,
    the largest of them), the load average at the start."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    # from a neutral directory, so a checkout in the current one is not imported
    proc = subprocess.Popen([python, "-m", "compat", "build", "-r", str(registry),
                             "-o", str(out)], cwd=out.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{python}: build failed:\n{err[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss / 1024, "load": load}


#: Optional compiled packages that change a build's speed: the JSON Schema
#: validity check (``compat[fast]``) and the TOML parser (tomllib without it).
ACCELERATORS = ("jsonschema-rs", "tomli")


def accelerators(python: str) -> str:
    """Which of :data:`ACCELERATORS` ``python`` has installed, with versions."""
    code = ("import importlib.metadata as m\n"
            f"for name in {ACCELERATORS!r}:\n"
            "    try:\n        print(f'{name} {m.version(name)}')\n"
            "    except m.PackageNotFoundError:\n        print(f'{name} NOT installed')")
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return ", ".join(found.stdout.split("\n")[:-1])


#: The reference: each parser's best of three parses of the registry.
HOST_SPEED = """
import sys, time, tomli, tomllib
text = open(sys.argv[1], encoding="utf-8").read()
for parser in (tomli, tomllib):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        parser.loads(text)
        times.append(time.perf_counter() - start)
    print(f"{parser.__name__} {min(times):.3f} s", end="  ")
"""


def host_speed(python: str, registry: Path) -> str:
    """The reference parse times (:data:`HOST_SPEED`) on this host, now."""
    found = subprocess.run([python, "-c", HOST_SPEED, str(registry)], capture_output=True,
                           text=True, check=True)
    return found.stdout.strip()


def same_tree(a: Path, b: Path) -> bool:
    """Whether two output directories hold the same files, byte for byte."""
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    if names != sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()):
        return False
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    return not mismatch and not errors


def main(argv: list[str] | None = None) -> int:
    """Run the paired benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="python of the previous install")
    parser.add_argument("--new", required=True, help="python of the new install")
    parser.add_argument("-r", "--registry", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-env", action="append", default=[], metavar="NAME=VALUE",
                        help="set in the old builds' environment (repeatable); e.g. the same "
                        "install with and without COMPAT_RENDER_PROCESSES=1")
    parser.add_argument("--new-env", action="append", default=[], metavar="NAME=VALUE",
                        help="set in the new builds' environment (repeatable)")
    args = parser.parse_args(argv)
    envs = {"old": dict(e.split("=", 1) for e in args.old_env),
            "new": dict(e.split("=", 1) for e in args.new_env)}
    print(f"machine: {machine()}")
    print(f"registry: {args.registry} ({args.registry.stat().st_size / 1e6:.1f} MB)")
    for which in ("old", "new"):
        print(f"{which}: {getattr(args, which)} ({accelerators(getattr(args, which))})")
    print(f"host speed before: {host_speed(args.new, args.registry)} "
          "(issue 23's reference: tomli 0.25 s, tomllib 0.53 s at 10k)", flush=True)
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for which in order:
                out = Path(tmp) / f"{which}-{i}"
                run = one_build(getattr(args, which), args.registry, out, envs[which])
                results[which].append(run)
                print(f"  run {i + 1} {which}: wall {run['wall']:6.2f} s  cpu {run['cpu']:6.2f} s"
                      f"  rss {run['rss']:7.1f} MiB  load {run['load']:.2f}", flush=True)
        identical = same_tree(Path(tmp) / "old-0", Path(tmp) / "new-0")
    med = {w: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "rss")}
           for w, rs in results.items()}
    for which in ("old", "new"):
        m = med[which]
        print(f"{which}: median wall {m['wall']:.2f} s, cpu {m['cpu']:.2f} s, "
              f"peak RSS {m['rss']:.0f} MiB")
    print(f"new/old: wall {med['new']['wall'] / med['old']['wall']:.2f}x, "
          f"cpu {med['new']['cpu'] / med['old']['cpu']:.2f}x")
    print(f"host speed after: {host_speed(args.new, args.registry)}")
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"load average during the runs: {min(loads):.2f}-{max(loads):.2f}")
    print(f"outputs byte-identical: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
