"""Kernel selftest initializers (``tools/testing/selftests/kvm/arm64/
get-reg-list.c``): ``ARM64_SYS_REG(3, 0, 2, 0, 3),``,
``KVM_REG_ARM_FW_REG(0),``, ``KVM_REG_ARM64 | KVM_REG_SIZE_U64 |
KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc),`` inside
``static __u64 name[] = {`` ... ``};``."""

from __future__ import annotations

import re

from compat.analysis.readers import SKIP
from compat.core import codec

FORMAT = "c-initializer"

_DECL = re.compile(r"^(static\s+)?(const\s+)?(__u64|u64|uint64_t)\s+\w+\s*\[\s*\w*\s*\]\s*=\s*\{$")
_CLOSE = re.compile(r"^\}\s*;?$")
_C_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]*\b|\|")


def read_line(code: str):
    """The index of a register expression, :data:`SKIP` for the array's
    own syntax, ``None`` when ``code`` is no C at all."""
    if _DECL.match(code) or _CLOSE.match(code):
        return SKIP
    expr = code[:-1].rstrip() if code.endswith(",") else code
    if not _C_LIKE.match(expr):
        return None
    try:
        return codec.parse_expr(expr)
    except codec.CodecError as exc:
        raise codec.CodecError(f"cannot read '{expr}': {exc}") from None
