"""``compat lab``: real Debian arm64 kernels under QEMU, on any machine."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
subcommands:
  kernels               list the Debian arm64 kernels the archive offers
  collect VERSION...    boot each kernel under QEMU (TCG, EL2 emulated) with
                        compat's collector inside and write its register list
  merge DIR...          join the results of sharded runs (--shard K/N)
  migrate CASE...       migrate a KVM vCPU with a real arm64 QEMU (Debian's
                        qemu-system-arm: 11.1 from sid, 10.0 from trixie) from
                        one real kernel to another; --matrix oracle runs the
                        cases of tests/data/real-migrations

The lab reaches Debian's archive through apt with a private configuration
in its cache directory (default $XDG_CACHE_HOME/compat-lab); the archive's
address is read from this machine's apt sources, which are never changed.
Needs apt, dpkg, cpio and qemu-system-aarch64 (package qemu-system-arm).

example:
  compat lab kernels
  compat lab collect 6.1.0-50 7.3.4+deb13 -o lists/
  compat lab collect --qemu-suite bookworm-backports 7.3.4+deb13 -o lists/
  compat lab migrate 6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0 -o results/
  compat lab migrate --matrix oracle -o tests/data/real-migrations
  compat lab migrate --matrix oracle --shard 2/4 -o shard-2   # one of 4 CI jobs
  compat lab merge shard-1 shard-2 shard-3 shard-4 -o results

-cpu max gets pauth-impdef=on where the QEMU has it (--pauth-impdef).
See docs/lab.md.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _EPILOG
    sub = parser.add_subparsers(dest="lab_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True
    k = sub.add_parser("kernels", help="list the Debian arm64 kernels the archive offers")
    k.add_argument("--cache", type=Path, metavar="DIR", help="cache directory")
    k.add_argument("--refresh", action="store_true", help="update the package lists now")
    c = sub.add_parser("collect", help="collect real register lists of Debian arm64 kernels")
    c.add_argument("versions", nargs="+", metavar="VERSION",
                   help="Debian kernel ABI, as 'compat lab kernels' shows it (7.3.4+deb13)")
    c.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="directory for the <host>-linux-<version>.reglist files")
    c.add_argument("--cpu", default="max", metavar="MODEL", help="QEMU -cpu model (default: max)")
    _host_options(c)
    c.add_argument("--features", default="psci-0.2,pmu-v3", metavar="LIST",
                   help="vCPU features: psci-0.2, pmu-v3, sve, ptrauth, el2, or none "
                   "(default: psci-0.2,pmu-v3); el2 boots the kernel with kvm-arm.mode=nested "
                   "and needs a host QEMU with FEAT_NV2 (10.0 or later, -cpu max)")
    c.add_argument("--host", metavar="NAME", help="host name in the list (default: qemuX.Y-CPU)")
    _boot_options(c, timeout=300, what="per boot")
    m = sub.add_parser("migrate", help="real QEMU migrations between real kernels")
    m.add_argument("cases", nargs="*", metavar="CASE",
                   help="SRC:DST[:QEMU[:MACHINE[:SRC_CPU[:DST_CPU]]]]: Debian kernel ABIs, "
                   "QEMU 11.1 or 10.0 (default 11.1), machine type (default virt-11.0; "
                   "virt-X.Y,virtualization=on: a nested vCPU with EL2), "
                   "-cpu values (default host), '-' keeps a default; e.g. "
                   "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host,kvm-psci-version=1.1")
    m.add_argument("--matrix", choices=["oracle", "nested"],
                   help="run a named matrix of cases (nested: vCPUs with EL2, MACHINE "
                   "virt-11.0,virtualization=on, guest kernels in kvm-arm.mode=nested; "
                   "needs a host QEMU with FEAT_NV2, e.g. --qemu-suite trixie-backports)")
    m.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="results directory (one subdirectory per case)")
    _host_options(m)
    _boot_options(m, timeout=600,
                  what="per guest boot; the inner QEMU gets this less 120 s")
    g = sub.add_parser("merge", help="join the results of sharded runs (--shard K/N) into one")
    g.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="output directories of the shards (of lab collect or lab migrate)")
    g.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="directory for the joined results (the files one unsharded run writes)")


def _host_options(parser: argparse.ArgumentParser) -> None:
    """Which QEMU boots the guests (TCG), for collect and migrate alike."""
    parser.add_argument("--qemu", metavar="PATH",
                        help="the host's qemu-system-aarch64 (default: on PATH)")
    parser.add_argument("--qemu-suite", metavar="SUITE",
                        help="run qemu-system-arm of this Debian suite instead of the system's "
                        "(e.g. bookworm-backports: QEMU 10.0, sid: 11.1), downloaded and "
                        "unpacked into the cache and run with the system QEMU's modules "
                        "hidden (unshare -m)")
    parser.add_argument("--pauth-impdef", choices=("auto", "on", "off"), default="auto",
                        help="add pauth-impdef=on to -cpu max (cheap pointer authentication "
                        "under TCG: the same register list, 2-5x less CPU per boot on QEMU 7.2): "
                        "auto where the QEMU has the property (default), on (required), off")


def _boot_options(parser: argparse.ArgumentParser, *, timeout: float, what: str) -> None:
    """What every lab command that boots guests takes: cache, timeout, jobs."""
    parser.add_argument("--cache", type=Path, metavar="DIR", help="cache directory")
    parser.add_argument("--timeout", type=float, default=timeout, metavar="SECONDS",
                        help=f"{what} (default: {timeout:g})")
    parser.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                        help="boots at once (default: 2)")
    parser.add_argument("--shard", metavar="K/N",
                        help="run only the K-th of N deterministic pieces of the work (K from "
                        "1), for N CI jobs; join their outputs with 'compat lab merge'")


def run(args: argparse.Namespace) -> int:
    from compat.lab.apt import PrivateApt, default_cache
    from compat.collector import CollectError
    from compat.lab.errors import lab_error

    if args.lab_command == "kernels":
        from compat.lab import kernels
        apt = PrivateApt(args.cache or default_cache())
        if args.refresh:
            apt.update(force=True)
        rows = kernels.available(apt)
        if not rows:
            raise lab_error("the archive offers no arm64 kernel (see the apt sources)")
        width = max(len(k.abi) for k in rows)
        print(f"{'VERSION':<{width}}  {'RELEASE':<7}  {'SUITE':<18}  PACKAGE (VERSION)")
        for k in rows:
            print(f"{k.abi:<{width}}  {k.release_text:<7}  {k.suite:<18}  {k.package} ({k.version})")
        return 0
    if args.lab_command == "merge":
        from compat.lab.merge import merge
        m = merge(args.dirs, args.output)
        print(f"{args.output}: {m.files} files from {m.directories} directories"
              + (f" ({m.shards})" if m.shards else ""))
        return 0
    from compat.lab.shard import parse as parse_shard
    shard = parse_shard(args.shard)
    if args.lab_command == "migrate":
        from compat.lab import migrate
        cases = [migrate.parse_case(c) for c in args.cases]
        if args.matrix:
            cases += migrate.matrix(args.matrix)
        if not cases:
            raise lab_error("no case given", "name cases (SRC:DST[:QEMU[:MACHINE[:CPU]]]) or --matrix oracle")
        done = migrate.migrate(cases, args.output, cache=args.cache, qemu=args.qemu,
                               qemu_suite=args.qemu_suite, pauth_impdef=args.pauth_impdef,
                               timeout=args.timeout, jobs=args.jobs, shard=shard)
        return 0 if done or shard else 1
    from compat.lab import collect
    try:
        done = collect.collect(args.versions, args.output, cpu=args.cpu, qemu=args.qemu,
                               features=args.features, host=args.host, cache=args.cache,
                               timeout=args.timeout, jobs=args.jobs,
                               qemu_suite=args.qemu_suite, pauth_impdef=args.pauth_impdef,
                               shard=shard)
    except CollectError as exc:
        raise lab_error(exc.message, exc.hint) from None
    for c in done:
        print(f"{c.path}: {c.entries} registers (linux {c.kernel.abi}, {c.seconds:.1f} s)")
    return 0
