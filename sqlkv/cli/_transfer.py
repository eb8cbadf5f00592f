"""Moving data in and out of a store: an online backup, and JSON Lines export / import."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import sqlkv
from sqlkv._errors import InvalidArgumentError, StorageError

__all__ = ["backup", "export_lines", "import_lines"]


def backup(source: str, target: str, *, overwrite: bool = False) -> int:
    """Copy the store at ``source`` to ``target`` as one consistent snapshot, while others keep writing.

    Uses SQLite's online backup in a single step (one read transaction), so the
    copy holds every write committed before it started. Returns the pages copied.
    """
    if os.path.exists(target):
        if not overwrite:
            raise InvalidArgumentError(f"{target} exists (use --force to overwrite it)")
        os.remove(target)
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            pages: int = dst.execute("PRAGMA page_count").fetchone()[0]
            dst.execute("PRAGMA journal_mode = WAL")
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backup failed: {exc}") from None
    return pages


def export_lines(store: sqlkv.Store, buckets: Iterable[str], *, history: bool) -> Iterator[dict[str, Any]]:
    """One ``bucket`` record per bucket, then its entries: every stored revision with ``history``,
    else the latest value of every live key; in revision order."""
    for name in buckets:
        kv = store.bucket(name)
        status = kv.status()
        yield {
            "type": "bucket",
            "bucket": name,
            "history": status.history,
            "ttl": status.ttl,
            "max_value_size": status.max_value_size,
            "max_bytes": status.max_bytes,
            "description": status.description,
            "metadata": status.metadata,
        }
        with kv.watch(include_history=history, ignore_deletes=not history) as watcher:
            for entry in watcher.initial():
                yield {
                    "type": "entry",
                    "bucket": name,
                    "key": entry.key,
                    "revision": entry.revision,
                    "operation": entry.operation.name,
                    "created": entry.created.isoformat(),
                    "value": base64.b64encode(entry.value).decode("ascii"),
                }


def import_lines(store: sqlkv.Store, lines: Iterable[str], *, renumber: bool, progress: IO[str] | None) -> int:
    """Load JSON Lines made by ``export``; returns the entries imported.

    Buckets are created with their exported configuration (or must already have
    it). Entries keep their revisions and timestamps when they all come after
    the bucket's last revision (always true for a fresh store); otherwise
    ``renumber`` writes them as new revisions, in order.
    """
    from datetime import datetime

    from sqlkv import _ops

    count = 0
    buckets: dict[str, sqlkv.Bucket] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
        except (ValueError, KeyError, TypeError):
            raise InvalidArgumentError(f"line {number}: not an sqlkv export record") from None
        if kind == "bucket":
            config = {k: record.get(k) for k in ("history", "ttl", "max_value_size", "max_bytes", "description")}
            buckets[record["bucket"]] = store.create_bucket(record["bucket"], metadata=record.get("metadata"), **config)
            continue
        kv = buckets.get(record["bucket"]) or store.bucket(record["bucket"])
        value = base64.b64decode(record["value"])
        op = sqlkv.Operation[record["operation"]]
        if renumber:
            if op is sqlkv.Operation.PUT:
                kv.put(record["key"], value)
            elif op in (sqlkv.Operation.DEL, sqlkv.Operation.PURGE):
                kv.delete(record["key"]) if op is sqlkv.Operation.DEL else kv.purge(record["key"])
        else:
            created = int(datetime.fromisoformat(record["created"]).timestamp() * 1e9)
            store._write(_ops.import_row, kv._sql, record["revision"], record["key"], int(op), value, created)
        count += 1
        if progress is not None and count % 1000 == 0:
            progress.write(f"\rimported {count:,} entries")
            progress.flush()
    if progress is not None and count >= 1000:
        progress.write(f"\rimported {count:,} entries\n")
    return count


def progress_stream() -> IO[str] | None:
    """Standard error when it is a terminal (for progress lines), else None."""
    return sys.stderr if sys.stderr.isatty() else None
