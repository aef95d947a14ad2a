"""Render a build's outputs on two cores: the docs in a forked child.

After load -> validate -> derive, a build's outputs are independent of each
other, and the two docs outputs (which share their document model) cost
about as much as all the others together.  :func:`stage_outputs` forks once,
the child renders and stages the docs, the parent the rest; the parent then
takes over the child's staged files, and the build commits them all at once
or none (:class:`compat.output.StagedOutputs`).  The files are the same
bytes either way: each output is rendered by the same code from the same
loaded registry (the child is a copy of the parent), only in another
process.

It runs one process when only one CPU is available to this process (or
``COMPAT_RENDER_PROCESSES=1``), on systems other than Linux, or when the
outputs to build are not the docs and something else.  Only built-in
outputs go to the child: a third-party plugin renders in the process it
was loaded in, in the order it always did.
"""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import PurePath

from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.output import StagedOutputs
from compat.load.background import processes
from compat.plugin.api import OutputSpec, RenderContext
from compat.load.pipeline import Loaded, declared_files, stream_each

#: Built-in outputs rendered in the child (they share one document model).
CHILD_OUTPUTS = frozenset({"docs-md", "docs-rst"})


def stage_outputs(loaded: Loaded, specs: list[OutputSpec], staged: StagedOutputs) -> None:
    """Render ``specs`` and stage every file they write into ``staged``
    (nothing is committed here); raise the error the one-process build
    would have raised if any output fails, with nothing left staged by
    the child."""
    child = [s for s in specs if s.name in CHILD_OUTPUTS
             and loaded.host.plugins[s.plugin].source == "builtin"]
    parent = [s for s in specs if s not in child]
    memo: dict = {}
    if (not child or not parent or processes() < 2
            or set(declared_files(child)) & set(declared_files(parent))):
        for rel, chunks in stream_each(loaded, specs, memo):
            staged.add(rel, chunks)
        return
    # Work both halves need, done once before the fork: the resolved view
    # with every register's decisions and summary (the docs and
    # registry.json both read them); and the directories of the child's
    # files, made by the parent so that its abort removes them (the child
    # creates none).
    view = RenderContext(loaded.registry, loaded.derivation, child[0],
                         PurePath(loaded.source_name).name, memo).resolved()
    for register in view.registers():
        register.summary  # noqa: B018 - a cached property, computed here once
    for rel in declared_files(child):
        staged.make_parents(rel)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its result is checked by the parent
        os.close(read_end)
        _child(loaded, child, staged, memo, write_end)
    os.close(write_end)
    mine: CompatError | None = None
    current = parent[0].name
    try:
        try:
            for spec in parent:
                current = spec.name
                for rel, chunks in stream_each(loaded, [spec], memo):
                    staged.add(rel, chunks)
        except CompatError as exc:
            mine = exc
        parts = _read_all(read_end)
    except BaseException:
        _stop(pid)
        raise
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if not parts or code != 0:
        raise CompatError.at(Location(loaded.source_name), "the process rendering the "
                             f"docs stopped (exit status {code})", hint="rerun the build; "
                             "COMPAT_RENDER_PROCESSES=1 renders in one process")
    result = pickle.loads(b"".join(parts))
    for rel, tmp in result.get("staged", {}).items():
        staged.adopt(rel, tmp)
    staged.names.extend(result.get("names", []))
    failed = result.get("failed")
    # the one-process build renders in name order and stops at its first failure
    order = [s.name for s in specs]
    if failed is not None and (mine is None or order.index(failed) < order.index(current)):
        raise CompatError(result["diagnostics"])
    if mine is not None:
        raise mine


def _child(loaded: Loaded, specs: list[OutputSpec], parent_staged: StagedOutputs,
           memo: dict, write_end: int) -> None:
    """Render and stage ``specs``, send the parent what was staged (or the
    diagnostics of the failure) through ``write_end``, and exit without
    running the parent's cleanup (the parent's temp files are its own)."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, _exit_on_signal)  # unwind: staged files are removed
        with StagedOutputs(parent_staged.out_dir) as staged:
            current = specs[0].name
            try:
                for spec in specs:
                    current = spec.name
                    for rel, chunks in stream_each(loaded, [spec], memo):
                        staged.add(rel, chunks)
                result: dict = {"staged": staged.detach(), "names": staged.names}
            except CompatError as exc:
                result = {"failed": current, "diagnostics": list(exc.diagnostics)}
            except Exception as exc:  # noqa: BLE001 - the parent reports it as a build error
                result = {"failed": current, "diagnostics": [Diagnostic(
                    Location(loaded.source_name), f"rendering output '{current}' failed "
                    f"in the second process: {type(exc).__name__}: {exc}")]}
        data = pickle.dumps(result)
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view):]
    except BaseException:  # noqa: BLE001 - a signal: the staged files were removed on the way
        code = 1
    finally:
        os._exit(code)


class _Stopped(KeyboardInterrupt):
    """SIGTERM in the child: unwinds like Ctrl-C, which plugin hooks pass
    through (any other exception would read as the plugin's failure)."""


def _exit_on_signal(signum, frame):  # noqa: ARG001 - signal API
    raise _Stopped(signum)


def _read_all(read_end: int) -> list[bytes]:
    """Everything the child sends, up to its end of the pipe closing."""
    parts = []
    with os.fdopen(read_end, "rb", closefd=False) as pipe:
        while chunk := pipe.read(1 << 16):
            parts.append(chunk)
    return parts


def _stop(pid: int) -> None:
    """Stop the child (the parent is unwinding); it removes its own staged
    files on SIGTERM: wait for it, so that none is left behind."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass
