"""The ``compat`` command line.

Each subcommand lives in its own module under :mod:`compat.commands` with two
functions, ``configure(parser)`` and ``run(args) -> int``.  Only the chosen
subcommand's module is imported, so ``compat --help`` stays fast.

Exit status: 0 success, 1 errors or findings (per command: :data:`EXIT`),
2 usage errors (argparse's, and every error located at ``<command line>``:
a mistake in the arguments), 3 internal errors (a bug).  Errors go to
stderr as ``file:line:col: error: message``, never as a traceback
(``--debug`` shows one).
"""

from __future__ import annotations

import sys

from compat import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs 'compat --help' a third
if TYPE_CHECKING:  # argparse is imported when a command runs, not for 'compat --help'
    import argparse

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
    "samples": ("compat.commands.samples", "list or copy the real register lists bundled "
                "with compat"),
}


#: name -> what exit statuses 0 and 1 mean; 2 (usage) and 3 (internal error)
#: are the same for every command.  Printed at the end of each command's help.
EXIT: dict[str, tuple[str, str]] = {
    "validate": ("the registry is valid", "it has errors (all of them are printed)"),
    "build": ("files written or already up to date",
              "errors, or with --check: a file is stale (a diff is printed)"),
    "decode": ("every index decoded", "an index is not valid"),
    "encode": ("encoded", "the expression or name is not valid"),
    "explain": ("the register was found", "it is unknown (or the registry has errors)"),
    "plugins": ("plugins listed", "a plugin or the registry could not be loaded"),
    "check": ("the migration passes", "it fails (the reasons are printed), its verdict is "
              "unknown (it depends on a value nothing gives), or bad input"),
    "audit": ("every promised migration passes (registers outside every promise are only listed)",
              "a promised migration fails, or bad input"),
    "diff": ("every register that breaks migration has a registry rule (or none changed)",
             "a register breaks migration and no registry rule covers it, or bad input"),
    "new-register": ("the entry was printed or added", "bad input, or the register exists"),
    "collect": ("the register list was written", "KVM or the output is unusable"),
    "lab": ("done", "a kernel, download, boot or collection failed"),
    "samples": ("listed or copied", "a file could not be written (nothing is overwritten)"),
}

#: Statuses every command shares.
COMMON_EXIT = (("2", "usage error (bad option or argument)"),
               ("3", "internal error: a bug in compat (rerun with --debug, report it)"))


def exit_status_text(name: str) -> str:
    """The ``exit status:`` section that ends ``compat NAME --help``."""
    ok, fail = EXIT[name]
    rows = (("0", ok), ("1", fail)) + COMMON_EXIT
    return "exit status:\n" + "\n".join(f"  {code}  {text}" for code, text in rows)


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


_PARSER_CLASS = None


def _parser(**kwargs) -> "argparse.ArgumentParser":
    """An argument parser whose errors are :class:`UsageError` (exit 2)."""
    global _PARSER_CLASS
    if _PARSER_CLASS is None:
        import argparse

        class _Parser(argparse.ArgumentParser):
            def error(self, message: str):  # noqa: D401 - argparse API
                self.print_usage(sys.stderr)
                raise UsageError(f"{self.prog}: error: {message}")

            def _get_value(self, action, arg_string):  # argparse API: one conversion
                from pathlib import Path
                if action.type is Path and not arg_string:  # Path("") would mean "."
                    name = "/".join(action.option_strings) or action.metavar or action.dest
                    self.error(f"argument {name}: an empty path")
                return super()._get_value(action, arg_string)

        _PARSER_CLASS = _Parser
    return _PARSER_CLASS(**kwargs)


_DESCRIPTION = ("Compile a registry of arm64 KVM registers into QEMU cross-kernel "
                "migration compat rules.")
_FOOTER = "Run 'compat help COMMAND' (or 'compat COMMAND --help') for a command's options."


def _command_list() -> str:
    width = max(len(name) for name in COMMANDS) + 2
    return "commands:\n" + "\n".join(
        f"  {name:<{width}}{summary}" for name, (_, summary) in COMMANDS.items())


def _top_help() -> str:
    """``compat --help``, written without argparse so that it stays as quick
    as the interpreter's own start (benchmarks/bench_help.py); the same text
    argparse prints for :func:`_top_parser`."""
    return "\n".join([
        "usage: compat [-h] [--version] [--color WHEN] [--debug] [COMMAND]", "",
        _DESCRIPTION, "",
        "positional arguments:",
        "  COMMAND       one of the commands below", "",
        "options:",
        "  -h, --help    show this help message and exit",
        "  --version     show program's version number and exit",
        "  --color WHEN  colour output: auto (on a terminal, unless NO_COLOR is set),",
        "                always, never",
        "  --debug       show tracebacks on errors", "",
        _command_list(), "", _FOOTER])


def _top_parser() -> "argparse.ArgumentParser":
    import argparse
    parser = _parser(prog="compat", description=_DESCRIPTION,
                     epilog=f"{_command_list()}\n\n{_FOOTER}",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"compat {__version__}")
    _add_output_options(parser)
    parser.add_argument("command", nargs="?", metavar="COMMAND", help="one of the commands below")
    return parser


#: Where shared options go in every command's help and usage line: the
#: registry first, the command's own options in the middle, output and
#: debugging options last.
_OPTION_RANK = {"--help": 0, "--registry": 1, "--plugin": 2, "--kernel": 4, "--json": 5,
                "--html": 6, "--color": 7, "--debug": 8}


def _rank(action: "argparse.Action") -> int:
    if not action.option_strings:
        return 3
    return min((_OPTION_RANK.get(o, 3) for o in action.option_strings), default=3)


def _add_output_options(parser: "argparse.ArgumentParser") -> None:
    from compat.core.style import CHOICES
    parser.add_argument("--color", choices=CHOICES, default="auto", metavar="WHEN",
                        help="colour output: auto (on a terminal, unless NO_COLOR is set), "
                        "always, never")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _command_parser(name: str, module) -> "argparse.ArgumentParser":
    import argparse
    parser = _parser(prog=f"compat {name}", description=COMMANDS[name][1],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.configure(parser)
    _add_output_options(parser)
    parser._actions.sort(key=_rank)
    for group in parser._action_groups:
        group._group_actions.sort(key=_rank)
    tail = exit_status_text(name)
    parser.epilog = f"{parser.epilog.rstrip()}\n\n{tail}" if parser.epilog else tail
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
    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            try:
                old[signum] = signal.signal(signum, _terminate)
            except ValueError:  # not the main thread: leave signals alone
                break
    return old


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    quick = _quick_answer(argv)
    if quick is not None:  # nothing to clean up: no signal handlers either
        failed = _flush_stdout()
        return failed if failed is not None else quick
    import signal
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
        return _last_resort(exc, argv)
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
        return _last_resort(exc, argv)


def _last_resort(exc: Exception, argv: list[str]) -> int:
    from compat.core.diagnostics import CompatError
    if isinstance(exc, CompatError):
        from compat.core.style import echo
        echo(exc.format(), sys.stderr)
        if "--json" in argv:  # a program reads stdout: the same errors, as objects
            from compat.commands.common import print_json
            print_json(exc.to_json())
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


def _quick_answer(argv: list[str]) -> int | None:
    """Answer ``compat``, ``compat --help`` and ``compat --version`` without
    argparse, signal handlers or anything else a command needs, so that they
    cost little more than the interpreter's start; ``None`` for the rest."""
    if argv in (["-h"], ["--help"], ["help"]):
        print(_top_help())
        return 0
    if argv == ["--version"]:
        print(f"compat {__version__}")
        return 0
    if not argv:  # 'compat' alone: a short usage and the commands
        print(_short_usage(), file=sys.stderr)
        return 2
    return None


def _dispatch(argv: list[str]) -> int:
    top = _top_parser()
    split = _command_position(argv)
    if split is None:
        _set_colour(top.parse_args(argv))
        top.print_help()
        return 0
    _set_colour(top.parse_args(argv[:split]))  # --version/--help/--debug before the command
    name = argv[split]
    rest = argv[split + 1:]
    if name == "help":
        if not rest:
            top.print_help()
            return 0
        name, rest = rest[0], ["--help"]
    if name not in COMMANDS:
        from compat.core.diagnostics import did_you_mean
        raise UsageError(f"compat: error: unknown command '{name}'{did_you_mean(name, COMMANDS)}; "
                         "run 'compat help' for the list")
    import importlib
    module = importlib.import_module(COMMANDS[name][0])
    args = _command_parser(name, module).parse_args(argv[:split] + rest)
    _set_colour(args)
    return int(module.run(args) or 0)


def _command_position(argv: list[str]) -> int | None:
    """Where the command name is: the first word that is not an option
    (nor the value of ``--color WHEN``)."""
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word == "--color":
            skip = True
        elif not word.startswith("-"):
            return i
    return None


def _set_colour(args: "argparse.Namespace") -> None:
    from compat.core import style
    style.set_mode(getattr(args, "color", "auto"))


def _short_usage() -> str:
    return "\n".join(["usage: compat [--version] [--color WHEN] [--debug] COMMAND [ARGS...]", "",
                      _command_list(), "",
                      "Run 'compat help COMMAND' (or 'compat COMMAND --help') for a command's",
                      "options and exit statuses."])
