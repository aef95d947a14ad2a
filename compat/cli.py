"""The ``compat`` command line.

Each subcommand lives in its own module under :mod:`compat.commands` with two
functions, ``configure(parser)`` and ``run(args) -> int``.  Only the chosen
subcommand's module is imported, so ``compat --help`` stays fast.

Exit status: 0 success, 1 errors or findings, 2 usage errors (argparse's,
and every error located at ``<command line>``: a mistake in the arguments).  Errors go to
stderr as ``file:line:col: error: message``, never as a traceback
(``--debug`` shows one).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from compat import __version__

#: name -> (module, one-line summary).  Keep summaries in sync with modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("compat.commands.validate", "check a registry (schema and semantics)"),
    "build": ("compat.commands.build", "generate QEMU compat tables, guards and docs"),
    "decode": ("compat.commands.decode", "decode KVM register indices"),
    "encode": ("compat.commands.encode", "encode a register expression or name as an index"),
    "explain": ("compat.commands.explain", "show a register's facts and derived rules"),
    "plugins": ("compat.commands.plugins", "list loaded plugins, their hooks and outputs"),
    "check": ("compat.commands.check", "simulate one migration between two register lists"),
    "audit": ("compat.commands.audit", "simulate all migrations among register lists"),
    "diff": ("compat.commands.diff", "registers added and removed between two lists"),
    "new-register": ("compat.commands.new_register", "scaffold a registry entry"),
    "collect": ("compat.commands.collect", "this arm64 host's vCPU register list, from KVM"),
    "lab": ("compat.commands.lab", "real Debian arm64 kernels' register lists under QEMU"),
}


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")

    def _get_value(self, action, arg_string):  # argparse API: one argument's conversion
        from pathlib import Path
        if action.type is Path and not arg_string:  # Path("") would mean "."
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: an empty path")
        return super()._get_value(action, arg_string)


def _top_parser() -> argparse.ArgumentParser:
    epilog = "commands:\n" + "\n".join(
        f"  {name:<14}{summary}" for name, (_, summary) in COMMANDS.items())
    epilog += "\n\nRun 'compat COMMAND --help' for a command's options."
    parser = _Parser(prog="compat", description="Compile a registry of arm64 KVM registers "
                     "into QEMU cross-kernel migration compat rules.",
                     epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"compat {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("command", nargs="?", metavar="COMMAND", help="one of the commands below")
    return parser


def _command_parser(name: str, module) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"compat {name}", description=COMMANDS[name][1],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    module.configure(parser)
    return parser


def _tolerant_streams() -> None:
    """A terminal that cannot show a character (``PYTHONIOENCODING=ascii``,
    ``LC_ALL=POSIX``) gets it escaped rather than ending the run."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a closed or odd stream
                pass


def _flush_stdout() -> int | None:
    """Flush stdout now, while a failure can still be reported (``> /dev/full``)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return None
    except OSError as exc:
        _drop_stdout()
        print(f"compat: error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return None


def _drop_stdout() -> None:
    """Make the interpreter's final flush of a failed stdout a no-op."""
    try:
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture it)
        pass


def _cwd_gone() -> bool:
    import os
    try:
        os.getcwd()
    except OSError:
        return True
    return False


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (every ``except
    BaseException`` cleanup runs, so no temp file is left), then exit
    128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):  # noqa: ARG001 - signal API
    raise Terminated(signum)


def _catch_termination() -> dict:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` (main thread only, and
    only where the default action would kill the process without cleanup)."""
    import signal
    import threading
    old = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            old[signum] = signal.signal(signum, _terminate)
    return old


def main(argv: list[str] | None = None) -> int:
    import signal
    argv = list(sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    handlers = _catch_termination()
    try:
        status = _main(argv)
    except Terminated as exc:  # arrived between _main's return and here
        status = 128 + exc.signum
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    failed = _flush_stdout()
    return failed if failed is not None else status


def _main(argv: list[str]) -> int:
    debug = "--debug" in argv
    try:
        return _dispatch(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated as exc:
        return 128 + exc.signum
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if debug:
            raise
        if getattr(exc, "filename", None) is None and exc.errno is not None:
            # a write to stdout failed (ENOSPC on /dev/full, EIO on a closed tty)
            _drop_stdout()
            print(f"compat: error: cannot write the output: {exc.strerror or exc}",
                  file=sys.stderr)
            return 1
        return _last_resort(exc)
    except RecursionError:
        # Hostile input (an expression of 500 parentheses) exhausting the
        # stack of a recursive-descent reader: an input error, not a crash.
        if debug:
            raise
        print("compat: error: the input is nested too deeply to read", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            raise
        return _last_resort(exc)


def _last_resort(exc: Exception) -> int:
    from compat.core.diagnostics import CompatError
    if isinstance(exc, CompatError):
        print(exc.format(), file=sys.stderr)
        return 2 if exc.is_usage_error() else 1
    if _cwd_gone():
        print("compat: error: the current directory no longer exists",
              file=sys.stderr)
        print("compat: note: cd to an existing directory, or pass absolute paths",
              file=sys.stderr)
        return 1
    print(f"compat: internal error: {type(exc).__name__}: {exc}\n"
          "compat: this is a bug; rerun with --debug for a traceback and report it",
          file=sys.stderr)
    return 3


def _dispatch(argv: list[str]) -> int:
    top = _top_parser()
    split = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if split is None:
        args = top.parse_args(argv)
        top.print_help()
        return 0 if argv else 2
    top.parse_args(argv[:split])  # handles --version/--help/--debug before the command
    name = argv[split]
    if name not in COMMANDS:
        from compat.core.diagnostics import did_you_mean
        raise UsageError(f"compat: error: unknown command '{name}'{did_you_mean(name, COMMANDS)}; "
                         "run 'compat --help' for the list")
    module = importlib.import_module(COMMANDS[name][0])
    args = _command_parser(name, module).parse_args(argv[:split] + argv[split + 1:])
    return int(module.run(args) or 0)
