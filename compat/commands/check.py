"""``compat check``: simulate one migration between two register lists."""

from __future__ import annotations

import argparse

from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                    kernel_for, open_loaded, print_json, read_list)
from compat.core.style import echo

_EPILOG = """\
rules:
  compat-props  the machine type's x-mig-hidden-regs / x-mig-safe-missing-regs
                (default when --machine is given); a feature the machine type
                must refuse fails with the guard's message
  tolerances    QEMU's cpreg migration tolerances for every register the
                registry implies (what compat's mig-tolerances output adds)
  qemu-11.1     only the tolerances QEMU 11.1 ships (TCR2_EL1, PIRE0_EL1,
                PIR_EL1, BMAP_2): what a stock 11.1 does
  none          plain QEMU without rules (default without --machine)

Register lists: one hex index per line (KVM_GET_REG_LIST), kernel selftest
initializers (ARM64_SYS_REG(3, 0, 2, 0, 3),) or QEMU migration error output.
The kernel comes from a '# kernel: X' header, else a file name
HOST-linux-KERNEL.reglist, else --kernel FILE=X.Y.
Either side may also be a QEMU migration stream (migrate "exec:cat > FILE",
optionally gzipped): its cpreg list with values; the source's values then
decide value rules (KVM_REG_ARM_PSCI_VERSION, BMAP_2's tolerance test).
Name it HOST-linux-KERNEL.qevm or pass --kernel FILE=X.Y.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat check``."""
    from compat.analysis.simulate import RULES_MODES
    parser.epilog = _EPILOG
    add_registry_option(parser)
    parser.add_argument("source", metavar="FROM", help="the source host's register list")
    parser.add_argument("destination", metavar="TO", help="the destination host's register list")
    parser.add_argument("--machine", metavar="virt-X.Y", help="the machine type (its compat rules)")
    parser.add_argument("--feature", metavar="F", action="append", default=[],
                        help="a registry feature the VM enables (repeatable), e.g. impl-cpu")
    parser.add_argument("--rules", choices=RULES_MODES,
                        help="which rules QEMU applies (default: compat-props with --machine, "
                        "else none)")
    add_kernel_option(parser, ("--from-kernel", "source"), ("--to-kernel", "destination"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Simulate the migration; 0 if it passes, 1 if it fails."""
    from compat.analysis.simulate import COMPAT_PROPS, NONE, Simulator

    check_kernel_files(args, (args.source, args.destination))
    from_kernel = kernel_for(args, args.source, "from_kernel")
    to_kernel = kernel_for(args, args.destination, "to_kernel")
    loaded = open_loaded(args)
    source = read_list(args.source, kernel=from_kernel)
    destination = read_list(args.destination, kernel=to_kernel)
    rules = args.rules or (COMPAT_PROPS if args.machine else NONE)
    sim = Simulator(loaded.registry, loaded.derivation)
    result = sim.simulate(source, destination, sim.rule_set(rules, args.machine, args.feature))
    if args.json:
        print_json(result.to_json())
    else:
        echo(result.to_text())
    return 0 if result.ok else 1
