"""Suggested registry entries: the one writer behind ``compat audit`` and
``compat new-register``.

An entry carries every fact compat can know (encoding, index, reset value,
the change, the suggested rule) and marks the rest with :data:`PLACEHOLDER`.
The commit placeholder fails ``compat validate`` on purpose: an entry cannot
be pasted and forgotten, someone has to look the facts up.  Every value goes
through :func:`toml_value`, so text from a register list (a host name, a
description) can never add keys to the entry.
"""

from __future__ import annotations

import re
from typing import Any

from compat.core.codec import GROUPS, Decoded, format_index
from compat.core.model import HIDE, fixing_rule

PLACEHOLDER = "FIXME"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")


def register_name(decoded: Decoded) -> str | None:
    """The registry name for a register: its known name, or
    ``S<op0>_<op1>_C<crn>_C<crm>_<op2>`` for an unnamed system register;
    ``None`` when no C identifier fits (the user must choose one)."""
    if decoded.name and _IDENT.fullmatch(decoded.name):
        return decoded.name
    if decoded.group == "sysreg":
        return "S{op0}_{op1}_C{crn}_C{crm}_{op2}".format(**decoded.fields)
    return None


def suggested_name(decoded: Decoded) -> str:
    """:func:`register_name`, else a C identifier made from the index
    (``REG_603000000013C103``): the name every suggestion uses."""
    return register_name(decoded) or f"REG_{decoded.index:016X}"


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal: booleans, integers, or a basic string
    with every character TOML requires escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    out = []
    for char in str(value):
        if char in '"\\':
            out.append("\\" + char)
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when TOML allows, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def _inline(fields: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in fields.items()) + " }"


#: What a TOML comment may not hold (TOML 1.0: control characters other
#: than tab), plus every other line break Python's or an editor's line
#: splitting sees.
_COMMENT_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _comment(text: str) -> str:
    """A TOML comment line that cannot end early (no newline can slip in)
    and that TOML accepts (control characters shown escaped)."""
    text = _COMMENT_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                               else f"\\u{ord(m.group()):04x}", text)
    return "# " + " ".join(text.split())


def scaffold(decoded: Decoded, name: str, kernel: str, change: str, *,
             origin: str = "compat new-register", seen: str | None = None) -> str:
    """The TOML text of a new ``[registers.NAME]`` entry (ends with a newline).

    ``origin`` names what suggested it; ``seen`` says what it was found in
    (``"n1, v2"``), for the entry's first comment.
    """
    encoding = {"group": decoded.group, **decoded.fields}
    if GROUPS[decoded.group].sized:
        encoding.setdefault("size", decoded.size)
    change_fields: dict[str, Any] = {"kernel": kernel, "change": change}
    if change in ("gated", "ungated"):
        change_fields["cpu-feature"] = PLACEHOLDER
    change_fields["commit"] = PLACEHOLDER
    change_fields["subject"] = f"{PLACEHOLDER}: the commit's subject line"
    rule = fixing_rule(change)
    what = f"{decoded.name} ({decoded.macro})" if decoded.name else decoded.macro
    filled = "commit and cpu-feature" if "cpu-feature" in change_fields else "commit"
    lines = []
    if seen:
        lines.append(_comment(f"{origin}: {change} in Linux {kernel} on {seen}."))
    lines += [
        _comment(f"Suggested by '{origin}': replace every {PLACEHOLDER}"),
        _comment(f"(compat validate rejects the {PLACEHOLDER} {filled} until you do), "
                 "then check reset and the compat rule."),
        f"[registers.{toml_key(name)}]",
        f"description = {toml_value(f'{PLACEHOLDER}: what {what} is.')}",
        f"encoding = {_inline(encoding)}",
        f"index = {toml_value(format_index(decoded.index))}",
        f"reset = {toml_value('0x0')}",
        "changes = [",
        f"  {_inline(change_fields)},",
        "]",
    ]
    if rule == HIDE:
        lines.append("# hide: dropping the register is safe only while it holds its "
                     "reset value; adjust safe-when if another value is safe too.")
        lines.append(f"compat = {toml_value(rule)}")
        lines.append(f"safe-when = {_inline({'mask': '0xffffffffffffffff', 'value': '0x0'})}")
    else:
        lines.append(f"compat = {toml_value(rule)}")
        lines.append("safe-because = " + toml_value(
            f"{PLACEHOLDER}: why a destination without {name} loses no guest state."))
    lines.append(f"sources = [{toml_value(f'{PLACEHOLDER}: where these facts come from')}]")
    return "\n".join(lines) + "\n"
