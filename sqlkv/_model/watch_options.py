"""What a watcher was asked for, checked once for every backend: filters, start point, what to leave out."""

from __future__ import annotations

from .errors import InvalidArgumentError
from .validate import KeyMatcher, check_revision, compile_filters

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["WatchOptions"]


class WatchOptions:
    """A watch request, validated (a plain class: a dataclass costs ~1 ms to import, at every command line run).

    ``mode`` is ``"latest"`` (the latest entry of every matching key first),
    ``"all"`` (every retained entry from revision ``start`` on) or ``"none"``
    (updates only). ``matcher`` is None when every key matches; ``prefix`` is
    the longest literal prefix shared by the filters (for SQL to narrow a
    scan); ``exact_keys`` are the watched keys when no filter has a wildcard.
    """

    __slots__ = (
        "buffer_size",
        "exact_keys",
        "filters",
        "from_revision",
        "ignore_deletes",
        "include_history",
        "matcher",
        "meta_only",
        "mode",
        "on_gap",
        "prefix",
        "start",
        "updates_only",
    )

    filters: tuple[str, ...]
    matcher: KeyMatcher | None
    prefix: str
    exact_keys: tuple[str, ...] | None
    mode: str
    start: int
    include_history: bool
    ignore_deletes: bool
    meta_only: bool
    updates_only: bool
    from_revision: int | None
    buffer_size: int
    on_gap: str

    def __init__(self, **options: Any) -> None:
        for name, value in options.items():
            setattr(self, name, value)

    @classmethod
    def make(
        cls,
        filters: tuple[str, ...],
        *,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
        from_revision: int | None = None,
        buffer_size: int = 1024,
        on_gap: str = "skip",
    ) -> WatchOptions:
        """Check a watch's arguments; InvalidKeyError / InvalidArgumentError if any is wrong."""
        matcher, prefix = compile_filters(filters)
        if from_revision is not None:
            check_revision(from_revision, name="from_revision")
        if updates_only and (include_history or from_revision is not None):
            raise InvalidArgumentError("updates_only cannot be combined with include_history or from_revision")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise InvalidArgumentError("buffer_size must be a positive int")
        if on_gap not in ("skip", "raise"):
            raise InvalidArgumentError(f"on_gap must be 'skip' or 'raise', not {on_gap!r}")
        literal = matcher is not None and not any("*" in f or ">" in f for f in filters)
        if updates_only:
            mode, start = "none", 0
        elif from_revision is not None:
            mode, start = "all", from_revision
        elif include_history:
            mode, start = "all", 1
        else:
            mode, start = "latest", 0
        return cls(
            filters=tuple(filters),
            matcher=matcher,
            prefix=prefix,
            exact_keys=tuple(filters) if literal else None,
            mode=mode,
            start=start,
            include_history=bool(include_history),
            ignore_deletes=bool(ignore_deletes),
            meta_only=bool(meta_only),
            updates_only=bool(updates_only),
            from_revision=from_revision,
            buffer_size=buffer_size,
            on_gap=on_gap,
        )
