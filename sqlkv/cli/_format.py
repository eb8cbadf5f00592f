"""How the CLI prints: the NATS CLI's formats (status block, get header, tables, watch lines), times, sizes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlkv
from sqlkv.views import OPERATION_WORDS, value_base64

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "age",
    "duration",
    "fitted_value",
    "local_time",
    "shown_value",
    "size",
    "status_block",
    "table",
    "table_width",
    "watch_line",
]


def local_time(moment: datetime) -> str:
    """``2006-01-02 15:04:05`` in local time, as the NATS CLI prints times."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def size(count: int | None) -> str:
    """``humanize.IBytes`` style: ``0 B``, ``219 B``, ``1.0 KiB``; None is ``unlimited``."""
    if count is None or count < 0:
        return "unlimited"
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} EiB"


def duration(seconds: float | None) -> str:
    """Go-style durations: ``44.00s``, ``2m0s``, ``1h0m0s``, ``1d0h0m0s``; None or 0 is ``unlimited``."""
    if not seconds:
        return "unlimited"
    if seconds < 60:
        return f"{seconds:.2f}s"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h{minutes}m{secs}s"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


def age(seconds: float) -> str:
    """How long ago, as the NATS CLI's ``Last Update``: ``734µs``, ``12ms``, ``4.25s``, ``3m2s``, ``1y2d3h4m5s``."""
    seconds = max(seconds, 0.0)
    if seconds < 0.001:
        micros = round(seconds * 1e6)
        return f"{micros}µs" if micros else "0s"
    if seconds < 1:
        millis = round(seconds * 1e3)
        return f"{millis}ms" if millis < 1000 else "1s"
    if seconds < 60:
        return f"{seconds:.2f}s"
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    if years:
        return f"{years}y{days}d{hours}h{minutes}m{secs}s"
    if days:
        return f"{days}d{hours}h{minutes}m{secs}s"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


_PRINTABLE = bytes(range(32, 127))


def _printable(value: bytes) -> bool:
    return not value.translate(None, _PRINTABLE)


def shown_value(value: bytes, limit: int | None = None) -> str:
    """The value as the NATS CLI shows it: text if printable ASCII, else base64; shortened past ``limit``."""
    text = value.decode("ascii") if _printable(value) else value_base64(value)
    if limit is not None and len(text) > limit:
        return text[:15] + "..." + text[-15:]
    return text


def fitted_value(value: bytes, width: int) -> str:
    """:func:`shown_value` cut to ``width`` characters (ending ``...`` when cut), encoding no more than it shows."""
    printable = _printable(value)
    length = len(value) if printable else (len(value) + 2) // 3 * 4
    part = value[: width + 3]
    text = part.decode("ascii") if printable else value_base64(part)
    return text if length <= width else text[: max(width - 3, 0)] + "..."


def status_block(status: sqlkv.BucketStatus, path: str) -> str:
    """The status block of ``nats kv add/info/edit`` (columns aligned on the colons)."""
    rows: list[tuple[str, str]] = [
        ("Bucket Name", status.bucket),
        ("History Kept", str(status.history)),
        ("Values Stored", f"{status.values:,}"),
        ("Compressed", "false"),
        ("Per-Key TTL Supported", "true"),
    ]
    if status.marker_ttl is not None:
        rows.append(("Limit Marker TTL", duration(status.marker_ttl)))
    rows.append(("Backing Store Kind", "SQLite"))
    if status.description:
        rows.append(("Description", status.description))
    rows += [
        ("Bucket Size", size(status.bytes)),
        ("Maximum Bucket Size", size(status.max_bytes)),
        ("Maximum Value Size", size(status.max_value_size)),
        ("Maximum Age", duration(status.ttl)),
        ("Live Keys", f"{status.keys:,}"),
        ("Last Revision", f"{status.last_revision:,}"),
        ("Store File", path),
        ("Storage", "File"),
    ]
    meta = sorted(status.metadata.items())
    width = max(len(label) for label, _ in rows + meta) + 2
    lines = [f"Information for Key-Value Store Bucket {status.bucket} created {local_time(status.created)}", ""]
    lines += ["Configuration:", ""]
    lines += [f"{label:>{width}}: {value}" for label, value in rows]
    if meta:
        lines += ["", "Metadata:", ""]
        lines += [f"{label:>{width}}: {value}" for label, value in meta]
    return "\n".join(lines)


def watch_line(entry: sqlkv.Entry) -> str:
    """``[2021-10-12 13:25:14] PUT my-kv > Key1: Value2`` (markers without the value)."""
    word = OPERATION_WORDS[entry.operation.name]
    line = f"[{local_time(entry.created)}] {word} {entry.bucket} > {entry.key}"
    return f"{line}: {shown_value(entry.value)}" if word == "PUT" else line


def table_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """How many characters wide :func:`table` draws these columns (the title aside)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A rounded-box table with a centred title, as go-pretty's StyleRounded draws it."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    inner = sum(widths) + 3 * len(widths) - 1
    if len(title) > inner:
        widths[-1] += len(title) - inner
        inner = len(title)

    def line(cells: Sequence[str]) -> str:
        parts = [f" {cell:>{widths[i]}} " if i in right else f" {cell:<{widths[i]}} " for i, cell in enumerate(cells)]
        return "│" + "│".join(parts) + "│"

    joint = "┼".join("─" * (w + 2) for w in widths)
    out = ["╭" + "─" * inner + "╮", "│" + title.center(inner) + "│"]
    out.append("├" + "┬".join("─" * (w + 2) for w in widths) + "┤")
    out.append(line(headers))
    out.append("├" + joint + "┤")
    out += [line(r) for r in rows]
    out.append("╰" + "┴".join("─" * (w + 2) for w in widths) + "╯")
    return "\n".join(out)


def since(moment: datetime) -> str:
    return duration(max((datetime.now(moment.tzinfo) - moment) / timedelta(seconds=1), 0.01))


def replica_json(status: sqlkv.ReplicaStatus) -> dict[str, Any]:
    return {
        "origin": status.origin,
        "remote_bucket": status.remote_bucket,
        "mode": status.mode,
        "revision": status.revision,
        "lag": status.lag,
        "last_seen": status.last_seen.isoformat() if status.last_seen else None,
        "pending": status.pending,
        "conflicts": status.conflicts,
    }


def replica_block(status: sqlkv.ReplicaStatus) -> str:
    """natscli's "Mirror Information" of ``nats kv info`` for a replica bucket (its stored state)."""
    title = "Mirror Information" if status.mode == "mirror" else "Replica Information"
    rows = [
        ("Origin", f"{status.origin} bucket {status.remote_bucket}"),
        ("Mode", status.mode),
        ("Last Applied Revision", f"{status.revision:,}"),
        ("Last Seen", f"{since(status.last_seen)} ago" if status.last_seen else "never"),
        ("Lag", f"{status.lag:,}"),
    ]
    if status.mode == "sync":
        rows += [("Pending Local Writes", f"{status.pending:,}"), ("Conflicts Recorded", f"{status.conflicts:,}")]
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join([f"{title}:", "", *(f"{label:>{width}}: {value}" for label, value in rows)])


def replica_state(status: sqlkv.ReplicaStatus) -> str:
    if status.error:
        return f"stopped: {status.error}"
    if status.connected:
        return "connected"
    problem = status.last_error
    return f"disconnected ({problem}): retrying" if problem is not None else "disconnected: retrying"


def replica_mark(status: sqlkv.ReplicaStatus) -> str:
    """How ``kv ls`` and ``kv info`` mark a replica bucket: ``mirror of nats://hub:4222 bucket config``."""
    return f"{status.mode} of {status.origin} bucket {status.remote_bucket}"


def replica_problem_line(status: sqlkv.ReplicaStatus, problem: sqlkv.ReplicaProblem) -> str:
    """The standard-error line of ``sqlkv replicate`` for a new reason its sessions fail."""
    now = datetime.now().strftime("%H:%M:%S")
    return (
        f"[{now}] {status.bucket}: cannot follow {status.origin} bucket {status.remote_bucket}: {problem} "
        f"(retrying in {problem.retry_in:g} s, the back-off doubling to 2 s)"
    )


def replica_line(status: sqlkv.ReplicaStatus, what: str) -> str:
    """One line of ``sqlkv replicate``: time, bucket, what happened, revision and lag."""
    now = datetime.now().strftime("%H:%M:%S")
    return f"[{now}] {status.bucket}: {what} (revision {status.revision:,}, lag {status.lag:,})"


def replica_progress(status: sqlkv.ReplicaStatus) -> str:
    return f"{status.bucket}: revision {status.revision:,}, lag {status.lag:,}, {replica_state(status)}"


def conflict_line(conflict: sqlkv.ReplicaConflict) -> str:
    return (
        f"{local_time(conflict.at)} {conflict.bucket} {conflict.key}: local revision {conflict.local_revision} "
        f"({shown_value(conflict.local_value, 40)}) vs remote revision {conflict.remote_revision} "
        f"({shown_value(conflict.remote_value, 40)}): "
        + (
            "refused by the hub (too large), remote kept"
            if conflict.decision == "refused"
            else f"{conflict.decision} kept"
        )
    )
