"""Moving data in and out of a store as JSON Lines: export and import."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime

import sqlkv
from sqlkv import InvalidArgumentError
from sqlkv.views import config_kwargs, config_view, entry_view

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["export_lines", "import_lines", "private_file", "progress_stream", "text_lines"]

_BATCH = 1000
"""Entries imported with their revisions per write transaction."""
MAX_LINE = sqlkv.MAX_VALUE_SIZE // 3 * 4 + 64 * 1024
"""The longest line ``import`` reads: an entry of the largest value (in base64) with room for its other fields."""
_ENTRY_FIELDS = ("bucket", "key", "revision", "operation", "created")


def export_lines(store: sqlkv.Store, buckets: Iterable[str], *, history: bool) -> Iterator[dict[str, Any]]:
    """One ``bucket`` record per bucket, then its entries: every stored revision with ``history``,
    else the latest value of every live key; in revision order."""
    for name in buckets:
        kv = store.bucket(name)
        yield {"type": "bucket", "bucket": name, **config_view(kv.status().config)}
        with kv.watch(include_history=history, ignore_deletes=not history) as watcher:
            for entry in watcher.initial():
                view = entry_view(entry)
                yield {"type": "entry", **{k: view[k] for k in _ENTRY_FIELDS}, "value": view["value_base64"]}


def import_lines(store: sqlkv.Store, lines: Iterable[str], *, renumber: bool, progress: IO[str] | None) -> int:
    """Load JSON Lines made by ``export``; returns the entries imported.

    Buckets are created with their exported configuration (or must already have
    it). Entries keep their revisions and timestamps when they all come after
    the bucket's last revision (always true for a fresh store), in batches of
    one transaction each; otherwise ``renumber`` writes them as new revisions,
    in order.
    """
    count = 0
    buckets: dict[str, sqlkv.Bucket] = {}
    pending: list[sqlkv.Entry] = []
    pending_bucket: sqlkv.Bucket | None = None

    def flush() -> None:
        nonlocal pending_bucket
        if pending_bucket is not None and pending:
            pending_bucket.import_entries(pending)
        pending.clear()
        pending_bucket = None

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
            if kind == "bucket":
                name, config = record["bucket"], config_kwargs(record)
            else:
                name, key, value = record["bucket"], record["key"], base64.b64decode(record["value"], validate=True)
                op = sqlkv.Operation[record["operation"]]
                created = datetime.fromisoformat(record["created"])
                revision = record["revision"]
        except (ValueError, KeyError, TypeError):
            flush()  # what came before the bad line is imported, as line by line
            raise InvalidArgumentError(f"line {number}: not an sqlkv export record") from None
        if kind == "bucket":
            flush()
            buckets[name] = store.create_bucket(name, **config)
            continue
        kv = buckets.get(name) or store.bucket(name)
        buckets[name] = kv
        if renumber:
            if op is sqlkv.Operation.PUT:
                kv.put(key, value)
            elif op is sqlkv.Operation.DEL:
                kv.delete(key)
            elif op is sqlkv.Operation.PURGE:
                kv.purge(key)
        else:
            if pending_bucket is not kv or len(pending) >= _BATCH:
                flush()
                pending_bucket = kv
            pending.append(sqlkv.Entry(name, key, value, revision, created, 0, op))
        count += 1
        if progress is not None and count % 1000 == 0:
            progress.write(f"\rimported {count:,} entries")
            progress.flush()
    flush()
    if progress is not None and count >= 1000:
        progress.write(f"\rimported {count:,} entries\n")
    return count


def progress_stream() -> IO[str] | None:
    """Standard error when it is a terminal (for progress lines), else None."""
    return sys.stderr if sys.stderr.isatty() else None


def text_lines(source: IO[bytes], limit: int = MAX_LINE) -> Iterator[str]:
    """The lines of ``source`` as text; a line that is not UTF-8 is InvalidArgumentError, one longer than
    ``limit`` bytes ValueTooLargeError (with its number), found having read no more than ``limit`` + 1 bytes of it."""
    number = 0
    while line := source.readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise sqlkv.ValueTooLargeError(f"line {number}: longer than {limit:,} bytes (no export record is)")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"line {number}: not UTF-8 text") from None


@contextlib.contextmanager
def private_file(path: str) -> Iterator[IO[str]]:
    """Write ``path`` as a new file readable by its owner only (0600).

    The text goes to a temporary file created 0600 in the same directory,
    renamed to ``path`` once complete (replacing a file there); on any
    failure it is removed and ``path`` is untouched. Where the file there
    cannot be renamed over (Windows, while another handle holds it open) the
    complete text is copied into it in place instead.
    """
    directory, name = os.path.split(os.path.abspath(path))
    import tempfile  # only an export to a file needs it (and its imports of random and shutil)

    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)  # O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            yield file
        try:
            os.replace(temporary, path)
        except PermissionError:
            if not os.path.isfile(path):
                raise
            _copy_into(temporary, path)
            os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _copy_into(source: str, path: str) -> None:
    """Overwrite the existing file ``path`` with the bytes of ``source``, in place (its handles stay valid)."""
    import shutil

    with open(source, "rb") as text, open(path, "r+b") as out:
        shutil.copyfileobj(text, out)
        out.truncate()
