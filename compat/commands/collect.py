"""``compat collect``: this arm64 host's vCPU register list, from KVM."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

_EPILOG = """\
Runs on an arm64 host with /dev/kvm.  The vCPU gets what QEMU's -cpu host
would give it: PSCI 0.2, and PMU v3, SVE and pointer authentication where
KVM supports them; EL2 (nested virtualization, like -M virt,virtualization=on)
only with --el2.  The list goes to stdout, or to FILE with -o.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _EPILOG
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the list here")
    parser.add_argument("--host", metavar="NAME", help="host name for the header (default: this "
                        "machine's name)")
    parser.add_argument("--pmu", choices=("on", "off"), default="on", help="PMU v3 (like pmu=off)")
    parser.add_argument("--sve", choices=("on", "off"), default="on", help="SVE (like sve=off)")
    parser.add_argument("--pauth", choices=("on", "off"), default="on",
                        help="pointer authentication (like pauth=off)")
    parser.add_argument("--el2", action="store_true",
                        help="nested virtualization: vCPU with EL2 (fails if KVM cannot)")
    parser.add_argument("--device", default="/dev/kvm", metavar="PATH", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import platform
    from compat import collector as c
    from compat.core.diagnostics import COMMAND_LINE, CompatError, shown
    from compat.lab.errors import lab_error

    if args.host is not None and shown(args.host) != args.host:
        # a newline would start a line of its own in the list's header
        raise CompatError.at(COMMAND_LINE, f"--host {shown(args.host)!r} holds a control "
                             "character", hint="give a host name on one line")
    want = ["psci-0.2"]
    if args.pmu == "on":
        want.append("pmu-v3")
    if args.sve == "on":
        want.append("sve")
    if args.pauth == "on":
        want.append("ptrauth")
    required = ["psci-0.2"] + (["el2"] if args.el2 else [])
    try:
        c.check_arch()
        indices, enabled, target = c.collect(want, required=required, dev=args.device)
    except c.CollectError as exc:
        raise lab_error(exc.message, exc.hint, "compat collect") from None
    midr = c.read_midr()
    text = c.format_list(indices, kernel=platform.release(), host=args.host or socket.gethostname(),
                         cpu=f"MIDR {midr}" if midr else None, features=enabled,
                         extra={"vcpu-target": target, "collected-by": "compat collect"})
    if args.output:
        from compat.output import write_file
        write_file(args.output, text)  # atomic, like every file compat writes
        print(f"{args.output}: {len(indices)} registers")
    else:
        print(text, end="")
    return 0
