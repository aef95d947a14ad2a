"""The build pipeline: load -> validate -> derive -> render -> write.

:func:`load` brings a registry up to a checked :class:`Loaded` (plugins
included), :func:`render_each` renders one output at a time without
touching the disk (:func:`render`: all of them as ``{relative path:
text}``), and the ``build`` command decides whether to stage and write,
check, or emit a depfile.  Nothing is renamed into place unless every step
succeeded.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Iterable, Iterator

from compat.core import resources
from compat.core.derive import Derivation, derive
from compat.core.diagnostics import COMMAND_LINE, CompatError, Diagnostic, Location, did_you_mean
from compat.core.model import Registry
from compat.plugin.api import OutputSpec, RenderContext
from compat.plugin.host import PluginHost
from compat.load.fragments import merge_fragments
from compat.load.schema import registry_schema
from compat.load.schema_ext import extend_schema
from compat.load.source import SourceDocument, load_toml_file, load_toml_text
from compat.load.semantic import build_registry


@dataclass
class Loaded:
    """A registry ready to render: validated, derived, plugins loaded."""

    host: PluginHost
    registry: Registry
    derivation: Derivation
    source_name: str
    inputs: list[Path]              # files the result depends on (for depfiles)
    outputs: dict[str, OutputSpec]  # every output the loaded plugins declare
    #: plugin validators' warnings (a promise no rule keeps): printed by validate
    warnings: tuple[Diagnostic, ...] = ()


@contextlib.contextmanager
def _no_cyclic_gc(freeze: bool = False):
    """Pause the cyclic garbage collector: loading and rendering allocate
    millions of acyclic objects (freed by reference counting) and the
    collector, triggered every 700 allocations, spent about a sixth of a
    large build walking them.  With ``freeze`` what was allocated meanwhile
    (the loaded registry, alive until the process ends) moves to the
    permanent generation, out of every later collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def load(path: Path, display_name: str, plugins: Iterable[str] = (), *,
         host: PluginHost | None = None) -> Loaded:
    """Read ``path`` and every plugin it needs; validate and derive."""
    # a file name's undecodable bytes (lone surrogates) as escapes: the name
    # reaches generated text ("Defined at: FILE:LINE"), which must be Unicode
    try:
        display_name = display_name.encode("utf-8", "surrogateescape") \
            .decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # not from the file system: a surrogate outside \udc80..
        display_name = display_name.encode("utf-8", "backslashreplace").decode("utf-8")
    with _no_cyclic_gc(freeze=True):
        return load_document(load_toml_file(path, display_name), plugins, host=host,
                             inputs=[path.resolve()])


def load_text(text: str, display_name: str = "registry.toml", plugins: Iterable[str] = (), *,
              host: PluginHost | None = None) -> Loaded:
    """Like :func:`load` for registry text held in memory."""
    return load_document(load_toml_text(text, display_name), plugins, host=host, inputs=[])


def load_document(doc: SourceDocument, plugins: Iterable[str] = (), *,
                  host: PluginHost | None = None, inputs: list[Path] | None = None) -> Loaded:
    """Load plugins, extend the schema with their schema fragments, merge
    their registry fragments (see :mod:`compat.load.fragments`), then validate
    and derive."""
    listed = doc.data.get("plugins")
    listed = [p for p in listed if isinstance(p, str)] if isinstance(listed, list) else []
    if host is None:
        host = PluginHost.create()
    # a plugin named with --plugin is the command line's; one in plugins = [...] the registry's
    host.load_entry_points(plugins, location=COMMAND_LINE)
    host.load_entry_points(listed, location=doc.locate(("plugins",)))
    schema = extend_schema(registry_schema(), host.call(
        "compat_schema_fragments", location=Location(doc.filename)))
    doc = merge_fragments(doc, host.call("compat_registry_fragments",
                                         location=Location(doc.filename)), schema)
    registry = build_registry(doc, schema=schema)
    outputs = host.outputs(Location(doc.filename))
    _check_output_names(doc, registry, outputs)
    derivation = derive(registry)
    problems = [d for _, found in host.call("compat_validate", location=Location(doc.filename),
                                            registry=registry, derivation=derivation)
                for d in found]
    if any(d.severity == "error" for d in problems):
        raise CompatError(problems)
    deps = list(inputs or []) + [resources.schema_path().resolve()] + host.module_files()
    return Loaded(host, registry, derivation, doc.filename, deps, outputs, tuple(problems))


def _unknown_output(name: str, available: dict[str, OutputSpec], where: Location) -> Diagnostic:
    return Diagnostic(where, f"unknown output '{name}'{did_you_mean(name, available)}",
                      hint="available outputs: " + ", ".join(available))


def _check_output_names(doc: SourceDocument, registry: Registry,
                        available: dict[str, OutputSpec]) -> None:
    """The registry's ``outputs = [...]`` must name outputs some plugin declares."""
    problems = [_unknown_output(name, available, doc.locate(("outputs", i)))
                for i, name in enumerate(registry.outputs or ()) if name not in available]
    if problems:
        raise CompatError(problems)


def select_outputs(loaded: Loaded, only: Iterable[str] | None = None) -> list[OutputSpec]:
    """The outputs to build: ``only`` if given, else the registry's list
    plus the default outputs of the non-built-in plugins it loaded (naming a
    plugin with ``--plugin`` or ``plugins = [...]`` asks for its outputs),
    else every output declared as default."""
    available = loaded.outputs
    wanted = list(only or ())
    if not wanted and loaded.registry.outputs is not None:
        wanted = list(loaded.registry.outputs)
        wanted += [name for name, spec in available.items() if spec.default
                   and loaded.host.plugins[spec.plugin].source != "builtin"]
    if not wanted:
        return [spec for spec in available.values() if spec.default]
    unknown = [name for name in wanted if name not in available]
    if unknown:  # only --only names can be unknown here: the registry's were checked
        diagnostic = _unknown_output(unknown[0], available, COMMAND_LINE)
        provider = _installed_provider(unknown[0], loaded)
        if provider is not None:
            diagnostic = Diagnostic(
                diagnostic.location, f"output '{unknown[0]}' is provided by the installed "
                f"plugin '{provider}', which is not loaded",
                hint=f"pass --plugin {provider}, or add plugins = [\"{provider}\"] to the "
                "registry (installed plugins are loaded only when named)")
        raise CompatError([diagnostic])
    return [available[name] for name in sorted(set(wanted))]


def _installed_provider(output: str, loaded: Loaded) -> str | None:
    """The installed, unloaded third-party plugin that declares ``output``
    (for the error message only; a plugin that fails to load is skipped)."""
    for name in sorted(PluginHost.entry_points()):
        if name in loaded.host.plugins:
            continue
        try:
            host = PluginHost.create([name], builtins=False)
            if output in host.outputs():
                return name
        except Exception:  # noqa: BLE001 - a broken plugin only loses the hint
            continue
    return None


def render(loaded: Loaded, outputs: list[OutputSpec]) -> dict[str, str]:
    """Render ``outputs`` into ``{relative path: text}``; nothing touches disk."""
    return dict(sorted(render_each(loaded, outputs)))


def render_each(loaded: Loaded, outputs: list[OutputSpec]) -> Iterator[tuple[str, str]]:
    """Render ``outputs`` one at a time, yielding ``(relative path, text)``
    for each file as soon as its output is rendered (a file a plugin
    rendered as chunks is joined here; :func:`stream_each` keeps them)."""
    for rel, chunks in stream_each(loaded, outputs):
        yield rel, "".join(chunks)


def stream_each(loaded: Loaded, outputs: list[OutputSpec],
                memo: dict | None = None) -> Iterator[tuple[str, Iterator[str]]]:
    """Render ``outputs`` one at a time, yielding ``(relative path,
    chunks)``: each file's text as an iterator of strings that ends with a
    newline, to be consumed before the next item is asked for.  A caller
    that writes the chunks as they come (:class:`compat.output.StagedOutputs`)
    holds neither every output nor the whole text of one in memory when the
    plugin renders it as chunks (the built-in docs do).  ``memo`` is the
    render memo (:class:`RenderContext`) to share with earlier calls."""
    owner: dict[str, str] = {}
    memo = {} if memo is None else memo
    where = Location(loaded.source_name)
    with _no_cyclic_gc():
        for spec in outputs:
            # base name only: generated files must not depend on where the registry lives
            context = RenderContext(loaded.registry, loaded.derivation, spec,
                                    PurePath(loaded.source_name).name, memo)
            files = loaded.host.render(spec, context, where)
            for rel in sorted(files):
                if rel in owner:
                    raise CompatError.at(where, f"outputs '{owner[rel]}' "
                                         f"and '{spec.name}' both write '{rel}'")
                owner[rel] = spec.name
                text = files.pop(rel)
                if isinstance(text, str):
                    yield rel, iter((text if text.endswith("\n") else text + "\n",))
                else:
                    yield rel, _checked_chunks(text, spec, where)
                del text


def _checked_chunks(chunks: Iterable, spec: OutputSpec, where: Location) -> Iterator[str]:
    """``chunks`` checked one by one (str, valid Unicode) with a final
    newline added if missing; a plugin's exception while producing them is
    a diagnostic naming it, as one raised by its hook is."""
    from compat.plugin.host import chunk_problem, exc_text
    last = ""
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            break
        except (CompatError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as PluginHost.call: attribute, never exit
            raise CompatError.at(where, f"plugin '{spec.plugin}' failed rendering output "
                                 f"'{spec.name}': {exc_text(exc)}",
                                 hint="this is a bug in the plugin; rerun with --debug "
                                 "for a traceback") from exc
        problem = chunk_problem(chunk)
        if problem:
            raise CompatError.at(where, f"plugin '{spec.plugin}' rendered output "
                                 f"'{spec.name}' wrongly: {problem}",
                                 hint="this is a bug in the plugin; see compat_render_output "
                                 "in docs/hooks.md")
        if chunk:
            last = chunk
            yield chunk
    if not last.endswith("\n"):
        yield "\n"


def declared_files(outputs: list[OutputSpec]) -> list[str]:
    """The relative paths ``outputs`` will write, sorted (each output
    declares its files and must render exactly those)."""
    return sorted({rel for spec in outputs for rel in spec.files})
