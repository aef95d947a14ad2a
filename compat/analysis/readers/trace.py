"""QEMU migration failure output: trace lines such as
``kvm_arm_cpu_post_load_missing_reg ... 0x603000000013c103`` or error
lines.  Every ``0x`` token of 16 hex digits is an index; other log text is
ignored."""

from __future__ import annotations

import re

FORMAT = "trace"

_TOKEN = re.compile(r"(?<![0-9A-Za-z_])0x[0-9a-fA-F]{16}(?![0-9A-Za-z_])")


def carries_index(text: str) -> bool:
    """Whether ``text`` holds a 64-bit index token (a log line, if it is
    neither a plain index nor a C expression)."""
    return _TOKEN.search(text) is not None


def indices(raw: str) -> list[int]:
    """Every index token on a raw log line."""
    return [int(token, 16) for token in _TOKEN.findall(raw)]
