"""The plugin host: loads plugins and calls their hooks in a fixed order.

pluggy decides what a hook implementation is: only functions marked with
``@hookimpl`` are hooks, every one must name a hook of
:mod:`compat.plugin.hookspecs` (``check_pending`` after each registration,
as tox does) and may take only its arguments.  The host then calls the
implementations pluggy registered (``pm.hook.<name>.get_hookimpls()``) one
plugin at a time, sorted by plugin name, rather than through pluggy's LIFO
call loop: the order of contributions never depends on which package was
installed or registered first, and an exception is attributed to the plugin
that raised it.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping

import pluggy

from compat import __version__
from compat.plugin import hookspecs
from compat.core.diagnostics import COMMAND_LINE, CompatError, Location, did_you_mean
from compat.plugin.api import OutputSpec, PluginError, RenderContext

ENTRY_POINT_GROUP = "compat.plugins"

#: Built-in plugins, loaded explicitly (never discovered).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("compat-props", "compat.plugins.c.compat_props"),
    ("mig-tolerances", "compat.plugins.c.mig_tolerances"),
    ("guards", "compat.plugins.c.guards"),
    ("qemu-glue", "compat.plugins.c.qemu_glue"),
    ("docs-rst", "compat.plugins.docs.rst"),
    ("docs-md", "compat.plugins.docs.md"),
    ("registry-json", "compat.plugins.registry_json"),
)


@dataclass
class PluginInfo:
    """What ``compat plugins`` shows about one plugin."""

    name: str
    version: str
    source: str                      # "builtin", "entry point (dist x.y)", "inline"
    plugin: Any = field(repr=False)
    #: the files its code comes from, for --depfile
    source_files: tuple[str, ...] = ()

    #: the hooks pluggy registered for it, sorted
    hooks: list[str] = field(default_factory=list)


class PluginHost:
    """A pluggy manager plus the bookkeeping compat needs."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}

    # -- loading ------------------------------------------------------------
    @classmethod
    def create(cls, named: Iterable[str] = (), *, builtins: bool = True,
               location: Location | None = None) -> "PluginHost":
        """Built-ins plus the third-party plugins ``named``."""
        host = cls()
        if builtins:
            for name, module in BUILTIN_PLUGINS:
                host.register(importlib.import_module(module), name, __version__, "builtin")
        host.load_entry_points(named, location=location)
        return host

    def register(self, plugin: Any, name: str, version: str = "0", source: str = "inline",
                 entry_module: str | None = None) -> None:
        """Register ``plugin`` (a module, a class or an instance) under
        ``name``; ``entry_module`` is the module its entry point names."""
        if name in self.plugins:
            raise CompatError.at(Location("<plugins>"), f"two plugins are named '{name}' "
                                 f"({self.plugins[name].source} and {source})")
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            self._forget(name)
            raise CompatError.at(Location(f"<plugin {name}>"), f"plugin '{name}' ({source}) "
                                 f"has a malformed hook: {exc}",
                                 hint="a hook may only take the arguments its hookspec "
                                 "names; see `compat plugins` and docs/hooks.md") from None
        except ValueError as exc:  # the same object registered under another name
            self._forget(name)
            other = next((n for n, info in self.plugins.items() if info.plugin is plugin), None)
            raise CompatError.at(Location(f"<plugin {name}>"),
                                 f"plugin '{name}' ({source}) is the same object as plugin "
                                 f"'{other}' ({exc})" if other else
                                 f"plugin '{name}' ({source}) cannot be registered: {exc}",
                                 hint="give each entry point its own plugin object") from None
        self._check_hooks(plugin, name, source)
        callers = self.pm.get_hookcallers(plugin) or []
        functions = [impl.function for caller in callers for impl in caller.get_hookimpls()
                     if impl.plugin is plugin]
        self.plugins[name] = PluginInfo(name, version, source, plugin,
                                        hooks=sorted(caller.name for caller in callers),
                                        source_files=_source_files(plugin, entry_module,
                                                                   functions))

    def _check_hooks(self, plugin: Any, name: str, source: str) -> None:
        """Every ``@hookimpl`` of the plugin names a hook compat has (pluggy's
        ``check_pending``; the plugins before this one already passed it) and
        is a plain function (compat calls hooks itself, so pluggy's wrappers
        would never run)."""
        callers = self.pm.get_hookcallers(plugin) or []
        where = Location(f"<plugin {name}>")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            self._forget(name)
            unknown = sorted(c.name for c in callers if not c.has_spec())
            known = [n for n in dir(hookspecs) if n.startswith("compat_")]
            raise CompatError.at(where, f"plugin '{name}' ({source}) implements unknown hook "
                                 f"'{unknown[0]}'{did_you_mean(unknown[0], known)}",
                                 hint="compat's hooks: " + ", ".join(sorted(known))
                                 + "; see docs/hooks.md") from None
        wrappers = sorted(c.name for c in callers for impl in c.get_hookimpls()
                          if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper))
        if wrappers:
            self._forget(name)
            raise CompatError.at(where, f"plugin '{name}' ({source}) marks '{wrappers[0]}' as "
                                 "a hook wrapper, which compat does not call",
                                 hint="compat calls each plugin's hook itself, sorted by "
                                 "plugin name; use a plain @hookimpl (docs/hooks.md)")

    def _forget(self, name: str) -> None:
        """Undo a registration pluggy refused half-way."""
        try:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
        except Exception:  # noqa: BLE001 - best effort; the error is reported anyway
            pass

    @staticmethod
    def entry_points() -> dict[str, metadata.EntryPoint]:
        """Installed third-party plugins, by name (not loaded)."""
        return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}

    def load_entry_points(self, names: Iterable[str], *, location: Location | None = None) -> None:
        wanted = sorted(set(names))
        if not wanted:  # the usual case: no installed plugin to look up
            return
        available = self.entry_points()
        for name in wanted:
            if name in self.plugins:
                continue
            ep = available.get(name)
            if ep is None:
                known = ", ".join(sorted(available)) or "none installed"
                raise CompatError.at(location or COMMAND_LINE,
                                     f"unknown plugin '{name}'{did_you_mean(name, available)}",
                                     hint=f"installed compat.plugins entry points: {known}")
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: report, never exit
                # the plugin's fault, not the command line's (which would be exit 2)
                raise CompatError.at(Location(f"<plugin {name}>"),
                                     f"plugin '{name}' failed to load: {exc_text(exc)}") from None
            self.register(plugin, name, *describe_entry_point(ep), entry_module=ep.module)

    # -- calling ------------------------------------------------------------
    def call(self, hook: str, *, location: Location | None = None,
             only: str | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` on each plugin, sorted by name; ``[(plugin, result)]``
        without ``None`` results.  Exceptions become diagnostics naming the
        plugin."""
        results = []
        impls = sorted(getattr(self.pm.hook, hook).get_hookimpls(),
                       key=lambda impl: impl.plugin_name)
        for impl in impls:
            name = impl.plugin_name
            if only is not None and name != only:
                continue
            try:
                # pluggy checked at registration that argnames are the hookspec's
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except CompatError:
                raise
            except PluginError as exc:
                raise CompatError.at(exc.location or location or Location("<plugins>"),
                                     f"plugin '{name}' ({hook}): {exc}") from None
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: attribute, never exit
                raise CompatError.at(location or Location("<plugins>"),
                                     f"plugin '{name}' failed in {hook}: {exc_text(exc)}",
                                     hint="this is a bug in the plugin; rerun with --debug "
                                     "for a traceback") from exc
            problem = _RESULT_CHECKS.get(hook, _any)(result)
            if problem:
                raise CompatError.at(location or Location("<plugins>"),
                                     f"plugin '{name}' returned {_short_repr(result)} from "
                                     f"{hook}: {problem}",
                                     hint="this is a bug in the plugin; see the hookspec "
                                     "in compat/plugin/hookspecs.py")
            if result is not None:
                results.append((name, result))
        return results

    def outputs(self, location: Location | None = None, *,
                broken: dict[str, str] | None = None) -> dict[str, OutputSpec]:
        """Every declared output by name.  A malformed declaration, a file
        path outside the output directory, or a name declared twice is an
        error naming the plugin.  With ``broken`` (``compat plugins``), such a
        plugin is recorded there and skipped, so it hides no other plugin."""
        found: dict[str, OutputSpec] = {}
        for name in sorted(self.plugins):
            try:
                self._declared_outputs(name, found, location)
            except CompatError as exc:
                if broken is None:
                    raise
                broken[name] = "; ".join(d.message for d in exc.diagnostics)
        return dict(sorted(found.items()))

    def _declared_outputs(self, name: str, found: dict[str, OutputSpec],
                          location: Location | None) -> None:
        from compat.output import check_relative

        where = location or Location("<plugins>")
        mine: dict[str, OutputSpec] = {}
        for plugin, specs in self.call("compat_outputs", location=location, only=name):
            if not isinstance(specs, (list, tuple)) or not all(
                    isinstance(spec, OutputSpec) and isinstance(spec.files, tuple)
                    and all(isinstance(f, str) for f in spec.files) for spec in specs):
                raise CompatError.at(where, f"plugin '{plugin}' declared outputs as "
                                     f"{_short_repr(specs)}, not a list of OutputSpec "
                                     "with a tuple of file names")
            for spec in specs:
                for rel in spec.files:
                    check_relative(rel, plugin)
                if spec.name in found or spec.name in mine:
                    first = (found.get(spec.name) or mine[spec.name]).plugin
                    raise CompatError.at(where, f"output '{spec.name}' is declared by plugins "
                                         f"'{first}' and '{plugin}'")
                mine[spec.name] = _with_plugin(spec, plugin)
        found.update(mine)

    def render(self, spec: OutputSpec, context: RenderContext,
               location: Location | None = None) -> "dict[str, str | Iterable[str]]":
        """Render one output on its declaring plugin and check its file list
        (each file's text is a ``str`` or an iterable of ``str`` chunks)."""
        answers = self.call("compat_render_output", location=location, only=spec.plugin,
                            name=spec.name, context=context)
        if not answers:
            raise CompatError.at(location or Location("<plugins>"),
                                 f"plugin '{spec.plugin}' declared output '{spec.name}' "
                                 "but did not render it")
        files = answers[0][1]
        if not isinstance(files, dict) or not all(
                isinstance(k, str) and (isinstance(v, str) or is_chunks(v))
                for k, v in files.items()):
            raise CompatError.at(location or Location("<plugins>"),
                                 f"plugin '{spec.plugin}' rendered output '{spec.name}' as "
                                 f"{type(files).__name__}, not {{path: text}}")
        if set(files) != set(spec.files):
            raise CompatError.at(location or Location("<plugins>"),
                                 f"plugin '{spec.plugin}' rendered {sorted(files)} for output "
                                 f"'{spec.name}', which declares {list(spec.files)}")
        return files

    def module_files(self) -> list[Path]:
        """Source files of every loaded plugin, for ``--depfile``."""
        return sorted({Path(f) for p in self.plugins.values() for f in p.source_files})


def _source_files(plugin: Any, entry_module: str | None,
                  hooks: list[Any]) -> tuple[str, ...]:
    """The files a plugin's behaviour comes from: the module its entry point
    names, the module defining it (a module; a class; an instance's class
    and its bases) and the module of every hook implementation (``hooks``,
    the functions pluggy registered)."""
    import sys
    objects: list[Any] = [sys.modules.get(entry_module or "")]
    if isinstance(plugin, ModuleType) or inspect.isclass(plugin):
        objects.append(plugin)
    else:
        objects.extend(type(plugin).__mro__[:-1])  # not object itself
    objects.extend(inspect.unwrap(getattr(func, "__func__", func)) for func in hooks)
    files = set()
    for obj in objects:
        if obj is None:
            continue
        try:
            module = obj if isinstance(obj, ModuleType) else inspect.getmodule(obj)
            found = getattr(module, "__file__", None) or inspect.getfile(obj)
        except (TypeError, OSError, ValueError):  # built-in, or made at run time
            continue
        if found and Path(found).is_file():
            files.add(str(Path(found).resolve()))
    return tuple(sorted(files))


def exc_text(exc: BaseException) -> str:
    """How an exception a plugin raised reads in a diagnostic."""
    if isinstance(exc, SystemExit):
        return f"it tried to exit the program (SystemExit({exc.code!r}))"
    return f"{type(exc).__name__}: {exc}"


def _any(result: Any) -> str | None:
    return None


def _list_of(kind: type, check=None):
    def problem(result: Any) -> str | None:
        if result is None:
            return None
        if not isinstance(result, (list, tuple)):
            return f"expected a list of {kind.__name__}, not {type(result).__name__}"
        for item in result:
            if not isinstance(item, kind):
                return f"expected a list of {kind.__name__}, found a {type(item).__name__}"
            why = check(item) if check else None
            if why:
                return why
        return None
    return problem


def _fields(item: Any, types: dict[str, Any]) -> str | None:
    for attr, kind in types.items():
        value = getattr(item, attr, None)
        if not isinstance(value, kind):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            return (f"{type(item).__name__}.{attr} must be {names}, "
                    f"not {type(value).__name__}")
        if isinstance(value, str) and not _utf8(value):
            return f"{type(item).__name__}.{attr} is not valid Unicode text (a lone surrogate)"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_diagnostic(d: Any) -> str | None:
    from compat.core.diagnostics import Location as Loc
    why = _fields(d, {"location": Loc, "message": str, "context": (str, type(None)),
                      "hint": (str, type(None)), "severity": str})
    if why:
        return why
    return _fields(d.location, {"file": str, "line": int, "col": int})


def _check_rendered(result: Any) -> str | None:
    if result is None:
        return None
    if not isinstance(result, dict):
        return f"expected {{path: text}}, not {type(result).__name__}"
    for path, text in result.items():
        if not isinstance(path, str) or not (isinstance(text, str) or is_chunks(text)):
            return f"expected {{path: text}} of str, found {type(path).__name__}: " \
                   f"{type(text).__name__}"
        # chunks are checked as they are written (compat.load.pipeline)
        if not _utf8(path) or (isinstance(text, str) and not _utf8(text)):
            return f"the text of {path!r} is not valid Unicode (a lone surrogate)"
    return None


def is_chunks(value: Any) -> bool:
    """Whether ``value`` may stand for a file's text as its chunks: an
    iterable (a list, a generator) that is not itself text, bytes or a
    mapping.  Its items must be ``str``; that is checked as they come."""
    return (isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray))
            and not isinstance(value, Mapping))


def chunk_problem(chunk: Any) -> str | None:
    """What is wrong with one chunk of a rendered file (None: nothing)."""
    if not isinstance(chunk, str):
        return f"a chunk of the text is {type(chunk).__name__}, not str"
    if not chunk.isascii() and not _utf8(chunk):  # isascii: a flag, no scan
        return "the text is not valid Unicode (a lone surrogate)"
    return None


def _check_spec(spec: Any) -> str | None:
    return _fields(spec, {"name": str, "files": tuple, "description": str, "default": bool})


def _result_checks() -> dict[str, Any]:
    from compat.core.diagnostics import Diagnostic
    return {
        # schema and registry fragments are checked where they are merged
        # (compat.load.schema_ext, compat.load.fragments)
        "compat_validate": _list_of(Diagnostic, _check_diagnostic),
        "compat_outputs": _list_of(OutputSpec, _check_spec),
        "compat_render_output": _check_rendered,
    }


_RESULT_CHECKS = _result_checks()


def _with_plugin(spec: OutputSpec, plugin: str) -> OutputSpec:
    from dataclasses import replace
    return replace(spec, plugin=plugin)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_entry_point(ep: metadata.EntryPoint) -> tuple[str, str]:
    """(version, source) of an installed plugin, as ``compat plugins`` shows it."""
    dist = ep.dist
    if dist is None:
        return "0", f"entry point {ep.value}"
    return dist.version, f"entry point {ep.value}, distribution {dist.name} {dist.version}"
