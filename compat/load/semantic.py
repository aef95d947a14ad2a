"""Semantic validation: what JSON Schema cannot say, and the model it yields.

:func:`load_registry` reads one file without plugins (commands go through
:mod:`compat.load.pipeline`, which adds them): read TOML, check
``schema-version``, check structure against the schema, then check meaning
here, collecting
every error of the file before reporting them together, sorted by line.
Only a registry without errors becomes a :class:`~compat.core.model.Registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compat.core import codec
from compat.core.cexpr import builtin_index
from compat.core.diagnostics import CompatError, DiagnosticSink, Location, did_you_mean
from compat.core.text import c_identifier_problem
from compat.core.model import (HIDE, REFUSE, VCPU_FEATURES, Change, CpuProperty, Feature,
                               FeatureWrite, IdField, MachineFamily, MachineVersion, Register,
                               Registry, SafeWhen, ValueLimit, in_id_range)
from compat.core.versions import Version, VersionError, machine_version_key
from compat.load.schema import check_schema_version, entity_context, validate_structure
from compat.load.source import KeyPath, SourceDocument, load_toml_file, load_toml_text

#: Groups whose registers KVM defines as 64-bit.
U64_GROUPS = frozenset(g.name for g in codec.GROUPS.values() if g.sizes == {64})


def load_registry(path: Path, display_name: str | None = None, *,
                  schema: dict[str, Any] | None = None) -> Registry:
    """Read, validate and model the registry at ``path``."""
    return build_registry(load_toml_file(path, display_name), schema=schema)


def load_registry_text(text: str, filename: str = "registry.toml", *,
                       schema: dict[str, Any] | None = None) -> Registry:
    return build_registry(load_toml_text(text, filename), schema=schema)


def build_registry(doc: SourceDocument, *, schema: dict[str, Any] | None = None) -> Registry:
    """Validate ``doc`` fully; raise :class:`CompatError` with every problem."""
    problems = check_schema_version(doc)
    if problems:
        raise CompatError(problems)
    problems = validate_structure(doc, schema)
    if problems:
        raise CompatError(problems)
    return _SemanticPass(doc).run()


def parse_u64(value: str | int) -> int:
    """A registry number: a TOML integer, or a string in C's literal grammar
    (``"0x3"``, ``"17"``; :func:`compat.core.codec.parse_index`)."""
    if isinstance(value, float):  # JSON Schema counts 3.0 as an integer; compat does not
        raise ValueError(f"{value} is a TOML float")
    if isinstance(value, int):
        if not 0 <= value <= codec.U64_MAX:
            raise ValueError(f"{value} does not fit in 64 bits")
        return value
    try:
        return codec.parse_index(value)
    except codec.CodecError as exc:
        raise ValueError(str(exc)) from None


def name_problem(name: str, index: int) -> tuple[str, str] | None:
    """(message, hint) when ``name`` is an architectural name of another
    register than ``index`` (the C, the docs and the guards would label
    ``index`` with it), else ``None``."""
    known = builtin_index(name)
    if known is None or known == index:
        return None
    return (f"'{name}' is the name of {codec.format_index(known)} "
            f"({codec.decode(known).macro}), not of {codec.format_index(index)} "
            f"({codec.decode(index).macro})",
            "an architectural name labels its own encoding in the C, the guards and "
            "the docs: fix the encoding, or give the register a name of its own")


class _SemanticPass:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.data = doc.data
        self.sink = DiagnosticSink()

    # -- helpers ------------------------------------------------------------
    def error(self, path: KeyPath, message: str, *, key: bool = False, hint: str | None = None) -> None:
        self.sink.error(self.doc.locate(path, value=not key), message,
                        context=entity_context(path, self.data), hint=hint)

    def loc(self, path: KeyPath) -> Location:
        return self.doc.locate(path, value=False)

    def version(self, path: KeyPath, text: str) -> Version | None:
        try:
            return Version.parse(text)
        except VersionError as exc:
            self.error(path, str(exc))
            return None

    def number(self, path: KeyPath, raw: str | int, bits: int = 64) -> int | None:
        try:
            value = parse_u64(raw)
        except ValueError:
            self.error(path, f"'{path[-1]}' {raw!r} is not a 64-bit number",
                       hint="write 0x followed by up to 16 hex digits, or a decimal number")
            return None
        if value >> bits:
            self.error(path, f"'{path[-1]}' {raw} does not fit the {bits}-bit register")
            return None
        return value

    # -- the pass -----------------------------------------------------------
    def run(self) -> Registry:
        features = self.data.get("features", {})
        registers = {name: self.register(name, entry, features)
                     for name, entry in self.data.get("registers", {}).items()}
        self.unique_indices(registers)
        live = {name: reg for name, reg in registers.items() if reg is not None}
        self.id_field_links(live)
        feature_objs = {name: self.feature(name, entry, live)
                        for name, entry in features.items()}
        machines = {name: self.family(name, entry, live)
                    for name, entry in self.data.get("machines", {}).items()}
        self.sink.raise_if_any()
        return Registry(
            filename=self.doc.filename,
            schema_version=self.data["schema-version"],
            registers=dict(sorted(live.items())),
            features=dict(sorted((k, v) for k, v in feature_objs.items() if v)),
            machines=dict(sorted((k, v) for k, v in machines.items() if v)),
            outputs=tuple(self.data["outputs"]) if "outputs" in self.data else None,
            plugins=tuple(self.data.get("plugins", ())),
            data=self.data,
        )

    def register(self, name: str, entry: dict[str, Any], features: dict[str, Any]) -> Register | None:
        base: KeyPath = ("registers", name)
        errors_before = len(self.sink.diagnostics)
        try:
            from_encoding = codec.encode_fields(**entry["encoding"])
        except codec.CodecError as exc:
            self.error(base + ("encoding",), f"bad encoding: {exc}")
            return None
        index = from_encoding
        if "index" in entry:
            index = self.number(base + ("index",), entry["index"])
            if index is None:  # reported; an integer beyond 64 bits passes the schema
                return None
            if index != from_encoding:
                decoded = codec.decode(index)
                self.error(base + ("index",),
                           f"index {codec.format_index(index)} does not agree with encoding "
                           f"(which gives {codec.format_index(from_encoding)})",
                           hint=f"the index decodes as {decoded.macro}"
                           f" = {decoded.encoding()}; fix whichever is wrong")
                return None
        decoded = codec.decode(index)
        problem = name_problem(name, index)
        if problem:
            message, hint = problem
            self.error(base, message, key=True, hint=hint)
            return None
        if decoded.group in U64_GROUPS and decoded.size != 64:
            self.error(base + ("encoding",), f"{decoded.group} registers are 64-bit in KVM, "
                       f"not {decoded.size}-bit")
        if not decoded.in_cpreg_list():
            self.error(base + ("encoding",),
                       f"{decoded.group} registers ({decoded.size}-bit) are not migrated in "
                       "QEMU's cpreg list, so no compat rule can apply to them",
                       hint="only 32- and 64-bit registers outside the core and SVE groups "
                       "belong in the registry")
        bits = decoded.size
        reset = self.number(base + ("reset",), entry["reset"], bits) if "reset" in entry else None
        changes: tuple[Change, ...] = ()
        if "changes" in entry:  # most registers have none
            changes = tuple(c for c in (self.change(base + ("changes", i), c)
                                        for i, c in enumerate(entry["changes"])) if c)
            self.changes_ordered(base, changes)
        safe_when = None
        if "safe-when" in entry:
            sw_path = base + ("safe-when",)
            mask = self.number(sw_path + ("mask",), entry["safe-when"]["mask"], bits)
            value = self.number(sw_path + ("value",), entry["safe-when"]["value"], bits)
            if mask is not None and value is not None:
                if value & ~mask:
                    self.error(sw_path + ("value",),
                               f"safe-when value {value:#x} has bits outside mask {mask:#x}, "
                               "so the condition can never hold")
                safe_when = SafeWhen(mask, value)
        used_by = tuple(entry.get("used-by", ()))
        for i, feature in enumerate(used_by):
            if feature not in features:
                self.error(base + ("used-by", i), f"unknown feature '{feature}'"
                           f"{did_you_mean(feature, features)}",
                           hint="define it under [features.NAME]")
        compat = entry.get("compat")
        if compat == REFUSE:
            self.refusal(base, entry, changes)
        elif "refuse-because" in entry:
            self.error(base + ("refuse-because",), "refuse-because without compat = \"refuse\"",
                       key=True, hint="a reason to refuse belongs to a register whose rule is "
                       "a refusal; remove it, or set compat = \"refuse\"")
        if compat and compat != REFUSE and used_by and safe_when is None:
            self.error(base + ("compat",),
                       f"'{compat}' drops the register's value, but features "
                       f"({', '.join(used_by)}) write it",
                       hint="add safe-when = { mask = ..., value = ... } so the guards can "
                       "refuse what would be lost")
        if compat and not entry.get("changes"):  # not `changes`: rejected ones are already reported
            self.error(base + ("compat",), f"compat = \"{compat}\" but the register has no changes",
                       hint="record the change that needs the rule, or remove compat")
        if compat and compat != REFUSE and safe_when is None and "safe-because" not in entry:
            self.error(base + ("compat",), f"compat = \"{compat}\" without a reason it is safe",
                       hint="add safe-when (a value condition the guards check) or "
                       "safe-because (why no guest state is lost)")
        accepts = self.value_limits(base, entry["accepts"], bits) if "accepts" in entry else ()
        cpu_property = None
        if "cpu-property" in entry:
            prop = entry["cpu-property"]
            qemu = self.version(base + ("cpu-property", "qemu"), prop["qemu"])
            if not accepts:
                self.error(base + ("cpu-property",), "cpu-property without accepts: nothing "
                           "says which value a machine type must pin",
                           hint="record the per-kernel value limits in accepts = [...]")
            if qemu is not None:
                cpu_property = CpuProperty(prop["name"], prop["format"], qemu,
                                           prop.get("accel"), prop.get("commit"),
                                           prop.get("source"))
        id_fields = (self.id_fields(name, base, index, entry["id-fields"])
                     if "id-fields" in entry else ())
        if len(self.sink.diagnostics) != errors_before:
            return None
        return Register(
            id_fields=id_fields, id_field=entry.get("id-field"),
            id_field_location=self.loc(base + ("id-field",)) if "id-field" in entry else None,
            accepts=accepts, cpu_property=cpu_property,
            name=name, index=index, decoded=decoded, description=entry["description"],
            reset=reset, changes=changes, compat=compat, safe_when=safe_when,
            refuse_because=entry.get("refuse-because"),
            safe_because=entry.get("safe-because"), used_by=used_by,
            sources=tuple(entry.get("sources", ())), location=self.loc(base))

    def id_fields(self, name: str, base: KeyPath, index: int, entries) -> tuple[IdField, ...]:
        """``id-fields``: only on a register of the feature ID range, each field
        inside 64 bits, its value fitting its width, no two fields overlapping."""
        if entries and not in_id_range(index):
            self.error(base + ("id-fields",), f"{name} is not in the feature ID range (op0 3, "
                       "op1 0/1/3, CRn 0, CRm 0-7): only ID registers have ID fields",
                       key=True, hint="record the field on its ID register")
            return ()
        out: list[IdField] = []
        for i, raw in enumerate(entries):
            path = base + ("id-fields", i)
            kernel = self.version(path + ("kernel",), raw["kernel"])
            writable = (self.version(path + ("writable-from",), raw["writable-from"])
                        if "writable-from" in raw else None)
            shift, width, value = raw["shift"], raw["width"], raw["value"]
            if shift + width > 64:
                self.error(path + ("width",), f"bits {shift}..{shift + width - 1} do not fit "
                           "a 64-bit register")
                continue
            if value >> width:
                self.error(path + ("value",), f"value {value} does not fit the field's "
                           f"{width} bits")
                continue
            if kernel is None or ("writable-from" in raw and writable is None):
                continue
            older = raw.get("older-value", 0)
            if older >> width or older == value:
                self.error(path + ("older-value",), f"older-value {older} must fit the "
                           f"field's {width} bits and differ from value {value}")
                continue
            fact = IdField(name, raw["field"], shift, width, kernel, value, raw.get("commit"),
                           raw.get("cpu-feature"), raw.get("older-accept", False), writable,
                           raw.get("subject"), raw.get("source"), self.loc(path), older,
                           raw.get("ignores-older", False))
            clash = next((f for f in out if f.mask & fact.mask and f.field != fact.field), None)
            if clash is not None:
                self.error(path + ("shift",), f"{fact.field} overlaps {clash.field} "
                           f"(bits {clash.shift}..{clash.shift + clash.width - 1})")
                continue
            out.append(fact)
        return tuple(out)

    def id_field_links(self, registers: dict[str, Register]) -> None:
        """Each ``id-field`` names a recorded ID field; a register that comes
        with a CPU feature and is hidden says which field shows the feature."""
        facts = {f.name: f for reg in registers.values() for f in reg.id_fields}
        for name, reg in registers.items():
            base: KeyPath = ("registers", name)
            if reg.id_field is not None and reg.id_field not in facts:
                self.error(base + ("id-field",), f"unknown ID field '{reg.id_field}'"
                           f"{did_you_mean(reg.id_field, facts)}",
                           hint="record it under id-fields = [...] on its ID register "
                           "(field, shift, width, kernel, value, commit)")
            featured = [c for c in reg.changes if c.kind == "added" and c.cpu_feature]
            if reg.compat == HIDE and featured and reg.id_field is None:
                feature = featured[0].cpu_feature
                self.error(base + ("compat",), f"hiding {name} does not hide {feature}: the "
                           "guest's ID register still advertises it, and an older kernel "
                           "refuses that value (QEMU: 'Could not set register ... to X (is Y)')",
                           hint=f"name the ID field that advertises {feature} "
                           "(id-field = \"REG.FIELD\") and record it in that register's "
                           "id-fields with writable-from, so machine types lower it on the "
                           "source")

    def value_limits(self, base: KeyPath, entries, bits: int) -> tuple[ValueLimit, ...]:
        """``accepts``: per-kernel value limits, oldest first, each sane."""
        limits: list[ValueLimit] = []
        for i, raw in enumerate(entries):
            path = base + ("accepts", i)
            kernel = self.version(path + ("kernel",), raw["kernel"])
            numbers = {key: self.number(path + (key,), raw[key], bits)
                       for key in ("max", "mask", "default") if key in raw}
            if kernel is None or any(v is None for v in numbers.values()):
                continue
            limit = ValueLimit(kernel, raw["commit"], numbers.get("max"), numbers.get("mask"),
                               numbers.get("default"), raw.get("subject"), raw.get("source"),
                               self.loc(path))
            if limit.default is not None and limit.refuses(limit.default):
                self.error(path + ("default",), f"default {limit.default:#x} is not accepted "
                           f"by the same kernel ({limit.describe()})",
                           hint="a kernel accepts its own default value: fix max/mask or default")
            if limits and kernel <= limits[-1].kernel:
                self.error(path + ("kernel",), f"accepts must be oldest first, one entry per "
                           f"kernel: {kernel} comes after {limits[-1].kernel}")
            elif limits and limits[-1].max is not None and limit.max is not None \
                    and limit.max < limits[-1].max:
                self.error(path + ("max",), f"max {limit.max:#x} is lower than Linux "
                           f"{limits[-1].kernel}'s {limits[-1].max:#x}: a newer kernel "
                           "refusing what an older one accepted is a kernel regression, "
                           "not a limit this format models",
                           hint="check the kernel's KVM_SET_ONE_REG handler")
            limits.append(limit)
        return tuple(limits)

    def change(self, path: KeyPath, entry: dict[str, Any]) -> Change | None:
        kernel = qemu = None
        if "kernel" in entry:
            kernel = self.version(path + ("kernel",), entry["kernel"])
            if kernel is None:
                return None
        else:
            qemu = self.version(path + ("qemu",), entry["qemu"])
            if qemu is None:
                return None
        kind = entry["change"]
        feature = entry.get("cpu-feature")
        if kind in ("gated", "ungated") and not feature:
            self.error(path + ("change",), f"a '{kind}' change needs 'cpu-feature'",
                       hint="name the feature the exposure depends on (cpu-feature = \"FEAT_TCRX\")")
            return None
        vcpu_feature = entry.get("vcpu-feature")
        if vcpu_feature is not None and vcpu_feature not in VCPU_FEATURES:
            self.error(path + ("vcpu-feature",), f"unknown vCPU feature '{vcpu_feature}'"
                       f"{did_you_mean(vcpu_feature, VCPU_FEATURES)}",
                       hint="a KVM vCPU feature as a register list's '# vcpu-features:' header "
                       "names it: " + ", ".join(VCPU_FEATURES))
            return None
        # On added/removed, cpu-feature is optional: the change happens only on
        # CPUs with the feature (SCTLR2_EL1, added in 6.17 for FEAT_SCTLR2).
        # It does not change which migration breaks or which rule fixes it.
        return Change(kind=kind, kernel=kernel, qemu=qemu, commit=entry["commit"],
                      cpu_feature=feature, accel=entry.get("accel"), vcpu_feature=vcpu_feature,
                      subject=entry.get("subject"), source=entry.get("source"),
                      location=self.loc(path))

    def refusal(self, base: KeyPath, entry: dict[str, Any], changes: tuple[Change, ...]) -> None:
        """``compat = "refuse"``: a reason, and every change scoped to a vCPU
        feature (what a machine type can refuse; a register every vCPU lists
        cannot be refused, only hidden or tolerated)."""
        if "refuse-because" not in entry:
            self.error(base + ("compat",), "compat = \"refuse\" without refuse-because",
                       hint="say which guest state hiding or tolerating the register would lose")
        for change in changes:
            if change.vcpu_feature is None:
                self.sink.error(change.location, f"compat = \"refuse\" needs every change "
                                f"scoped to a vCPU feature, but this one ({change.describe()}) "
                                "applies to every vCPU",
                                context=entity_context(base, self.data),
                                hint="add vcpu-feature = \"el2\" (the vCPUs the change "
                                "happens on), or hide or tolerate the register")
        if "safe-when" in entry or "safe-because" in entry:
            key = "safe-when" if "safe-when" in entry else "safe-because"
            self.error(base + (key,), f"{key} with compat = \"refuse\": a refused register "
                       "is never dropped", key=True, hint=f"remove {key}, or hide or tolerate "
                       "the register")

    def changes_ordered(self, base: KeyPath, changes: tuple[Change, ...]) -> None:
        if len(changes) < 2:  # most registers
            return
        for side in ("kernel", "qemu"):
            seen = [(c.version, i) for i, c in enumerate(changes) if c.side == side]
            for (prev, _), (cur, i) in zip(seen, seen[1:]):
                if cur < prev:  # located at the change itself: i counts valid ones only
                    self.sink.error(changes[i].location, f"changes must be oldest first: "
                                    f"{side} {cur} comes after {side} {prev}",
                                    context=entity_context(base, self.data))

    def unique_indices(self, registers: dict[str, Register | None]) -> None:
        seen: dict[int, str] = {}
        for name, reg in registers.items():
            if reg is None:
                continue
            if reg.index in seen:
                first = seen[reg.index]
                self.error(("registers", name), f"index {codec.format_index(reg.index)} is "
                           f"already register '{first}' ({self.loc(('registers', first))})",
                           key=True, hint="one register, one entry: merge them")
            else:
                seen[reg.index] = name

    def feature(self, name: str, entry: dict[str, Any], registers: dict[str, Register]) -> Feature | None:
        base: KeyPath = ("features", name)
        writes_raw = entry["writes"]
        single = isinstance(writes_raw, dict)
        writes = []
        for i, write in enumerate([writes_raw] if single else writes_raw):
            wpath = base + ("writes",) + (() if single else (i,))
            reg = registers.get(write["register"])
            if reg is None:
                if write["register"] not in self.data.get("registers", {}):
                    self.error(wpath + ("register",), f"unknown register '{write['register']}'"
                               f"{did_you_mean(write['register'], self.data.get('registers', {}))}")
                continue
            value = self.number(wpath + ("value",), write["value"], reg.size)
            if value is None:
                continue
            if name not in reg.used_by:
                self.error(wpath + ("register",), f"feature '{name}' writes {reg.name}, but "
                           f"{reg.name} does not list it in used-by",
                           hint=f"add \"{name}\" to used-by of register '{reg.name}' "
                           f"({reg.location})")
            writes.append(FeatureWrite(reg.name, value, self.loc(wpath)))
        return Feature(name=name, description=entry["description"],
                       property=entry.get("property"), source=entry.get("source"),
                       writes=tuple(writes), location=self.loc(base))

    def family(self, name: str, entry: dict[str, Any], registers: dict[str, Register]) -> MachineFamily | None:
        base: KeyPath = ("machines", name)
        versions: list[MachineVersion] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(entry["versions"]):
            vpath = base + ("versions", i)
            label = raw["version"]
            if label in seen:
                self.error(vpath + ("version",), f"machine type '{name}-{label}' is defined twice "
                           f"(first at {self.doc.locate(base + ('versions', seen[label]))})")
                continue
            number = machine_version_key(label)
            same = next((other for other in seen if machine_version_key(other) == number), None)
            if same is not None:  # 10.01 and 10.1: one machine type under two spellings
                self.error(vpath + ("version",), f"'{name}-{label}' and '{name}-{same}' are the "
                           f"same version twice (first at "
                           f"{self.doc.locate(base + ('versions', seen[same]))})",
                           hint="keep one spelling of the version")
                continue
            seen[label] = i
            min_kernel = self.version(vpath + ("min-kernel",), raw["min-kernel"])
            qemu = self.version(vpath + ("qemu",), raw["qemu"]) if "qemu" in raw else _qemu_of(label)
            for key in ("hide", "tolerate-missing"):
                for j, reg in enumerate(raw.get(key, ())):
                    if reg not in registers and reg not in self.data.get("registers", {}):
                        self.error(vpath + (key, j), f"unknown register '{reg}'"
                                   f"{did_you_mean(reg, self.data.get('registers', {}))}")
            if min_kernel is None:
                continue
            versions.append(MachineVersion(
                family=name, version=label, min_kernel=min_kernel, qemu=qemu,
                description=raw.get("description"), hide=tuple(raw.get("hide", ())),
                tolerate_missing=tuple(raw.get("tolerate-missing", ())), location=self.loc(vpath)))
        for older, newer in zip(versions[1:], versions):
            if machine_version_key(older.version) >= machine_version_key(newer.version):
                self.error(("machines", name, "versions"), f"versions must be listed newest first: "
                           f"'{older.name}' ({older.location}) follows '{newer.name}'")
                break
        problem = c_identifier_problem(entry["cpu-driver"])
        if problem:
            self.error(base + ("cpu-driver",), f"cpu-driver must name a C macro or identifier: {problem}")
        return MachineFamily(name=name, cpu_driver=entry["cpu-driver"],
                             layout=entry.get("compat-layout", "per-version"),
                             description=entry.get("description"), versions=tuple(versions),
                             location=self.loc(base))


def _qemu_of(label: str) -> Version | None:
    try:
        return Version.parse(label)
    except VersionError:
        return None
