"""Read host register lists: the one reader in front of the formats.

The formats are the modules of :mod:`compat.analysis.readers` (a QEMU
migration stream, ``INDEX VALUE`` value lists, QEMU trace output, kernel
selftest initializers, plain indices); :func:`compat.analysis.readers.detect`
picks one in its documented order, and that reader reads the whole input.
Lines of the text formats are stripped of ``#`` and C comments first; the
header comments ``# kernel: 6.12`` and ``# host: n1 (description)`` say
whose list it is.

Format detection never hides an error: in every format a line that tries to
be a register and cannot be read is an error naming ``file:line``, a ``/*``
left open is an error, and a list that yields no register is an error.

The kernel and host come from the header, else from a file name of the form
``HOST-linux-KERNEL.reglist`` (a stream: ``HOST-linux-KERNEL.qevm``), else
from the caller's fallbacks (``--kernel FILE=X.Y`` / ``--host``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from compat.analysis import readers
from compat.analysis.readers import cpregs, plain, selftest, stream, trace
from compat.analysis.readers.base import ReadResult, Source
from compat.core import codec
from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.core.versions import Version, VersionError

_FILE_NAME = re.compile(r"^(?P<host>.+?)-linux-(?P<kernel>[0-9][^/]*?)\.reglist(?:\.gz)?$")
_STREAM_NAME = re.compile(r"^(?P<host>.+?)-linux-(?P<kernel>[0-9]+\.[0-9]+)(?:[.-].*)?$")

PLAIN, C_INIT, TRACE = plain.FORMAT, selftest.FORMAT, trace.FORMAT
STREAM, CPREGS = stream.FORMAT, cpregs.FORMAT


@dataclass(frozen=True)
class RegList:
    """One host's register list: what ``KVM_GET_REG_LIST`` returned for a vCPU."""

    path: str                        # as given; the name in messages
    host: str | None
    kernel: Version
    indices: tuple[int, ...]         # sorted, unique
    format: str = PLAIN
    description: str | None = field(default=None, compare=False)
    #: register values, when the input carries them (a stream, a value list)
    values: Mapping[int, int] | None = field(default=None, compare=False)
    #: where a stream's list came from (:meth:`StreamCpregs.provenance`)
    provenance: Mapping[str, Any] | None = field(default=None, compare=False)
    #: the values come from a QEMU migration stream (not a recorded list)
    from_stream: bool = field(default=False, compare=False)
    #: what the reader warns about (``Diagnostic``, severity ``warning``)
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    #: ID register values (``NAME.idregs`` beside ``NAME.reglist``) and KVM's
    #: writable masks (None: the kernel has none, or no file says)
    id_values: Mapping[int, int] | None = field(default=None, compare=False)
    id_masks: Mapping[int, int] | None = field(default=None, compare=False)
    id_path: str | None = field(default=None, compare=False)

    def id_value(self, index: int) -> int | None:
        """The value of ID register ``index``: the ``.idregs`` file's, else the
        stream's or value list's own."""
        if self.id_values is not None and index in self.id_values:
            return self.id_values[index]
        return self.values.get(index) if self.values is not None else None

    #: the vCPU features the list was collected with (its ``# vcpu-features:``
    #: header: ``psci-0.2``, ``pmu-v3``, ``el2`` ...); None when it does not say
    vcpu_features: frozenset[str] | None = field(default=None, compare=False)

    @property
    def vcpu_class(self) -> str:
        """The vCPU features as one word (``el2,pmu-v3,psci-0.2``), sorted;
        ``unknown`` when the list does not say."""
        if self.vcpu_features is None:
            return "unknown"
        return ",".join(sorted(self.vcpu_features)) or "none"

    @property
    def name(self) -> str:
        """A short label: ``n1 6.12`` (or the file name when the host is unknown)."""
        return f"{self.host} {self.kernel}" if self.host else f"{Path(self.path).name} {self.kernel}"

    def cpreg_indices(self) -> frozenset[int]:
        """The indices QEMU migrates in the cpreg list (no core, no SVE)."""
        return frozenset(i for i in self.indices if codec.decode(i).in_cpreg_list())

    def to_json(self) -> dict:
        """A JSON-ready summary (without the indices)."""
        out = {"path": self.path, "host": self.host, "kernel": str(self.kernel),
               "format": self.format, "registers": len(self.indices)}
        if self.vcpu_features is not None:
            out["vcpu_features"] = sorted(self.vcpu_features)
        if self.provenance is not None:
            out["stream"] = dict(self.provenance)
        return out


def read_reglist(path: Path | str, *, kernel: str | Version | None = None,
                 host: str | None = None, display_name: str | None = None) -> RegList:
    """Read the register list at ``path``; ``kernel``/``host`` are fallbacks
    used when neither the header nor the file name says."""
    path = Path(path)
    name = display_name or str(path)
    from compat.core.inputs import gunzip, read_input
    raw = read_input(path, name, what="register list",
                     hint="pass the path of a KVM_GET_REG_LIST dump")
    if raw[:2] == b"\x1f\x8b":    # any format may come gzipped (every member, bounded)
        raw = gunzip(raw, name, what="register list")
    reglist = _reglist(readers.read(Source(name, raw)), name, kernel, host)
    sibling = idregs_sibling(path)
    return with_idregs(reglist, sibling) if sibling is not None else reglist


def idregs_sibling(path: Path) -> Path | None:
    """``NAME.idregs`` beside ``NAME.reglist`` (or ``.reglist.gz``), if it exists."""
    name = path.name
    for suffix in (".reglist.gz", ".reglist"):
        if name.endswith(suffix):
            sibling = path.with_name(name[:-len(suffix)] + ".idregs")
            return sibling if sibling.is_file() else None
    return None


def with_idregs(reglist: RegList, path: Path) -> RegList:
    """``reglist`` with the ID register values and masks of the ``.idregs``
    file at ``path``; its kernel must be the list's."""
    from dataclasses import replace
    from compat.analysis.readers import idregs
    from compat.core.inputs import read_input
    raw = read_input(path, str(path), what="ID register file",
                     hint="pass the .idregs file the lab wrote beside the list")
    source = Source(str(path), raw)
    if not idregs.sniff(source):
        raise CompatError.at(Location(str(path), 1), "not an .idregs file: its first line "
                             f"is not '# format: {idregs.MAGIC}'",
                             hint="an .idregs file beside a .reglist must be the lab's "
                             "ID register values; rename or remove it")
    result = idregs.read(source)
    if "kernel" in result.headers:
        text, line = result.headers["kernel"]
        try:
            kernel = Version.parse(text)
        except VersionError as exc:
            raise CompatError.at(Location(str(path), line), str(exc)) from None
        if kernel != reglist.kernel:
            raise CompatError.at(Location(str(path), line),
                                 f"kernel {text} differs from its list's ({reglist.kernel}, "
                                 f"{reglist.path})",
                                 hint="an .idregs file belongs to the .reglist of the same "
                                 "name, collected in the same boot")
    return replace(reglist, id_values=result.values, id_masks=result.masks, id_path=str(path))


def parse_reglist(text: str, name: str, *, kernel: str | Version | None = None,
                  host: str | None = None) -> RegList:
    """Parse register-list ``text`` (a text format); ``name`` is the file
    name for messages."""
    source = Source(name, text.encode("utf-8", errors="replace"), decoded=text)
    return _reglist(readers.read(source, binary=False), name, kernel, host)


def _reglist(result: ReadResult, name: str, kernel, host) -> RegList:
    if result.format == "idregs":
        raise CompatError.at(Location(name, 1), "this is an ID register file (.idregs), not "
                             "a register list",
                             hint="pass its NAME.reglist: compat reads NAME.idregs beside it")
    if result.from_stream:
        the_kernel, the_host, description = _stream_identity(name, kernel, host)
    else:
        the_kernel, the_host, description = _identity(name, result.headers, kernel, host)
    if not result.indices:
        raise CompatError.at(Location(name), "the register list holds no register",
                             hint="a KVM_GET_REG_LIST dump lists hundreds of registers; "
                                  "is this the right file?")
    return RegList(name, the_host, the_kernel, result.indices, result.format,
                   description or result.description, values=result.values,
                   provenance=result.provenance, from_stream=result.from_stream,
                   warnings=result.warnings, vcpu_features=_vcpu_features(result.headers))


def _vcpu_features(headers: Mapping[str, tuple[str, int]]) -> frozenset[str] | None:
    """The ``# vcpu-features: psci-0.2,pmu-v3`` header as a set (``none``: empty)."""
    if "vcpu-features" not in headers:
        return None
    words = [w.strip() for w in headers["vcpu-features"][0].split(",")]
    return frozenset(w for w in words if w and w != "none")


def same_vcpu_class(first: RegList, second: RegList) -> None:
    """Raise unless ``first`` and ``second`` come from vCPUs with the same
    features: a nested vCPU (``el2``) lists its EL2 registers and a vCPU
    without a PMU lacks the PMU's, so comparing across classes reports
    registers that no migration ever carries.  Lists that do not say are
    taken to match anything."""
    if first.vcpu_features is None or second.vcpu_features is None \
            or first.vcpu_features == second.vcpu_features:
        return
    raise CompatError.at(
        Location(second.path),
        f"vCPU features differ: {second.path} has {second.vcpu_class}, {first.path} has "
        f"{first.vcpu_class} (their '# vcpu-features:' headers); QEMU migrates a vCPU only "
        "to a vCPU with the same features",
        hint="compare lists collected with the same vCPU features (compat lab collect "
        "--features ...), e.g. two nested lists (el2) or two lists without it")


def _stream_identity(name: str, kernel, host):
    """A stream does not say which kernel it came from: a file name
    ``HOST-linux-KERNEL...`` (``n1-linux-6.16.qevm``) or ``kernel`` does."""
    from_name = _STREAM_NAME.match(Path(name).name)
    text = from_name["kernel"] if from_name else kernel
    if text is None:
        raise CompatError.at(Location(name), "cannot tell which host kernel this migration "
                             "stream comes from",
                             hint=f"pass --kernel {name}=X.Y, or name the file "
                             "HOST-linux-KERNEL.qevm")
    try:
        the_kernel = text if isinstance(text, Version) else Version.parse(str(text))
    except VersionError as exc:
        raise CompatError.at(Location(name), str(exc)) from None
    return the_kernel, (from_name["host"] if from_name else host), None


def _identity(name: str, headers: Mapping[str, tuple[str, int]], kernel, host):
    from_name = _FILE_NAME.match(Path(name).name)
    description = None
    if "host" in headers:
        value = headers["host"][0]
        the_host, _, rest = value.partition(" ")
        description = rest.strip().strip("()") or None
        the_host = the_host or None
    elif from_name:
        the_host = from_name["host"]
    else:
        the_host = host
    if "kernel" in headers:
        text, number = headers["kernel"]
        where = Location(name, number)
    elif from_name:
        text, where = from_name["kernel"], Location(name)
    elif kernel is not None:
        text, where = str(kernel), Location(name)
    else:
        raise CompatError.at(Location(name), "cannot tell which kernel this register list is from",
                             hint="add a '# kernel: 6.12' header line, name the file "
                             f"HOST-linux-KERNEL.reglist, or pass --kernel {name}=X.Y")
    if isinstance(text, Version):
        return text, the_host, description
    try:
        return Version.parse(text), the_host, description
    except VersionError as exc:
        raise CompatError.at(where, str(exc)) from None
