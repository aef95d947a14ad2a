"""Kernel and QEMU version numbers.

Releases compare by ``major.minor``: ``6.9 < 6.13``.  Kernel versions may be
written the way ``uname -r`` prints them (``6.12.0-55.el10.aarch64``,
``7.3.0-rc1``); a release candidate of X.Y counts as X.Y, because a
maintainer testing 7.3-rc1 wants to know what 7.3 will do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"""^v?(?P<major>0|[1-9][0-9]{0,3})\.(?P<minor>0|[1-9][0-9]{0,3})
        (?:\.[0-9]+)?          # patch level, ignored
        (?:[-+~._][0-9A-Za-z._+~-]*)?$  # rc, distribution and arch suffixes
    """,
    re.VERBOSE,
)


class VersionError(ValueError):
    """A string that is not a version; str() says what is accepted."""


@dataclass(frozen=True, order=True)
class Version:
    """A ``major.minor`` release, ordered numerically."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        if not isinstance(text, str):
            raise VersionError(f"expected a version string like \"6.13\", got {text!r}")
        match = _VERSION.match(text.strip())
        if not match:
            raise VersionError(
                f"'{text}' is not a version: write MAJOR.MINOR (\"6.13\"), "
                "optionally as uname -r prints it (\"6.12.0-55.el10.aarch64\", \"7.3.0-rc1\")"
            )
        return cls(int(match["major"]), int(match["minor"]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def ident(self) -> str:
        """The form used in C identifiers: ``10_1``."""
        return f"{self.major}_{self.minor}"


def machine_version_key(label: str) -> tuple[int, ...]:
    """Sort key of a machine version label: its numbers (``"rhel10.0.0"`` ->
    ``(10, 0, 0)``), so ``10.10`` sorts after ``10.9``."""
    digits = "".join(c if c.isdigit() else " " for c in label)
    return tuple(int(part) for part in digits.split())
