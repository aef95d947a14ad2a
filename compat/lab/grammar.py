"""The grammar of every lab argument that becomes a path, a file name, shell
text in a guest or a header line: checked before anything runs, so a bad
one is a ``<command line>`` error (exit 2) and never reaches a path or a
shell.

Each grammar is as narrow as the values the lab really uses: Debian kernel
ABIs (``6.1.0-50``, ``6.16.12+deb13``), QEMU's ``virt`` machine types, a
``-cpu`` model with ``,property=value`` options, and host names.  None of them
admits a path separator, white space, a quote, a shell metacharacter or a
control character, nor ``..``.
"""

from __future__ import annotations

import re

from compat.core.diagnostics import COMMAND_LINE, CompatError

#: name -> (pattern, longest accepted length, what it is, an example)
GRAMMARS = {
    "kernel": (re.compile(r"[0-9]+\.[0-9]+[0-9A-Za-z.+~-]*"), 64,
               "a Debian kernel ABI", "6.16.12+deb13"),
    "machine": (re.compile(r"virt(-[0-9]+\.[0-9]+)?(,virtualization=on)?"), 64,
                "a QEMU virt machine type (virt or virt-X.Y, optionally "
                "',virtualization=on')", "virt-11.0"),
    "cpu": (re.compile(r"[a-z0-9][a-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*(=[A-Za-z0-9._+-]+)?)*"),
            200, "a QEMU -cpu value (MODEL[,PROPERTY=VALUE...])", "host,kvm-psci-version=1.1"),
    "host": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*"), 100,
             "a host name (letters, digits, '.', '_', '+', '-')", "qemu11.1-max"),
}


def check(kind: str, value: str, what: str) -> str:
    """``value`` if it is in grammar ``kind``; else a ``<command line>`` error
    naming ``what`` (``CASE '...': MACHINE``, ``--host``)."""
    pattern, longest, meaning, example = GRAMMARS[kind]
    if len(value) <= longest and pattern.fullmatch(value) and ".." not in value:
        return value
    shown = value if len(value) <= 80 else value[:80] + "..."
    raise CompatError.at(COMMAND_LINE, f"{what} {shown!r} is not {meaning}",
                         hint=f"e.g. {example}" + ("" if len(value) <= longest
                                                   else f"; at most {longest} characters"))
