"""The ``sqlkv`` command line: the ``nats kv`` commands on an embedded store, plus backup, export and import.

``sqlkv <command>`` and ``sqlkv kv <command>`` are the same, so a command copied
from the NATS docs works once ``nats`` is replaced by ``sqlkv``. The store is
``--db PATH``, else ``$SQLKV_DB``, else ``sqlkv.db`` in the user data directory.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ._paths import CliError, check_input, check_output, check_store, os_error_status

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_LIMIT = 0, 1, 2, 3, 4, 5

_CREATES = frozenset({"add", "import"})
"""The commands that may create the store file; every other one needs an existing store."""
_READS = frozenset({"status", "get", "history", "keys", "ls", "watch", "backup", "export"})
"""The commands that only read: a store they cannot write is opened read-only."""

_EPILOG = """\
Every error is one line on standard error, `sqlkv: error: <message>`, with an exit status by kind:
  0 success
  1 other error (permission denied, I/O, a store busy or corrupt)
  2 invalid input (bad arguments, a path that is a directory or not a store, an existing output without --force)
  3 not found (key, bucket, the store, an input file, a missing directory)
  4 compare-and-set conflict (wrong last sequence)
  5 limit exceeded (value size, bucket size)

The store is --db PATH, else $SQLKV_DB, else sqlkv.db in your user data directory
(`sqlkv info` shows which). Only `add` and `import` create a store that does not exist
(and `migrate` its destination); any other command on a missing store fails with status 3.
A store that cannot be written is opened read-only by the reading commands.
`ui` prints `sqlkv ui: URL` (with its access token) and serves until Ctrl-C; it opens the
store read-only unless --write, and needs `pip install 'sqlkv[ui]'`.
`backup` and `export -o` write new files readable by their owner only (0600), and replace
an existing file only with --force. Values omitted from put/create (or '' for update) are
read from standard input.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``sqlkv: error: ...``, with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INVALID, f"sqlkv: error: {message} (see `{self.prog} --help`)\n")


def _bucket_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", type=int, help="how many revisions each key keeps, 1-64 (default 1)")
    parser.add_argument("--ttl", help="maximum age of every entry: 30s, 5m, 1h30m, 2d (default: unlimited)")
    parser.add_argument("--max-value-size", metavar="BYTES", help="largest value: 1024, 10K, 5MiB (default: unlimited)")
    parser.add_argument(
        "--max-bucket-size", metavar="BYTES", help="most bytes the bucket may hold (default: unlimited)"
    )
    parser.add_argument("--description", help="a description of the bucket")
    parser.add_argument("--metadata", action="append", metavar="KEY:VALUE", help="metadata (repeatable)")


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import NoReturn, TypeAlias

    _Sub: TypeAlias = argparse._SubParsersAction[_Parser]


def _add_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("add", aliases=["new"], help="create a bucket and show its status")
    p.add_argument("bucket")
    _bucket_config_flags(p)
    _json_flag(p)
    p.set_defaults(command="add")


def _edit_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("edit", help="change a bucket's settings (only the flags given) and show its status")
    p.add_argument("bucket")
    _bucket_config_flags(p)
    _json_flag(p)
    p.set_defaults(command="edit")


def _info_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser(
        "info", aliases=["view", "status"], help="show a bucket's status; without BUCKET, the store (file, buckets)"
    )
    p.add_argument("bucket", nargs="?")
    _json_flag(p)
    p.set_defaults(command="status")


def _put_like(sub: _Sub, name: str) -> None:
    text = {"put": "store a value", "create": "store a value only if the key is absent or deleted"}[name]
    p = sub.add_parser(name, help=f"{text}; prints the value")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="the value (omitted: read from standard input)")
    p.add_argument("--ttl", help="the key expires, with its history, after this long: 30s, 5m, 1h")
    p.set_defaults(command=name)


def _update_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("update", help="store a value only if REVISION is the key's latest revision")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", help="the value ('' reads standard input)")
    p.add_argument("revision", type=int, help="the key's latest revision (0: the key is absent)")
    p.set_defaults(command="update")


def _incr_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("incr", help="add BY (default 1) to the key's integer value; prints the new value")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("by", nargs="?", type=int, default=1, help="the increment, negative to decrement (default 1)")
    p.add_argument("--ttl", help="the key expires, with its history, after this long: 30s, 5m, 1h")
    p.set_defaults(command="incr")


def _touch_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("touch", help="set how long from now the key expires, writing no new revision")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("ttl", help="30s, 5m, 1h; 0 or 'never': the key no longer expires")
    p.set_defaults(command="touch")


def _get_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("get", help="show a key's value")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="that revision of the key")
    p.add_argument("--raw", action="store_true", help="write the exact bytes of the value, nothing else")
    _json_flag(p)
    p.set_defaults(command="get")


def _del_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("del", help="delete a key (a delete marker); without KEY, delete the bucket")
    p.add_argument("bucket")
    p.add_argument("key", nargs="?")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="del")


def _rm_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("rm", help="delete a bucket and all its data")
    p.add_argument("bucket")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="rm")


def _detach_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser(
        "detach", help="make a replica bucket (sqlkv replicate) a plain local bucket again, keeping its data"
    )
    p.add_argument("bucket")
    p.add_argument(
        "-f", "--force", action="store_true", help="also when a sync replica has local writes not yet sent (dropped)"
    )
    p.set_defaults(command="detach")


def _purge_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("purge", help="delete a key and its history (a purge marker remains)")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="purge")


def _compact_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("compact", help="drop the history of deleted keys (markers older than 30 minutes too)")
    p.add_argument("bucket")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="compact")


def _history_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("history", help="show every retained revision of a key")
    p.add_argument("bucket")
    p.add_argument("key")
    _json_flag(p)
    p.set_defaults(command="history")


def _revert_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("revert", help="store an earlier revision's value again (as a new revision)")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("revision", type=int)
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="revert")


def _keys_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("keys", help="list live keys, optionally matching filters (* one token, > the rest)")
    p.add_argument("bucket")
    p.add_argument("filters", nargs="*")
    _json_flag(p)
    p.set_defaults(command="keys")


def _ls_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("ls", aliases=["list"], help="list buckets; with BUCKET, list its keys")
    p.add_argument("bucket", nargs="?")
    p.add_argument("filter", nargs="?")
    p.add_argument("-n", "--names", action="store_true", help="bucket names only")
    p.add_argument("-v", "--verbose", action="store_true", help="with BUCKET: each key's created time, delta, revision")
    p.add_argument(
        "--display-value", action="store_true", help="display values in verbose output (has no effect without -v)"
    )
    _json_flag(p)
    p.set_defaults(command="ls")


def _watch_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("watch", help="show changes as they happen (Ctrl-C to stop)")
    p.add_argument("bucket")
    p.add_argument("key", nargs="?", help="a key or filter (default: the whole bucket)")
    p.add_argument("--history", action="store_true", help="start with every retained revision")
    p.add_argument("--no-deletes", dest="deletes", action="store_false", help="leave out delete markers")
    p.add_argument("--updates", action="store_true", help="only changes from now on")
    p.add_argument("--revision", type=int, help="start at this revision")
    _json_flag(p)
    p.set_defaults(command="watch")


KV_COMMANDS: dict[str, tuple[Callable[[_Sub, str], None], tuple[str, ...]]] = {
    "add": (_add_command, ("new",)),
    "edit": (_edit_command, ()),
    "info": (_info_command, ("view", "status")),
    "put": (_put_like, ()),
    "create": (_put_like, ()),
    "update": (_update_command, ()),
    "incr": (_incr_command, ()),
    "touch": (_touch_command, ()),
    "get": (_get_command, ()),
    "del": (_del_command, ()),
    "rm": (_rm_command, ()),
    "detach": (_detach_command, ()),
    "purge": (_purge_command, ()),
    "compact": (_compact_command, ()),
    "history": (_history_command, ()),
    "revert": (_revert_command, ()),
    "keys": (_keys_command, ()),
    "ls": (_ls_command, ("list",)),
    "watch": (_watch_command, ()),
}
"""Each ``kv`` command's parser builder and aliases (``sqlkv kv <command>`` and ``sqlkv <command>`` alike)."""

_KV_NAMES = {alias: name for name, (_, aliases) in KV_COMMANDS.items() for alias in (name, *aliases)}


def _add_kv_commands(sub: _Sub, only: str | None = None) -> None:
    """Add every kv command to ``sub`` (or only the one ``only`` names: a run needs one parser, not 20)."""
    for name, (build, _) in KV_COMMANDS.items():
        if only is None or name == only:
            build(sub, name)


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


def _backup_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("backup", help="copy the store to PATH as one consistent snapshot, while others write")
    p.add_argument("path", help="a new file, written 0600")
    p.add_argument("-f", "--force", action="store_true", help="replace PATH if it exists")
    p.set_defaults(command="backup")


def _export_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("export", help="write buckets as JSON Lines (standard output or -o FILE)")
    p.add_argument("bucket", nargs="?", help="one bucket (default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, markers included")
    p.add_argument("-o", "--output", metavar="FILE", help="a new file, written 0600 (default: standard output)")
    p.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(command="export")


def _migrate_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("migrate", help="copy buckets between stores: files and nats:// servers, either way")
    p.add_argument("source", help="a store file or a nats:// URL")
    p.add_argument("destination", help="a store file or a nats:// URL")
    p.add_argument("--bucket", action="append", help="only this bucket (repeatable; default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, deletes included")
    p.set_defaults(command="migrate")


def _replicate_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser(
        "replicate", help="make BUCKET follow a NATS KV bucket: one line per applied batch (Ctrl-C to stop)"
    )
    p.add_argument("bucket")
    p.add_argument("url", help="the hub: nats://host:4222 (several, comma-separated)")
    p.add_argument(
        "--mode",
        choices=("mirror", "sync"),
        help="mirror (read-only copy) or sync (default: the bucket's mode if it is a replica, else mirror)",
    )
    p.add_argument("--remote-bucket", metavar="NAME", help="the bucket's name on the hub (default: BUCKET)")
    p.add_argument("--resync", action="store_true", help="copy afresh a hub bucket that was deleted and re-created")
    p.add_argument("--conflicts", action="store_true", help="list the conflicts recorded for BUCKET and exit")
    p.set_defaults(command="replicate")


def _import_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser("import", help="load JSON Lines written by export (FILE or standard input)")
    p.add_argument("file", nargs="?")
    p.add_argument("--renumber", action="store_true", help="write entries as new revisions")
    p.set_defaults(command="import")


def _ui_command(sub: _Sub, name: str) -> None:
    p = sub.add_parser(
        "ui", help="a local web inspector: buckets, keys, values, history and live changes (read-only by default)"
    )
    p.add_argument("--port", type=int, default=0, help="the port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--write", action="store_true", help="allow changes: buckets, put, delete, purge (with CAS)")
    p.add_argument("--no-browser", dest="browser", action="store_false", help="print the URL, open no browser")
    p.set_defaults(command="ui")


_OTHER_COMMANDS: dict[str, Callable[[_Sub, str], None]] = {
    "backup": _backup_command,
    "export": _export_command,
    "migrate": _migrate_command,
    "import": _import_command,
    "replicate": _replicate_command,
    "ui": _ui_command,
}
"""The commands beyond ``nats kv``'s (top level only)."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``sqlkv`` (built without importing the store).

    With ``argv``, only the parser of the command it names is built (in its
    group): one parser instead of forty lets a command start several ms
    sooner. Help, errors and unknown commands get the whole parser.
    """
    in_kv, only = False, None
    if argv is not None:
        in_kv, command, help_flag = _requested(argv)
        if help_flag is None and command is not None:
            only = _KV_NAMES.get(command) or (command if command in _OTHER_COMMANDS and not in_kv else None)
        if only is None:
            in_kv = False  # help, an error or an unknown command: the whole parser, to say it all
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="sqlkv",
        description="A NATS-KV-compatible key/value store on SQLite: `sqlkv kv <command>` as `nats kv <command>`.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--db", metavar="PATH", help="the store file (default: $SQLKV_DB or the user data file)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", prog="sqlkv")
    if only is None or in_kv:
        kv = sub.add_parser(
            "kv",
            help="the same commands, as `nats kv ...`",
            description="The NATS KV commands: `sqlkv kv <command>` as `nats kv <command>` (`kv` may be left out).",
            epilog=_EPILOG,
            formatter_class=formatter,
        )
        kv.set_defaults(usage_of=kv)
        _add_kv_commands(kv.add_subparsers(title="commands", metavar="COMMAND", prog="sqlkv kv"), only)
    if only is None or not in_kv:
        if only is None or only in KV_COMMANDS:
            _add_kv_commands(sub, only)
        for name, build in _OTHER_COMMANDS.items():
            if only is None or name == only:
                build(sub, name)
    return parser


def _exit_status(error: Exception) -> int:
    import sqlkv

    if isinstance(error, (sqlkv.KeyNotFoundError, sqlkv.BucketNotFoundError)):
        return EXIT_NOT_FOUND
    if isinstance(error, sqlkv.WrongLastRevisionError):
        return EXIT_CONFLICT
    if isinstance(error, (sqlkv.ValueTooLargeError, sqlkv.BucketFullError)):
        return EXIT_LIMIT
    if isinstance(error, ValueError):
        return EXIT_INVALID
    return EXIT_ERROR


def _describe(error: Exception) -> tuple[str, int]:
    """The message and exit status of an error that ended a command."""
    import sqlkv

    inner = getattr(error, "exceptions", None)  # an exception group of one error: that error
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        return _describe(inner[0])
    if isinstance(error, CliError):
        return str(error), error.status
    if isinstance(error, sqlkv.SqlkvError):
        return str(error), _exit_status(error)
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
    from ._commands import COMMANDS, migrate

    if args.command == "migrate":
        return migrate(args)
    path = _store_location(args)
    write = args.write if args.command == "ui" else args.command not in _READS
    read_only = check_store(path, create=args.command in _CREATES, write=write)
    if args.command == "import" and args.file not in (None, "-"):
        check_input(args.file)
    elif args.command == "export" and args.output is not None:
        args.special_output = check_output(args.output, force=args.force)
    elif args.command == "backup" and check_output(args.path, force=args.force):
        raise CliError(f"cannot back up to {args.path}: not a regular file", EXIT_INVALID)
    if args.command == "ui":
        from ._commands import ui

        return ui(args, path, read_only=read_only or not args.write)
    import sqlkv

    options = {"read_only": True} if read_only else {}
    with sqlkv.Store(path, auto_sweep=args.command == "watch" and not read_only, **options) as store:
        return COMMANDS[args.command](args, store)


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
