"""Registry fragments: plugins contributing machine types, registers and features.

A plugin's ``compat_registry_fragments()`` returns
:class:`compat.plugin.api.Fragment` objects (TOML ``text`` or a parsed
``data`` mapping).  :func:`merge_fragments` turns them into part of the
registry *before* semantic validation, so a fragment is checked exactly like
``registry.toml``:

1. each fragment is parsed on its own (TOML text keeps line and column
   positions, under the fragment's own name) and validated against the
   (possibly extended) schema, minus the keys only a whole registry needs;
2. fragments are merged in a fixed order: plugins sorted by name, each
   plugin's fragments in the order it returned them;
3. the merged document remembers, for every merged entity, which document
   and key path it came from, so later diagnostics (and
   :attr:`Register.location <compat.core.model.Register>`) point into the
   fragment: ``rhel.toml:3:1``, not ``registry.toml``.

Merge rules:

* a new register, feature, machine family or machine version is added;
* a register or feature defined again with *identical* content is accepted
  once (de-duplicated; the first definition keeps its location), so two
  plugins may both ship a register they need;
* the same register or feature with different content, the same machine
  version (family + version) twice, or a machine family attribute with two
  different values is an error naming both sources with their locations;
* a machine version added to an existing family is inserted in
  newest-first order;
* fragments may not set ``plugins`` or ``outputs`` (only the registry
  decides what a build loads and writes); other top-level keys are allowed
  only when a schema fragment defines them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.plugin.api import Fragment
from compat.load.schema import check_schema_version, validate_structure
from compat.core.versions import machine_version_key
from compat.load.schema_ext import fragment_only_schema
from compat.load.source import KeyPath, PositionIndex, SourceDocument, load_toml_text

#: Top-level keys a fragment must not set.
FORBIDDEN_KEYS = ("plugins", "outputs")


@dataclass
class _Origin:
    doc: SourceDocument
    path: KeyPath
    plugin: str | None          # None: the main registry


@dataclass
class MergedPositions:
    """A :class:`~compat.load.source.PositionIndex` stand-in for a merged document.

    ``owners`` maps a key path of the merged document to the document and
    key path it was written at; everything else is located in ``main``.
    """

    main: SourceDocument
    owners: dict[KeyPath, _Origin] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> tuple[_Origin, KeyPath]:
        """The source of ``path`` and the rest of the path below it."""
        for n in range(len(path), 0, -1):
            found = self.owners.get(path[:n])
            if found is not None:
                return found, path[n:]
        return _Origin(self.main, (), None), path

    def locate(self, filename: str, path: KeyPath, *, value: bool) -> Location:
        """Same contract as :meth:`PositionIndex.locate`; ``filename`` is the
        main document's and is used only for paths the main document owns."""
        found, rest = self.origin(tuple(path))
        return found.doc.locate(found.path + rest, value=value)

    def describe(self, path: KeyPath) -> str:
        """``at registry.toml:53:1`` or ``by plugin 'rhel' (rhel.toml:3:1)``."""
        found, rest = self.origin(tuple(path))
        loc = found.doc.locate(found.path + rest, value=False)
        return f"at {loc}" if found.plugin is None else f"by plugin '{found.plugin}' ({loc})"


def fragment_document(plugin: str, fragment: Any) -> SourceDocument:
    """Parse one fragment into a :class:`SourceDocument` named after it."""
    where = Location(f"<plugin {plugin}>")
    if not isinstance(fragment, Fragment):
        raise CompatError.at(where, f"plugin '{plugin}': compat_registry_fragments() returned "
                             f"{type(fragment).__name__}, not compat.plugin.api.Fragment")
    if not isinstance(fragment.name, str) or not fragment.name.strip():
        raise CompatError.at(where, f"plugin '{plugin}': a Fragment needs a name "
                             "(used in error messages, e.g. \"rhel.toml\")")
    if (fragment.text is None) == (fragment.data is None):
        raise CompatError.at(Location(fragment.name), f"plugin '{plugin}': Fragment "
                             f"'{fragment.name}' must have exactly one of 'text' and 'data'")
    if fragment.text is not None:
        if not isinstance(fragment.text, str):
            raise CompatError.at(Location(fragment.name), f"plugin '{plugin}': Fragment "
                                 f"'{fragment.name}' text must be a str")
        return load_toml_text(fragment.text, fragment.name)
    if not isinstance(fragment.data, Mapping):
        raise CompatError.at(Location(fragment.name), f"plugin '{plugin}': Fragment "
                             f"'{fragment.name}' data must be a mapping (a TOML table)")
    return SourceDocument(fragment.name, "", _plain(fragment.data), PositionIndex())


def _plain(value: Any) -> Any:
    """A deep, plain (dict/list) copy, so the merge never mutates plugin data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


def check_fragment(fdoc: SourceDocument, plugin: str, schema: Mapping[str, Any]) -> None:
    """Schema-check a fragment on its own; diagnostics point into it."""
    problems: list[Diagnostic] = []
    if "schema-version" in fdoc.data:
        problems.extend(check_schema_version(fdoc))
    for key in FORBIDDEN_KEYS:
        if key in fdoc.data:
            problems.append(Diagnostic(
                fdoc.locate((key,), value=False),
                f"a registry fragment (plugin '{plugin}') may not set '{key}'",
                hint="only the registry itself chooses which plugins and outputs a build uses"))
    if not problems:
        problems.extend(validate_structure(fdoc, fragment_only_schema(schema)))
    if problems:
        raise CompatError(problems)


class _Merger:
    def __init__(self, main: SourceDocument) -> None:
        self.main = main
        self.data = _plain(main.data)
        self.positions = MergedPositions(main)
        # Families that received versions: [origin of each version, in order].
        self.version_origins: dict[str, list[_Origin]] = {}

    def conflict(self, what: str, first: KeyPath, fdoc: SourceDocument, plugin: str,
                 second: KeyPath, hint: str) -> CompatError:
        here = fdoc.locate(second, value=False)
        return CompatError([Diagnostic(
            here, f"{what} is defined twice: {self.positions.describe(first)} and by "
            f"plugin '{plugin}' ({here})", hint=hint)])

    def merge(self, fdoc: SourceDocument, plugin: str) -> None:
        for key, value in fdoc.data.items():
            if key == "schema-version":
                continue
            if key in ("registers", "features"):
                self.merge_named(key, value, fdoc, plugin)
            elif key == "machines":
                for family, entry in value.items():
                    self.merge_family(family, entry, fdoc, plugin)
            elif key in self.data and self.data[key] != value:
                raise self.conflict(f"top-level key '{key}'", (key,), fdoc, plugin, (key,),
                                    hint="the two sources give it different values")
            elif key not in self.data:
                self.data[key] = value
                self.positions.owners[(key,)] = _Origin(fdoc, (key,), plugin)

    def merge_named(self, section: str, entries: dict[str, Any], fdoc: SourceDocument,
                    plugin: str) -> None:
        target = self.data.setdefault(section, {})
        kind = "register" if section == "registers" else "feature"
        for name, entry in entries.items():
            path: KeyPath = (section, name)
            if name in target:
                if target[name] == entry:
                    continue            # identical duplicate: accepted once
                differing = sorted(k for k in set(target[name]) | set(entry)
                                   if target[name].get(k) != entry.get(k))
                raise self.conflict(f"{kind} '{name}'", path, fdoc, plugin, path,
                                    hint="the definitions differ in " + ", ".join(
                                        f"'{k}'" for k in differing)
                                    + "; keep one, or make them identical")
            target[name] = entry
            self.positions.owners[path] = _Origin(fdoc, path, plugin)

    def merge_family(self, family: str, entry: dict[str, Any], fdoc: SourceDocument,
                     plugin: str) -> None:
        machines = self.data.setdefault("machines", {})
        base: KeyPath = ("machines", family)
        if family not in machines:
            machines[family] = entry
            self.positions.owners[base] = _Origin(fdoc, base, plugin)
            return
        current = machines[family]
        for key, value in entry.items():
            if key == "versions":
                continue
            if key in current and current[key] != value:
                raise self.conflict(f"'{key}' of machine family '{family}'", base + (key,),
                                    fdoc, plugin, base + (key,),
                                    hint=f"{current[key]!r} != {value!r}; a fragment may add "
                                    "versions to a family but not change it")
            if key not in current:
                current[key] = value
                self.positions.owners[base + (key,)] = _Origin(fdoc, base + (key,), plugin)
        versions = current.setdefault("versions", [])
        origins = self.version_origins.get(family)
        if origins is None:
            origins = [self.resolved(base + ("versions", i)) for i in range(len(versions))]
            self.version_origins[family] = origins
        for i, version in enumerate(entry.get("versions", [])):
            vpath = base + ("versions", i)
            for j, existing in enumerate(versions):
                if existing.get("version") == version.get("version"):
                    self.sync_versions(family)
                    raise self.conflict(f"machine type '{family}-{version.get('version')}'",
                                        base + ("versions", j), fdoc, plugin, vpath,
                                        hint="each machine version is defined by one source")
            new_key = machine_version_key(str(version.get("version")))
            at = len(versions)
            for j, existing in enumerate(versions):
                if machine_version_key(str(existing.get("version"))) < new_key:
                    at = j
                    break
            versions.insert(at, version)
            origins.insert(at, _Origin(fdoc, vpath, plugin))
            self.sync_versions(family)

    def resolved(self, path: KeyPath) -> _Origin:
        """The origin of exactly ``path`` (not of an ancestor)."""
        found, rest = self.positions.origin(path)
        return _Origin(found.doc, found.path + rest, found.plugin)

    def sync_versions(self, family: str) -> None:
        """Re-point every version of ``family`` at its origin after an insert."""
        base: KeyPath = ("machines", family, "versions")
        for i, origin in enumerate(self.version_origins[family]):
            self.positions.owners[base + (i,)] = origin

    def document(self) -> SourceDocument:
        return SourceDocument(self.main.filename, self.main.text, self.data, self.positions)


def merge_fragments(main: SourceDocument, contributions: Iterable[tuple[str, Any]],
                    schema: Mapping[str, Any]) -> SourceDocument:
    """``main`` with every plugin's registry fragments merged in.

    ``contributions`` is ``[(plugin name, [Fragment, ...]), ...]`` as
    :meth:`PluginHost.call` returns it (sorted by plugin name); ``schema``
    is the (extended) registry schema.  Returns ``main`` itself when there
    is nothing to merge.  Raises :class:`CompatError` for a bad fragment
    or a conflict.
    """
    merger: _Merger | None = None
    for plugin, fragments in contributions:
        if not isinstance(fragments, (list, tuple)):
            raise CompatError.at(Location(f"<plugin {plugin}>"),
                                 f"plugin '{plugin}': compat_registry_fragments() must return "
                                 f"a list of Fragment, not {type(fragments).__name__}")
        for fragment in fragments:
            fdoc = fragment_document(plugin, fragment)
            check_fragment(fdoc, plugin, schema)
            if merger is None:
                merger = _Merger(main)
            merger.merge(fdoc, plugin)
    return main if merger is None else merger.document()
