"""The arguments of each CLI command: one function a command, given the command's (sub)parser.

Names, aliases and one-line helps are in the command table (``_table.py``); the
flags every command also takes (``--db``) are added there.
"""

from __future__ import annotations

import argparse

__all__ = [
    "add",
    "backup",
    "compact",
    "delete",
    "edit",
    "export",
    "get",
    "history",
    "import_",
    "incr",
    "info",
    "keys",
    "ls",
    "migrate",
    "purge",
    "put",
    "remove_bucket",
    "replicate",
    "revert",
    "touch",
    "ui",
    "update",
    "watch",
]

Parser = argparse.ArgumentParser


def _bucket_config_flags(p: Parser) -> None:
    p.add_argument("--history", type=int, help="how many revisions each key keeps, 1-64 (default 1)")
    p.add_argument("--ttl", help="maximum age of every entry: 30s, 5m, 1h30m, 2d (default: unlimited)")
    p.add_argument("--max-value-size", metavar="BYTES", help="largest value: 1024, 10K, 5MiB (default: unlimited)")
    p.add_argument("--max-bucket-size", metavar="BYTES", help="most bytes the bucket may hold (default: unlimited)")
    p.add_argument("--description", help="a description of the bucket")
    p.add_argument("--marker-ttl", help="how long the marker an expiry leaves lives: 30s, 5m (default: kept)")
    p.add_argument("--metadata", action="append", metavar="KEY:VALUE", help="metadata (repeatable)")


def _json_flag(p: Parser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _force_flag(p: Parser, text: str = "do not ask for confirmation") -> None:
    p.add_argument("-f", "--force", action="store_true", help=text)


def _key_ttl_flag(p: Parser) -> None:
    p.add_argument("--ttl", help="the key expires, with its history, after this long: 30s, 5m, 1h")


def add(p: Parser) -> None:
    """``add BUCKET [config flags]``."""
    p.add_argument("bucket")
    _bucket_config_flags(p)
    _json_flag(p)


edit = add
"""``edit BUCKET [config flags]``: the same arguments as ``add``."""


def info(p: Parser) -> None:
    """``info [BUCKET]``."""
    p.add_argument("bucket", nargs="?")
    _json_flag(p)


def put(p: Parser) -> None:
    """``put BUCKET KEY [VALUE]`` (and ``create``)."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="the value (omitted: read from standard input)")
    _key_ttl_flag(p)


def update(p: Parser) -> None:
    """``update BUCKET KEY VALUE REVISION``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", help="the value ('' reads standard input)")
    p.add_argument("revision", type=int, help="the key's latest revision (0: the key is absent)")


def incr(p: Parser) -> None:
    """``incr BUCKET KEY [BY]``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("by", nargs="?", type=int, default=1, help="the increment, negative to decrement (default 1)")
    _key_ttl_flag(p)


def touch(p: Parser) -> None:
    """``touch BUCKET KEY TTL``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("ttl", help="30s, 5m, 1h; 0 or 'never': the key no longer expires")


def get(p: Parser) -> None:
    """``get BUCKET KEY``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="that revision of the key")
    p.add_argument("--raw", action="store_true", help="write the exact bytes of the value, nothing else")
    _json_flag(p)


def delete(p: Parser) -> None:
    """``del BUCKET [KEY]``."""
    p.add_argument("bucket")
    p.add_argument("key", nargs="?")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    _force_flag(p)


def remove_bucket(p: Parser) -> None:
    """``rm BUCKET``."""
    p.add_argument("bucket")
    _force_flag(p)


def detach(p: Parser) -> None:
    """``detach BUCKET``."""
    p.add_argument("bucket")
    p.add_argument(
        "-f", "--force", action="store_true", help="also when a sync replica has local writes not yet sent (dropped)"
    )


def purge(p: Parser) -> None:
    """``purge BUCKET KEY``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="only if this is the key's latest revision")
    p.add_argument("--ttl", help="the purge marker itself goes after this long: 30s, 5m, 1h")
    _force_flag(p)


def compact(p: Parser) -> None:
    """``compact BUCKET``."""
    p.add_argument("bucket")
    _force_flag(p)


def history(p: Parser) -> None:
    """``history BUCKET KEY``."""
    p.add_argument("bucket")
    p.add_argument("key")
    _json_flag(p)


def revert(p: Parser) -> None:
    """``revert BUCKET KEY REVISION``."""
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("revision", type=int)
    _force_flag(p)


def keys(p: Parser) -> None:
    """``keys BUCKET [FILTER...]``."""
    p.add_argument("bucket")
    p.add_argument("filters", nargs="*")
    _json_flag(p)


def ls(p: Parser) -> None:
    """``ls [BUCKET [FILTER]]``."""
    p.add_argument("bucket", nargs="?")
    p.add_argument("filter", nargs="?")
    p.add_argument("-n", "--names", action="store_true", help="bucket names only")
    p.add_argument("-v", "--verbose", action="store_true", help="with BUCKET: each key's created time, delta, revision")
    p.add_argument(
        "--display-value",
        action="store_true",
        help="display values in verbose output, shortened to fit the terminal (has no effect without -v)",
    )
    _json_flag(p)


def watch(p: Parser) -> None:
    """``watch BUCKET [KEY]``."""
    p.add_argument("bucket")
    p.add_argument("key", nargs="?", help="a key or filter (default: the whole bucket)")
    p.add_argument("--history", action="store_true", help="start with every retained revision")
    p.add_argument("--no-deletes", dest="deletes", action="store_false", help="leave out delete markers")
    p.add_argument("--updates", action="store_true", help="only changes from now on")
    p.add_argument("--revision", type=int, help="start at this revision")
    _json_flag(p)


def backup(p: Parser) -> None:
    """``backup PATH``."""
    p.add_argument("path", help="a new file, written 0600")
    _force_flag(p, "replace PATH if it exists")


def export(p: Parser) -> None:
    """``export [BUCKET] [-o FILE]``."""
    p.add_argument("bucket", nargs="?", help="one bucket (default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, markers included")
    p.add_argument("-o", "--output", metavar="FILE", help="a new file, written 0600 (default: standard output)")
    _force_flag(p, "replace FILE if it exists")


def migrate(p: Parser) -> None:
    """``migrate SOURCE DESTINATION``."""
    p.add_argument("source", help="a store file or a nats:// URL")
    p.add_argument("destination", help="a store file or a nats:// URL")
    p.add_argument("--bucket", action="append", help="only this bucket (repeatable; default: all)")
    p.add_argument("--history", action="store_true", help="every retained revision, deletes included")


def replicate(p: Parser) -> None:
    """``replicate BUCKET URL``."""
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


def import_(p: Parser) -> None:
    """``import [FILE]``."""
    p.add_argument("file", nargs="?")
    p.add_argument("--renumber", action="store_true", help="write entries as new revisions")


def ui(p: Parser) -> None:
    """``ui [--port N] [--write]``."""
    p.add_argument("--port", type=int, default=0, help="the port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--write", action="store_true", help="allow changes: buckets, put, delete, purge (with CAS)")
    p.add_argument("--no-browser", dest="browser", action="store_false", help="print the URL, open no browser")
