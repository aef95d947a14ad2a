"""Errors of the lab, as compat diagnostics (clear message, exit 1, no traceback)."""

from __future__ import annotations

import shutil

from compat.core.diagnostics import CompatError, Location

#: tool -> the Debian package that installs it
TOOL_PACKAGES = {
    "apt-get": "apt", "apt-cache": "apt", "dpkg": "dpkg", "dpkg-deb": "dpkg",
    "cpio": "cpio", "qemu-system-aarch64": "qemu-system-arm",
    "unshare": "util-linux", "mount": "mount", "sh": "dash",
}


def lab_error(message: str, hint: str | None = None, where: str = "compat lab",
              detail: str | tuple[str, ...] = ()) -> CompatError:
    """An error of the lab; ``detail``: text quoted under the message (a
    console's tail, a tool's stderr), shown as real lines, each escaped."""
    if isinstance(detail, str):
        detail = tuple(detail.replace("\r", "").splitlines())
    return CompatError.at(Location(where), message, hint=hint, detail=tuple(detail))


def need_tool(name: str, where: str = "compat lab") -> str:
    """The path of ``name`` on PATH, or an error naming the package to install."""
    path = shutil.which(name)
    if path is None:
        package = TOOL_PACKAGES.get(name, name)
        raise lab_error(f"'{name}' is not installed (or not on PATH)",
                        f"install it with: apt-get install {package}", where)
    return path
