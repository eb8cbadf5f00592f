"""The ``sqlkv`` command line: the ``nats kv`` commands on an embedded store, plus backup, export and import.

``sqlkv <command>`` and ``sqlkv kv <command>`` are the same, so a command copied
from the NATS docs works once ``nats`` is replaced by ``sqlkv``. The store is
``--db PATH``, else ``$SQLKV_DB``, else ``sqlkv.db`` in the user data directory;
``--db`` may come before or after the command (as natscli's global flags do).
The commands are the rows of one table, ``_table.COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlkv import ErrorKind

from ._paths import CliError, check_input, check_output, check_store, os_error_status
from ._table import BY_NAME, COMMANDS, Command

__all__ = ["EXIT_STATUS", "build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_LIMIT = 0, 1, 2, 3, 4, 5

EXIT_STATUS: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: EXIT_NOT_FOUND,
    ErrorKind.CONFLICT: EXIT_CONFLICT,
    ErrorKind.LIMIT: EXIT_LIMIT,
    ErrorKind.INVALID: EXIT_INVALID,
    ErrorKind.UNSUPPORTED: EXIT_INVALID,
    ErrorKind.READ_ONLY: EXIT_ERROR,
    ErrorKind.GONE: EXIT_ERROR,
    ErrorKind.BUSY: EXIT_ERROR,
    ErrorKind.CLOSED: EXIT_ERROR,
    ErrorKind.STORAGE: EXIT_ERROR,
    ErrorKind.REPLICA: EXIT_ERROR,
    ErrorKind.OTHER: EXIT_ERROR,
}
"""The exit status of a command ended by an ``sqlkv`` error, by the error's kind (the epilog's table)."""

_EPILOG = """\
Every error is one line on standard error, `sqlkv: error: <message>`, with an exit status by kind:
  0 success
  1 other error (permission denied, I/O, a store busy, closed or corrupt, a read-only mirror)
  2 invalid input (bad arguments, a path that is a directory or not an sqlkv store, an existing
    output without --force, what the store's backend cannot do)
  3 not found (key, bucket, the store, an input file, a missing directory)
  4 conflict (wrong last sequence, a key that exists, a bucket that exists with another configuration)
  5 limit exceeded (value size, bucket size, a value or input line read past the largest value)

The store is --db PATH, else $SQLKV_DB, else sqlkv.db in your user data directory
(`sqlkv info` shows which); --db may come before or after the command. Only `add` and
`import` create a store that does not exist (and `migrate` its destination); any other
command on a missing store fails with status 3. A store that cannot be written is opened
read-only by the reading commands.
`ui` prints `sqlkv ui: URL` (with its access token) and serves until Ctrl-C; it opens the
store read-only unless --write, and needs `pip install 'sqlkv[ui]'`. `watch`, `replicate`
and `ui` stop on Ctrl-C or SIGTERM alike.
`backup` and `export -o` write new files readable by their owner only (0600), and replace
an existing file only with --force. Values omitted from put/create (or '' for update) are
read from standard input.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``sqlkv: error: ...``, with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INVALID, f"sqlkv: error: {message} (see `{self.prog} --help`)\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, sized without ``shutil`` (argparse makes one for every argument it adds)."""

    columns = 0
    """The terminal's width, found once: ``$COLUMNS``, else the terminal's, else 80."""

    def __init__(self, prog: str) -> None:
        if not _Formatter.columns:
            try:
                columns = int(os.environ.get("COLUMNS", "0"))
            except ValueError:
                columns = 0
            if columns <= 0:
                try:
                    columns = os.get_terminal_size(1).columns
                except OSError:  # not a terminal
                    columns = 80
            _Formatter.columns = max(columns, 20)
        super().__init__(prog, width=_Formatter.columns - 2)


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import NoReturn


def _global_flags(parser: argparse.ArgumentParser, after_command: bool) -> None:
    """``--db`` and ``--version``: before the command, and after it too (there they set nothing unless given)."""
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS if after_command else None,
        help="the store file (default: $SQLKV_DB or the user data file)",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="print the version and exit",
    )


def _add_commands(sub: argparse._SubParsersAction[_Parser], commands: Sequence[Command]) -> None:
    for command in commands:
        p = sub.add_parser(command.name, aliases=list(command.aliases), help=command.help, formatter_class=_Formatter)
        command.arguments(p)
        _global_flags(p, after_command=True)
        p.set_defaults(command=command.name)


def _requested(argv: Sequence[str]) -> tuple[bool, str | None, str | None]:
    """(whether ``kv`` was given, the command, a help flag seen) from raw arguments, or Nones when unclear."""
    words = iter(argv)
    positional: list[str] = []
    for word in words:
        if word == "--db":
            next(words, None)
        elif word in ("-h", "--help"):
            return False, None, word
        elif not word.startswith("-"):
            positional.append(word)
            if len(positional) == 2 or positional[0] != "kv":
                break
    in_kv = bool(positional) and positional[0] == "kv"
    command = positional[1] if in_kv and len(positional) > 1 else positional[0] if positional and not in_kv else None
    return in_kv, command, None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``sqlkv`` (built without importing the store).

    With ``argv``, only the parser of the command it names is built (in its
    group): one parser instead of forty lets a command start several ms
    sooner. Help, errors and unknown commands get the whole parser.
    """
    in_kv, only = False, None
    if argv is not None:
        in_kv, name, help_flag = _requested(argv)
        found = BY_NAME.get(name) if help_flag is None and name is not None else None
        only = found if found is not None and (found.kv or not in_kv) else None
        if only is None:
            in_kv = False  # help, an error or an unknown command: the whole parser, to say it all
    parser = _Parser(
        prog="sqlkv",
        description="A NATS-KV-compatible key/value store on SQLite: `sqlkv kv <command>` as `nats kv <command>`.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    _global_flags(parser, after_command=False)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", prog="sqlkv")
    if only is None or in_kv:
        kv = sub.add_parser(
            "kv",
            help="the same commands, as `nats kv ...`",
            description="The NATS KV commands: `sqlkv kv <command>` as `nats kv <command>` (`kv` may be left out).",
            epilog=_EPILOG,
            formatter_class=_Formatter,
        )
        _global_flags(kv, after_command=True)
        kv.set_defaults(usage_of=kv)
        kv_commands = [c for c in COMMANDS if c.kv and (only is None or c is only)]
        _add_commands(kv.add_subparsers(title="commands", metavar="COMMAND", prog="sqlkv kv"), kv_commands)
    if only is None or not in_kv:
        _add_commands(sub, [c for c in COMMANDS if only is None or c is only])
    return parser


def _describe(error: Exception) -> tuple[str, int]:
    """The message and exit status of an error that ended a command."""
    import sqlkv

    inner = getattr(error, "exceptions", None)  # an exception group of one error: that error
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        return _describe(inner[0])
    if isinstance(error, CliError):
        return str(error), error.status
    if isinstance(error, sqlkv.SqlkvError):
        return str(error), EXIT_STATUS[error.kind]
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename is not None else ""
        return f"{where}{error.strerror or error}", os_error_status(error)
    if isinstance(error, UnicodeError):
        return f"not UTF-8 text: {error}", EXIT_INVALID
    return f"unexpected {type(error).__name__}: {error}", EXIT_ERROR


def _store_location(args: argparse.Namespace) -> str:
    """--db, else $SQLKV_DB, else the default store in the user data directory."""
    if args.db is not None:
        if not args.db:
            raise CliError("--db needs a path", EXIT_INVALID)
        return str(args.db)
    import sqlkv

    return os.environ.get("SQLKV_DB") or str(sqlkv.default_store_path())


def _run(args: argparse.Namespace) -> int:
    """Check every path the command was given, then open the store and run the command."""
    command = BY_NAME[args.command]
    if command.opens == "nothing":
        return command.handler(args)
    path = _store_location(args)
    write = command.access != "read" or bool(getattr(args, "write", False))
    read_only = check_store(path, create=command.access == "create", write=write)
    if command.name == "import" and args.file not in (None, "-"):
        check_input(args.file)
    elif command.name == "export" and args.output is not None:
        args.special_output = check_output(args.output, force=args.force)
    elif command.name == "backup" and check_output(args.path, force=args.force):
        raise CliError(f"cannot back up to {args.path}: not a regular file", EXIT_INVALID)
    if command.opens == "location":
        return command.handler(args, path, read_only=read_only)
    import sqlkv

    options = {"read_only": True} if read_only else {}
    with sqlkv.Store(path, auto_sweep=command.name == "watch" and not read_only, **options) as store:
        return command.handler(args, store)


def _stop_on_sigterm() -> None:
    """SIGTERM stops the command as Ctrl-C does (KeyboardInterrupt): the store closes, nothing is left behind."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sqlkv``; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    if args.version:
        from sqlkv import __version__

        print(f"sqlkv {__version__}")
        return EXIT_OK
    if not hasattr(args, "command"):  # `sqlkv` or `sqlkv kv` alone: that group's help, as `nats kv` does
        getattr(args, "usage_of", parser).print_help()
        print("sqlkv: error: a command from the list above is required", file=sys.stderr)
        return EXIT_INVALID
    try:
        if BY_NAME[args.command].until_stopped:
            _stop_on_sigterm()
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`sqlkv kv ls | head`): not an error
        _silence_stdout()
        return EXIT_OK
    except Exception as error:  # every failure is one line, never a traceback
        message, status = _describe(error)
        print(f"sqlkv: error: {' '.join(message.splitlines())}", file=sys.stderr)
        return status


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
