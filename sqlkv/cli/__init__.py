"""The ``sqlkv`` command line: the ``nats kv`` commands on an embedded store, plus backup, export and import.

``sqlkv <command>`` and ``sqlkv kv <command>`` are the same, so a command copied
from the NATS docs works once ``nats`` is replaced by ``sqlkv``. The store is
``--db PATH``, else ``$SQLKV_DB``, else ``sqlkv.db`` in the user data directory.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_LIMIT = 0, 1, 2, 3, 4, 5

_EPILOG = """\
exit status: 0 success, 1 other error, 2 invalid input, 3 not found (key or bucket),
4 compare-and-set conflict (wrong last sequence), 5 limit exceeded (value size, bucket size).

The store is --db PATH, else $SQLKV_DB, else sqlkv.db in your user data directory
(`sqlkv info` shows which). Values omitted from put/create (or '' for update) are read from standard input.
"""


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


def _add_kv_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("add", aliases=["new"], help="create a bucket and show its status")
    p.add_argument("bucket")
    _bucket_config_flags(p)
    _json_flag(p)
    p.set_defaults(command="add")

    p = sub.add_parser("edit", help="change a bucket's settings (only the flags given) and show its status")
    p.add_argument("bucket")
    _bucket_config_flags(p)
    _json_flag(p)
    p.set_defaults(command="edit")

    p = sub.add_parser("status", aliases=["view"], help="show a bucket's status (no bucket: the store)")
    p.add_argument("bucket", nargs="?")
    _json_flag(p)
    p.set_defaults(command="status")

    for name, text in (("put", "store a value"), ("create", "store a value only if the key is absent or deleted")):
        p = sub.add_parser(name, help=f"{text}; prints the value")
        p.add_argument("bucket")
        p.add_argument("key")
        p.add_argument("value", nargs="?", help="the value (omitted: read from standard input)")
        p.add_argument("--ttl", help="the key expires, with its history, after this long: 30s, 5m, 1h")
        p.set_defaults(command=name)

    p = sub.add_parser("update", help="store a value only if REVISION is the key's latest revision")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", help="the value ('' reads standard input)")
    p.add_argument("revision", type=int, help="the key's latest revision (0: the key is absent)")
    p.set_defaults(command="update")

    p = sub.add_parser("get", help="show a key's value")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="that revision of the key")
    p.add_argument("--raw", action="store_true", help="write the exact bytes of the value, nothing else")
    _json_flag(p)
    p.set_defaults(command="get")

    p = sub.add_parser("del", help="delete a key (a delete marker); without KEY, delete the bucket")
    p.add_argument("bucket")
    p.add_argument("key", nargs="?")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="del")

    p = sub.add_parser("rm", help="delete a bucket and all its data")
    p.add_argument("bucket")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="rm")

    p = sub.add_parser("purge", help="delete a key and its history (a purge marker remains)")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="purge")

    p = sub.add_parser("compact", help="drop the history of deleted keys (markers older than 30 minutes too)")
    p.add_argument("bucket")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="compact")

    p = sub.add_parser("history", help="show every retained revision of a key")
    p.add_argument("bucket")
    p.add_argument("key")
    _json_flag(p)
    p.set_defaults(command="history")

    p = sub.add_parser("revert", help="store an earlier revision's value again (as a new revision)")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("revision", type=int)
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(command="revert")

    p = sub.add_parser("keys", help="list live keys, optionally matching filters (* one token, > the rest)")
    p.add_argument("bucket")
    p.add_argument("filters", nargs="*")
    _json_flag(p)
    p.set_defaults(command="keys")

    p = sub.add_parser("ls", aliases=["list"], help="list buckets; with BUCKET, list its keys")
    p.add_argument("bucket", nargs="?")
    p.add_argument("filter", nargs="?")
    p.add_argument("-n", "--names", action="store_true", help="bucket names only")
    _json_flag(p)
    p.set_defaults(command="ls")

    p = sub.add_parser("watch", help="show changes as they happen (Ctrl-C to stop)")
    p.add_argument("bucket")
    p.add_argument("key", nargs="?", help="a key or filter (default: the whole bucket)")
    p.add_argument("--history", action="store_true", help="start with every retained revision")
    p.add_argument("--no-deletes", dest="deletes", action="store_false", help="leave out delete markers")
    p.add_argument("--updates", action="store_true", help="only changes from now on")
    p.add_argument("--revision", type=int, help="start at this revision")
    _json_flag(p)
    p.set_defaults(command="watch")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sqlkv`` (built without importing the store)."""
    parser = argparse.ArgumentParser(
        prog="sqlkv",
        description="A NATS-KV-compatible key/value store on SQLite: `sqlkv kv <command>` as `nats kv <command>`.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", metavar="PATH", help="the store file (default: $SQLKV_DB or the user data file)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    kv = sub.add_parser("kv", help="the same commands, as `nats kv ...`")
    _add_kv_commands(kv.add_subparsers(title="commands", metavar="COMMAND"))
    _add_kv_commands(sub)

    p = sub.add_parser("info", help="show the store (file, schema, buckets); with BUCKET, the bucket's status")
    p.add_argument("bucket", nargs="?")
    _json_flag(p)
    p.set_defaults(command="status")

    p = sub.add_parser("backup", help="copy the store to PATH as one consistent snapshot, while others write")
    p.add_argument("path")
    p.add_argument("-f", "--force", action="store_true", help="overwrite PATH")
    p.set_defaults(command="backup")

    p = sub.add_parser("export", help="write buckets as JSON Lines (standard output or -o FILE)")
    p.add_argument("bucket", nargs="?", help="one bucket (default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, markers included")
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(command="export")

    p = sub.add_parser("migrate", help="copy buckets between stores: files and nats:// servers, either way")
    p.add_argument("source", help="a store file or a nats:// URL")
    p.add_argument("destination", help="a store file or a nats:// URL")
    p.add_argument("--bucket", action="append", help="only this bucket (repeatable; default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, deletes included")
    p.set_defaults(command="migrate")

    p = sub.add_parser("import", help="load JSON Lines written by export (FILE or standard input)")
    p.add_argument("file", nargs="?")
    p.add_argument("--renumber", action="store_true", help="write entries as new revisions")
    p.set_defaults(command="import")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sqlkv``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from sqlkv import __version__

        print(f"sqlkv {__version__}")
        return EXIT_OK
    if not hasattr(args, "command"):
        parser.print_help()
        return EXIT_INVALID
    import sqlkv

    from ._commands import COMMANDS, migrate

    try:
        if args.command == "migrate":
            return migrate(args)
        path = args.db or os.environ.get("SQLKV_DB") or str(sqlkv.default_store_path())
        with sqlkv.Store(path, auto_sweep=args.command == "watch") as store:
            return COMMANDS[args.command](args, store)
    except sqlkv.SqlkvError as error:
        print(f"sqlkv: error: {error}", file=sys.stderr)
        return _exit_status(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
