"""``compat check``: simulate one migration between two register lists."""

from __future__ import annotations

import argparse

from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                    kernel_for, open_loaded, print_json, read_list)
from compat.core.style import echo

_EPILOG = """\
Register lists: one hex index per line (KVM_GET_REG_LIST), kernel selftest
initializers (ARM64_SYS_REG(3, 0, 2, 0, 3),) or QEMU migration error output.
The kernel comes from a '# kernel: X' header, else a file name
HOST-linux-KERNEL.reglist, else --kernel FILE=X.Y.
Either side may also be a QEMU migration stream (migrate "exec:cat > FILE",
optionally gzipped): its cpreg list with values; the source's values then
decide value rules (KVM_REG_ARM_PSCI_VERSION, BMAP_2's tolerance test).
Name it HOST-linux-KERNEL.qevm or pass --kernel FILE=X.Y.

Without values (plain lists), the source sends what a real one would: a
value the rules pin (the machine type's tables, --cpu-option), else what
its kernel gives a new vCPU (the registry's accepts defaults: PSCI 1.3 from
Linux 6.13 on, 1.1 before).  Where nothing gives a value the verdict is
UNKNOWN (exit 1).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat check``."""
    from compat.qemu import modes
    parser.epilog = modes.help_text(
        "compat-props is the default when --machine is given,\n"
        "qemu-10.0 the default without --machine") + "\n\n" + _EPILOG
    add_registry_option(parser)
    parser.add_argument("source", metavar="FROM", help="the source host's register list")
    parser.add_argument("destination", metavar="TO", help="the destination host's register list")
    parser.add_argument("--machine", metavar="virt-X.Y", help="the machine type (its compat rules)")
    parser.add_argument("--feature", metavar="F", action="append", default=[],
                        help="a registry feature the VM enables (repeatable), e.g. impl-cpu")
    parser.add_argument("--rules", choices=modes.NAMES, metavar="MODE",
                        help="the QEMU that runs the migration (see 'rules' below; default: "
                        "compat-props with --machine, else qemu-10.0)")
    parser.add_argument("--cpu-option", metavar="NAME=VALUE", action="append", default=[],
                        help="a -cpu host,NAME=VALUE option of the source QEMU that sets a "
                        "register (repeatable), e.g. kvm-psci-version=1.1; refused, as QEMU "
                        "refuses it, under rules whose QEMU lacks the property")
    add_kernel_option(parser, ("--from-kernel", "source"), ("--to-kernel", "destination"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Simulate the migration; 0 if it passes, 1 if it fails or its verdict
    is unknown (it depends on a value nothing gives)."""
    from compat.analysis.reglist import same_vcpu_class
    from compat.analysis.simulate import COMPAT_PROPS, NONE, Simulator
    from compat.qemu import modes

    check_kernel_files(args, (args.source, args.destination))
    from_kernel = kernel_for(args, args.source, "from_kernel")
    to_kernel = kernel_for(args, args.destination, "to_kernel")
    loaded = open_loaded(args)
    source = read_list(args.source, kernel=from_kernel)
    destination = read_list(args.destination, kernel=to_kernel)
    same_vcpu_class(source, destination)
    rules = modes.resolve(args.rules or (COMPAT_PROPS if args.machine else NONE)).name
    sim = Simulator(loaded.registry, loaded.derivation)
    result = sim.simulate(source, destination,
                          sim.rule_set(rules, args.machine, args.feature, args.cpu_option,
                                       vcpu_features=source.vcpu_features))
    if args.json:
        print_json(result.to_json())
    else:
        echo(result.to_text())
    return 0 if result.ok else 1
