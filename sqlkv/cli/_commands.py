"""The CLI's commands: each takes the parsed arguments and an open Store, prints, and returns an exit status.

(``migrate`` gets only its arguments, ``ui`` the store's location: they open their stores themselves.)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime, timezone

import sqlkv
from sqlkv import InvalidArgumentError
from sqlkv.views import OPERATION_WORDS, dumps, entry_view, last_update, status_view

from . import _format as fmt
from ._paths import CliError, check_store

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["parse_duration", "parse_size", "read_bounded"]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
_SIZE_RE = re.compile(r"(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?", re.IGNORECASE)


def parse_duration(text: str) -> float | None:
    """``10s``, ``1m30s``, ``2h``, ``500ms``, ``1d``, or plain seconds; empty or 0 means none."""
    text = text.strip()
    if text in ("", "0"):
        return None
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidArgumentError(f"invalid duration {text!r} (examples: 30s, 5m, 1h30m, 2d)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_size(text: str) -> int | None:
    """``1024``, ``10K``, ``5MiB``, ``1GB`` (all 1024-based, as the NATS CLI); empty or negative means unlimited."""
    text = text.strip()
    if not text or text.startswith("-"):
        return None
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise InvalidArgumentError(f"invalid size {text!r} (examples: 1024, 10K, 5MiB, 1GB)")
    power = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}[(match.group(2) or "").lower()[:1]]
    return int(match.group(1)) * (1 << (10 * power))


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _json(args: argparse.Namespace, data: Any) -> bool:
    if getattr(args, "json", False):
        _out(dumps(data))
        return True
    return False


def _stdin(purpose: str) -> IO[bytes]:
    """Standard input as bytes; InvalidArgumentError naming ``purpose`` when it is closed (``<&-``)."""
    if sys.stdin is None:
        raise InvalidArgumentError(f"standard input is closed: cannot read {purpose} from it")
    return sys.stdin.buffer


def read_bounded(source: IO[bytes], limit: int, what: str) -> bytes:
    """All of ``source``, read in chunks of at most 1 MiB; ValueTooLargeError as soon as it holds more than
    ``limit`` bytes (at most ``limit`` + 1 MiB is ever read: an endless input is not read to its end)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = source.read1(1 << 20) if hasattr(source, "read1") else source.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise sqlkv.ValueTooLargeError(f"{what} is larger than the largest value ({limit:,} bytes)")


def _value_argument(value: str | None) -> tuple[bytes, bool]:
    """The VALUE argument as the bytes given (any encoding), or standard input when it is omitted (or '')
    and stdin is not a terminal (read up to the largest value a store takes, and no further)."""
    if value in (None, ""):
        stdin = _stdin("the value")
        if not stdin.isatty():
            return read_bounded(stdin, sqlkv.MAX_VALUE_SIZE, "the value on standard input"), True
    return os.fsencode(value or ""), False


def _echo(value: bytes, from_stdin: bool) -> None:
    """put/create/update print the value they stored (a blank line when it came from standard input)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(b"\n" if from_stdin else value + b"\n")
    sys.stdout.flush()


def _confirm(args: argparse.Namespace, question: str) -> bool:
    if getattr(args, "force", False):
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise InvalidArgumentError("cannot ask for confirmation without a terminal (use --force)")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _config_flags(args: argparse.Namespace) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if args.history is not None:
        given["history"] = args.history
    if args.ttl is not None:
        given["ttl"] = parse_duration(args.ttl)
    if args.max_value_size is not None:
        given["max_value_size"] = parse_size(args.max_value_size)
    if args.max_bucket_size is not None:
        given["max_bytes"] = parse_size(args.max_bucket_size)
    if args.description is not None:
        given["description"] = args.description
    if args.marker_ttl is not None:
        given["marker_ttl"] = parse_duration(args.marker_ttl)
    if args.metadata:
        pairs = [item.partition(":") for item in args.metadata]
        if any(not sep for _, sep, _ in pairs):
            raise InvalidArgumentError("--metadata takes KEY:VALUE")
        given["metadata"] = {k: v for k, _, v in pairs}
    return given


def add(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.create_bucket(args.bucket, **_config_flags(args))
    return _show_status(args, store, kv)


def edit(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.update_bucket(args.bucket, **_config_flags(args))
    return _show_status(args, store, kv)


def _show_status(args: argparse.Namespace, store: sqlkv.Store, kv: sqlkv.Bucket) -> int:
    status = kv.status()
    replica = store.replica_status(status.bucket) if store.backend == "file" else None
    data = status_view(status)
    if replica is not None:
        data["replica"] = fmt.replica_json(replica)
    if not _json(args, data):
        _out(fmt.status_block(status, store.path))
        if replica is not None:
            _out("")
            _out(fmt.replica_block(replica))
    return 0


def bucket_or_store_info(args: argparse.Namespace, store: sqlkv.Store) -> int:
    """``info BUCKET``: the bucket's status block; ``info`` alone: the store's summary."""
    if args.bucket is None:
        return _store_info(args, store)
    return _show_status(args, store, store.bucket(args.bucket))


def _store_info(args: argparse.Namespace, store: sqlkv.Store) -> int:
    buckets = [store.bucket(name).status() for name in store.bucket_names()]
    data = {
        "store": store.path,
        "schema_version": store.schema_version,
        "durability": store.durability,
        "buckets": [_with_replica(store, status_view(s)) for s in buckets],
    }
    if _json(args, data):
        return 0
    _out(f"Store file: {store.path}")
    _out(f"Schema version: {store.schema_version}")
    _out(f"Durability: {store.durability}")
    _out(f"Buckets: {len(buckets)}")
    for s in buckets:
        replica = _replica_of(store, s.bucket)
        mark = f", {fmt.replica_mark(replica)}" if replica is not None else ""
        _out(f"  {s.bucket}: {s.values:,} values, {s.keys:,} keys, {fmt.size(s.bytes)}{mark}")
    return 0


def _with_replica(store: sqlkv.Store, data: dict[str, Any]) -> dict[str, Any]:
    """A bucket's JSON with its replica state (``"replica"``: null for a plain bucket)."""
    replica = _replica_of(store, data["bucket"])
    return {**data, "replica": fmt.replica_json(replica) if replica is not None else None}


def _replica_of(store: sqlkv.Store, bucket: str) -> sqlkv.ReplicaStatus | None:
    """The stored replica state of ``bucket`` (None: a plain bucket, or a store that has none)."""
    return store.replica_status(bucket) if store.backend == "file" else None


def put(args: argparse.Namespace, store: sqlkv.Store) -> int:
    value, from_stdin = _value_argument(args.value)
    store.bucket(args.bucket).put(args.key, value, ttl=parse_duration(args.ttl) if args.ttl else None)
    _echo(value, from_stdin)
    return 0


def create(args: argparse.Namespace, store: sqlkv.Store) -> int:
    value, from_stdin = _value_argument(args.value)
    store.bucket(args.bucket).create(args.key, value, ttl=parse_duration(args.ttl) if args.ttl else None)
    _echo(value, from_stdin)
    return 0


def update(args: argparse.Namespace, store: sqlkv.Store) -> int:
    value, from_stdin = _value_argument(args.value)
    store.bucket(args.bucket).update(args.key, value, last=args.revision)
    _echo(value, from_stdin)
    return 0


def incr(args: argparse.Namespace, store: sqlkv.Store) -> int:
    value = store.bucket(args.bucket).incr(args.key, args.by, ttl=parse_duration(args.ttl) if args.ttl else None)
    print(value)
    return 0


def touch(args: argparse.Namespace, store: sqlkv.Store) -> int:
    ttl = None if args.ttl.strip().lower() == "never" else parse_duration(args.ttl)
    store.bucket(args.bucket).touch(args.key, ttl)
    return 0


def get(args: argparse.Namespace, store: sqlkv.Store) -> int:
    entry = store.bucket(args.bucket).get(args.key, revision=args.revision)
    if args.raw:
        sys.stdout.buffer.write(entry.value)
        sys.stdout.flush()
        return 0
    if _json(args, entry_view(entry)):
        return 0
    header = f"{entry.bucket} > {entry.key} revision: {entry.revision} created @ {fmt.local_time(entry.created)}"
    if entry.expires is not None:  # sqlkv adds the deadline (a per-key or the bucket TTL): "expires in 41.00s"
        header += f" expires in {fmt.age((entry.expires - datetime.now(timezone.utc)).total_seconds())}"
    _out(header)
    _out()
    shown = fmt.shown_value(entry.value)
    if len(shown) > 120:
        _out(f"Showing first 120 bytes of {len(shown)}, use --raw for full data")
        _out()
        shown = shown[:120]
    _out(shown)
    _out()
    return 0


def delete(args: argparse.Namespace, store: sqlkv.Store) -> int:
    if args.key is None:
        return remove_bucket(args, store)
    kv = store.bucket(args.bucket)
    if _confirm(args, f"Delete key {args.bucket} > {args.key}?"):
        kv.delete(args.key, last=args.revision)
    else:
        _out("Skipping delete")
    return 0


def remove_bucket(args: argparse.Namespace, store: sqlkv.Store) -> int:
    store.bucket(args.bucket)  # not found before asking
    if _confirm(args, f"Delete bucket {args.bucket}?"):
        store.delete_bucket(args.bucket)
    else:
        _out("Skipping delete")
    return 0


def detach(args: argparse.Namespace, store: sqlkv.Store) -> int:
    """``kv detach BUCKET [--force]``: the replica bucket becomes a plain local bucket, its data kept."""
    dropped = store.detach_replica(args.bucket, force=args.force)
    if dropped < 0:
        _out(f"Bucket {args.bucket} is not a replica: nothing to do")
        return 0
    note = f" ({dropped} queued local write{'s' if dropped != 1 else ''} dropped)" if dropped else ""
    _out(f"Bucket {args.bucket} is a plain local bucket now{note}")
    return 0


def purge(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.bucket(args.bucket)
    if _confirm(args, f"Purge key {args.bucket} > {args.key}?"):
        kv.purge(args.key, last=args.revision, ttl=parse_duration(args.ttl) if args.ttl else None)
    else:
        _out("Skipping purge")
    return 0


def compact(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.bucket(args.bucket)
    question = f"Purge all historic values and audit trails for deleted keys in bucket {args.bucket}?"
    if _confirm(args, question):
        kv.purge_deletes()
    else:
        _out("Skipping purge")
    return 0


def _history_table(bucket: str, key: str, entries: list[sqlkv.Entry]) -> str:
    rows = [
        [e.key, str(e.revision), OPERATION_WORDS[e.operation.name], fmt.local_time(e.created), str(len(e.value)),
         fmt.shown_value(e.value, 40)]
        for e in entries
    ]  # fmt: skip
    headers = ["Key", "Revision", "Op", "Created", "Length", "Value"]
    return fmt.table(f"History for {bucket} > {key}", headers, rows, right=(1,))


def history(args: argparse.Namespace, store: sqlkv.Store) -> int:
    entries = store.bucket(args.bucket).history(args.key)
    if not _json(args, [entry_view(e) for e in entries]):
        _out(_history_table(args.bucket, args.key, entries))
    return 0


def revert(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.bucket(args.bucket)
    entries = kv.history(args.key)
    if len(entries) <= 1:
        raise InvalidArgumentError("cannot revert key in a bucket where history=1")
    old = kv.get(args.key, revision=args.revision)
    if not args.force:
        _out(f"Revision: {old.revision}\n\n{fmt.shown_value(old.value, 120)}\n")
        if not _confirm(args, f"Really revert to revision {old.revision}"):
            _out("Skipping revert")
            return 0
    kv.update(args.key, old.value, last=entries[-1].revision)
    _out(_history_table(args.bucket, args.key, kv.history(args.key)))
    return 0


def keys(args: argparse.Namespace, store: sqlkv.Store) -> int:
    found = store.bucket(args.bucket).keys(*args.filters)
    if _json(args, found):
        return 0
    if not found:
        _out("No keys found in bucket")
    for key in found:
        _out(key)
    return 0


def _since(moment: datetime | None, revision: int) -> str:
    """The ``Last Update`` column: how long ago, as the NATS CLI prints it; ``never`` for an empty bucket."""
    if moment is None:
        return "never" if revision == 0 else "unknown"
    return fmt.age((datetime.now(timezone.utc) - moment).total_seconds())


def _list_keys(args: argparse.Namespace, store: sqlkv.Store) -> int:
    """``ls BUCKET [FILTER]``: the keys; with -v a table of each key's latest entry (as ``nats kv ls -v``)."""
    args.filters = [args.filter] if args.filter else []
    if not args.verbose:
        return keys(args, store)
    kv = store.bucket(args.bucket)
    entries = []
    for key in kv.keys(*args.filters):
        try:
            entries.append(kv.get(key))
        except sqlkv.KeyNotFoundError:  # deleted since it was listed
            continue
    if _json(args, [entry_view(e) for e in entries]):
        return 0
    headers = ["Key", "Created", "Delta", "Revision"]
    rows = [[e.key, fmt.local_time(e.created), str(e.delta), str(e.revision)] for e in entries]
    if args.display_value:  # shortened to what the terminal has room for (`get` shows the whole value)
        import shutil

        room = shutil.get_terminal_size().columns - fmt.table_width(headers, rows) - 3
        headers.append("Value")
        for row, e in zip(rows, entries, strict=True):
            row.append(fmt.fitted_value(e.value, max(room, len("Value"), 10)))
    _out(fmt.table(f"Contents for bucket '{args.bucket}'", headers, rows, right=(2, 3)))
    if not entries:
        _out("No keys found in bucket")
    return 0


def ls(args: argparse.Namespace, store: sqlkv.Store) -> int:
    if args.bucket is not None:
        return _list_keys(args, store)
    buckets = [store.bucket(name) for name in store.bucket_names()]
    listed = sorted(((kv.status(), kv) for kv in buckets), key=lambda pair: pair[0].bytes)
    if args.names and not args.json:
        for s, _ in listed:
            _out(s.bucket)
        return 0
    updated = [(s, last_update(kv, s)) for s, kv in listed]
    listing = [_with_replica(store, {**status_view(s), "last_update": t and t.isoformat()}) for s, t in updated]
    if _json(args, listing):
        return 0
    if not updated:
        _out("No Key-Value buckets found")
        return 0
    rows = [
        [s.bucket + (f" ({fmt.replica_mark(r)})" if (r := _replica_of(store, s.bucket)) else ""),
         s.description or "", fmt.local_time(s.created), fmt.size(s.bytes), f"{s.values:,}",
         _since(t, s.last_revision)]
        for s, t in updated
    ]  # fmt: skip
    headers = ["Bucket", "Description", "Created", "Size", "Values", "Last Update"]
    _out(fmt.table("Key-Value Buckets", headers, rows))
    return 0


def watch(args: argparse.Namespace, store: sqlkv.Store) -> int:
    kv = store.bucket(args.bucket)
    filters = () if args.key in (None, ">") else (args.key,)
    options: dict[str, Any] = {"ignore_deletes": not args.deletes}
    if args.revision is not None:
        options["from_revision"] = args.revision
    elif args.updates:
        options["updates_only"] = True
    else:
        options["include_history"] = args.history
    with kv.watch(*filters, **options) as watcher:
        try:
            for entry in watcher:
                _out(dumps(entry_view(entry)) if args.json else fmt.watch_line(entry))
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    return 0


def backup(args: argparse.Namespace, store: sqlkv.Store) -> int:
    pages = store.backup(args.path, overwrite=args.force)
    _out(f"Backed up {store.path} to {args.path} ({pages:,} pages)")
    return 0


def export(args: argparse.Namespace, store: sqlkv.Store) -> int:
    """``export [-o FILE]``: a new FILE is written 0600 beside its final name and renamed at the end, so a
    failed export leaves nothing behind; a special file (a pipe, /dev/null) is written into as it is."""
    from . import _transfer  # export and import only: other commands start without it

    names = [args.bucket] if args.bucket else store.bucket_names()
    for name in names:
        store.bucket(name)  # every bucket is found before anything is written
    if args.output is None:
        _write_export(store, names, args.history, sys.stdout, None)
    elif getattr(args, "special_output", False):
        with open(args.output, "w", encoding="utf-8") as target:
            _write_export(store, names, args.history, target, _transfer.progress_stream())
    else:
        with _transfer.private_file(args.output) as target:
            _write_export(store, names, args.history, target, _transfer.progress_stream())
    return 0


def _write_export(
    store: sqlkv.Store, names: list[str], history: bool, target: IO[str], progress: IO[str] | None
) -> None:
    from . import _transfer  # export and import only: other commands start without it

    count = 0
    for record in _transfer.export_lines(store, names, history=history):
        target.write(dumps(record) + "\n")
        count += 1
        if progress is not None and count % 1000 == 0:
            progress.write(f"\rexported {count:,} records")
    if progress is not None and count >= 1000:
        progress.write(f"\rexported {count:,} records\n")


def import_(args: argparse.Namespace, store: sqlkv.Store) -> int:
    from . import _transfer  # export and import only: other commands start without it

    progress = _transfer.progress_stream()
    if args.file in (None, "-"):
        count = _transfer.import_lines(
            store, _transfer.text_lines(_stdin("the records")), renumber=args.renumber, progress=progress
        )
    else:
        with open(args.file, "rb") as source:
            count = _transfer.import_lines(
                store, _transfer.text_lines(source), renumber=args.renumber, progress=progress
            )
    _out(f"Imported {count:,} entries")
    return 0


def migrate(args: argparse.Namespace) -> int:
    """``sqlkv migrate SRC DST``: copy, verify, and print one line a bucket."""
    import anyio

    from sqlkv.migrate import migrate as copy

    from . import _transfer  # export and import only: other commands start without it

    progress_stream = _transfer.progress_stream()

    def progress(bucket: str, count: int) -> None:
        if progress_stream is not None:
            progress_stream.write(f"\r{bucket}: {count:,} entries")
            progress_stream.flush()

    # As any command: the source must exist (opened read-only if it cannot be written), the destination may
    # be created; a nats:// URL is left to the store.
    source_options = {"read_only": True} if check_store(args.source, create=False, write=False) else {}
    check_store(args.destination, create=True, write=True)

    async def run() -> int:
        async with (
            sqlkv.AsyncStore(args.source, **source_options) as source,
            sqlkv.AsyncStore(args.destination) as destination,
        ):
            reports = await copy(source, destination, args.bucket, history=args.history, progress=progress)
        if progress_stream is not None:
            progress_stream.write("\n")
        for r in reports:
            copied = f"{r.bucket}: {r.copied:,} copied, {r.skipped:,} already there"
            _out(f"{copied}; {r.keys:,} keys, sha256 {r.checksum[:16]} on both sides")
        return 0

    result: int = anyio.run(run)
    return result


def replicate(args: argparse.Namespace, store: sqlkv.Store) -> int:
    """``replicate BUCKET URL``: run until Ctrl-C or SIGTERM (exit 0), one line per applied batch and state change.

    Each new reason the sessions with the hub fail for is one line on standard
    error, with the back-off before the next attempt.
    """
    import time  # (SIGTERM stops it as Ctrl-C does: main() sees to that for every command that runs until stopped)

    stored = _replica_of(store, args.bucket) if args.bucket in store.bucket_names() else None
    if args.conflicts and stored is None:  # a listing never makes a plain (or new) bucket a replica
        _out(f"Bucket {args.bucket} is not a replica: no conflicts")
        return 0
    mode = args.mode or (stored.mode if stored is not None else "mirror")  # listing conflicts needs no --mode
    terminal = sys.stdout.isatty()
    try:
        with store.replicate(args.bucket, args.url, mode=mode, remote_bucket=args.remote_bucket,
                             resync=args.resync) as rep:  # fmt: skip
            if args.conflicts:
                for conflict in rep.conflicts():
                    _out(fmt.conflict_line(conflict))
                return 0
            status = rep.status()
            _out(fmt.replica_line(status, f"following {status.origin} bucket {status.remote_bucket} as {mode}"))
            connected, revision, reason = False, status.revision, None
            while True:
                status = rep.status()
                problem = status.last_error
                if problem is not None and (problem.kind, problem.message) != reason:
                    reason = (problem.kind, problem.message)
                    _clear_line(terminal)
                    sys.stdout.flush()
                    sys.stderr.write(fmt.replica_problem_line(status, problem) + "\n")
                    sys.stderr.flush()
                elif problem is None and status.connected:
                    reason = None
                if status.connected != connected or status.error:
                    connected = status.connected
                    _clear_line(terminal)
                    _out(fmt.replica_line(status, fmt.replica_state(status)))
                    if status.error:
                        raise sqlkv.ReplicaError(status.error)
                if status.revision != revision:
                    _clear_line(terminal)
                    _out(fmt.replica_line(status, f"applied revisions {revision + 1}..{status.revision}"))
                    revision = status.revision
                if terminal:
                    sys.stdout.write(f"\r{fmt.replica_progress(status)}")
                sys.stdout.flush()
                time.sleep(0.1)
    except KeyboardInterrupt:
        _clear_line(terminal)
        return 0


def _clear_line(terminal: bool) -> None:
    if terminal:
        sys.stdout.write("\r\x1b[K")


def ui(args: argparse.Namespace, location: str, *, read_only: bool) -> int:
    """``sqlkv ui``: the web inspector (``sqlkv.ui``, loaded only here), until Ctrl-C or SIGTERM.

    The store is opened read-only when it cannot be written (``read_only``) or without ``--write``.
    """
    from sqlkv.ui import INSTALL_HINT, loopback, missing_dependencies, serve

    host = loopback(args.host)
    if not 0 <= args.port <= 65535:
        raise InvalidArgumentError(f"--port must be 0-65535 (0: a free port), not {args.port}")
    if missing_dependencies():
        raise CliError(INSTALL_HINT, 1)

    def announce(url: str) -> None:
        sys.stdout.write(f"sqlkv ui: {url}\n")
        sys.stdout.flush()

    options = {"read_only": True} if read_only or not args.write else {}
    try:
        serve(
            location,
            options=options,
            write=args.write,
            host=host,
            port=args.port,
            open_browser=args.browser,
            announce=announce,
        )
    except KeyboardInterrupt:  # before the server took over the signals: stopped all the same (the store is closed)
        pass
    return 0
