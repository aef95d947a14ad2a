"""Helpers shared by the hardening tests: run the CLI in-process under a
deadline, write TOML, and state what an acceptable outcome is."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from clirun import Result, run_compat

#: ``file:line:col: error:`` (or ``file:line:``) at the start of a line.
LOCATED = re.compile(r"^[^\s:][^:\n]*:\d+(?::\d+)?: error: ", re.M)

#: What one in-process ``compat`` run returned and printed.
Outcome = Result


def run_inproc(*argv: str, seconds: float = 30) -> Outcome:
    """``compat ARGV`` in this process (:func:`clirun.run_compat`), under a
    deadline of ``seconds``."""
    return run_compat(*argv, timeout=seconds)


def assert_graceful(res: Outcome, *, located: bool = False, context: str = "") -> None:
    """Exit 0, exit 1 with an error message, or exit 2 with a command-line
    error (never 3, never a traceback).

    With ``located`` an error must name ``file:line``."""
    detail = f"{context}\nrc={res.rc}\nstderr:\n{res.err[-3000:]}"
    assert res.rc in (0, 1, 2), detail
    if res.rc == 2:  # a usage error: the command line's fault, and said so
        assert re.search(r"^(<command line>|compat[^:\n]*): error: ", res.err, re.M), detail
    assert "Traceback" not in res.err and "Traceback" not in res.out, detail
    assert "internal error" not in res.err, detail
    if res.rc == 1:
        assert res.err.strip() or res.out.strip(), detail  # findings go to stdout
        if located:
            assert LOCATED.search(res.err), "error without file:line\n" + detail


# -- a small TOML writer (enough for registry-shaped data) --------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    """A bare key if possible, else a quoted one."""
    return key if _BARE.match(key) else toml_string(key)


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in '"\\':
        return "\\" + ch
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return "\\ufffd"  # lone surrogates cannot be written
    return f"\\u{ord(ch):04x}"


#: what a TOML basic string cannot hold as it is
_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')


def toml_string(text: str) -> str:
    """A TOML basic string."""
    return '"' + _SPECIAL.sub(_escape, text) + '"'


def toml_value(value: Any) -> str:
    """An inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    return toml_string(json.dumps(value, default=str))


def dump_toml(data: dict[str, Any]) -> str:
    """Registry-shaped data as TOML: tables get ``[a.b]`` headers, arrays
    and what they hold are written inline."""
    lines: list[str] = []

    def table(path: list[str], mapping: dict[str, Any]) -> None:
        scalars = {k: v for k, v in mapping.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in mapping.items() if isinstance(v, dict)}
        if path and (scalars or not nested):
            lines.append("[" + ".".join(toml_key(p) for p in path) + "]")
        for key, value in scalars.items():
            lines.append(f"{toml_key(str(key))} = {toml_value(value)}")
        lines.append("")
        for key, value in nested.items():
            table(path + [str(key)], value)

    table([], data)
    return "\n".join(lines)

