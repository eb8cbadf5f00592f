"""Copying buckets between stores — SQLite to NATS and back — with progress, resumption and verification.

``await migrate(source, destination)`` copies every bucket (or the ones named):
its configuration, then its keys and values (the latest value of every live key),
or with ``history=True`` every retained revision, deletes and purges included,
replayed in revision order (revisions are renumbered by the destination). A
copy of latest values can be interrupted and run again: keys whose value is
already there are skipped. At the end both sides are counted and checksummed.
``sqlkv migrate SRC DST`` does the same on the command line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlkv import AsyncStore, ErrorKind, InvalidArgumentError, KeyNotFoundError, SqlkvError
from sqlkv.views import config_kwargs, config_view

__all__ = ["BucketReport", "MigrationError", "migrate"]

Progress = Callable[[str, int], None]


class MigrationError(SqlkvError):
    """The destination does not hold what the source holds after the copy (counts or checksums differ)."""

    kind = ErrorKind.OTHER


@dataclass(frozen=True)
class BucketReport:
    """What one bucket's copy did and what the verification found."""

    bucket: str
    copied: int
    skipped: int
    keys: int
    checksum: str


async def _fingerprint(bucket: Any) -> tuple[int, str]:
    """(live keys, sha256 over every live key and its value, in key order)."""
    digest = hashlib.sha256()
    keys = await bucket.keys()
    for key in keys:
        value = (await bucket.get(key)).value
        digest.update(len(key).to_bytes(4, "big") + key.encode() + len(value).to_bytes(8, "big") + value)
    return len(keys), digest.hexdigest()


async def _config_kwargs(bucket: Any, destination: AsyncStore) -> dict[str, Any]:
    """The source bucket's configuration as ``create_bucket`` keywords for ``destination``.

    A NATS server keeps no bucket metadata: sqlkv's own entries (``sqlkv.codec``,
    recorded by a typed bucket) are left out there, any other metadata is still refused.
    """
    kwargs = config_kwargs(config_view((await bucket.status()).config))
    if destination.backend == "nats" and "metadata" in kwargs:
        kept = {key: value for key, value in kwargs.pop("metadata").items() if not key.startswith("sqlkv.")}
        if kept:
            kwargs["metadata"] = kept
    return kwargs


async def migrate(
    source: AsyncStore,
    destination: AsyncStore,
    buckets: Sequence[str] | None = None,
    *,
    history: bool = False,
    progress: Progress | None = None,
) -> list[BucketReport]:
    """Copy ``buckets`` (default: all) from ``source`` to ``destination``; verify; return one report a bucket.

    ``progress(bucket, entries_copied)`` is called every 100 entries and at the
    end of each bucket. Raises MigrationError if the verification fails.
    """
    reports = []
    for name in buckets if buckets is not None else await source.bucket_names():
        src = await source.bucket(name)
        dst = await destination.create_bucket(name, **await _config_kwargs(src, destination))
        copied = skipped = 0
        async with src.watch(include_history=history, ignore_deletes=not history) as watcher:
            entries = await watcher.initial()
        if history and entries and (await dst.status()).values:
            raise InvalidArgumentError(f"bucket {name} is not empty at the destination: a history copy needs it empty")
        for entry in entries:
            op = entry.operation.name
            if op == "PUT":
                if not history:
                    try:
                        if (await dst.get(entry.key)).value == entry.value:
                            skipped += 1
                            continue
                    except KeyNotFoundError:
                        pass
                await dst.put(entry.key, entry.value)
            elif op == "DEL":
                await dst.delete(entry.key)
            elif op in ("PURGE", "EXPIRE"):
                await dst.purge(entry.key)
            copied += 1
            if progress is not None and copied % 100 == 0:
                progress(name, copied)
        if progress is not None:
            progress(name, copied)
        src_fp, dst_fp = await _fingerprint(src), await _fingerprint(dst)
        if src_fp != dst_fp:
            raise MigrationError(
                f"bucket {name}: {src_fp[0]} keys (sha256 {src_fp[1][:12]}) at the source, "
                f"{dst_fp[0]} keys (sha256 {dst_fp[1][:12]}) at the destination"
            )
        reports.append(BucketReport(name, copied, skipped, src_fp[0], src_fp[1]))
    return reports
