"""Bucket configuration: validation, its stored (JSON) form, and the values its triggers embed."""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from .errors import InvalidArgumentError

__all__ = ["MAX_HISTORY", "BucketConfig", "to_seconds"]

MAX_HISTORY = 64


def to_seconds(value: object, name: str) -> float:
    """A positive duration given as seconds (int or float) or a ``timedelta``, in seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidArgumentError(f"{name} must be seconds or a timedelta, not {type(value).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgumentError(f"{name} must be a positive duration, got {value!r}")
    if seconds > 100 * 365 * 86400:
        raise InvalidArgumentError(f"{name} must be at most 100 years, got {value!r}")
    return seconds


def _check_size(value: object, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise InvalidArgumentError(f"{name} must be None (unlimited) or an int >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """What a bucket keeps and allows.

    - ``history``: revisions kept per key (1-64), delete and purge markers included;
    - ``ttl``: maximum age of every entry, in seconds (None: entries never age out);
    - ``max_value_size``: largest value in bytes (None: unlimited);
    - ``max_bytes``: most bytes the bucket may hold, counting the UTF-8 key and the
      value of every stored entry (None: unlimited);
    - ``description`` and ``metadata``: free text and string pairs for the application;
    - ``marker_ttl``: how long, in seconds, the marker left by an expiry lives
      before the key is gone for good (None: such markers stay), as NATS's
      limit-marker TTL (``subject_delete_marker_ttl``, ADR-48).
    """

    history: int = 1
    ttl: float | None = None
    max_value_size: int | None = None
    max_bytes: int | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    marker_ttl: float | None = None

    def __post_init__(self) -> None:
        history = self.history
        if isinstance(history, bool) or not isinstance(history, int):
            raise InvalidArgumentError(f"history must be an int, not {type(history).__name__}")
        if not 1 <= history <= MAX_HISTORY:
            raise InvalidArgumentError(f"history must be between 1 and {MAX_HISTORY}, got {history}")
        if self.ttl is not None:
            object.__setattr__(self, "ttl", to_seconds(self.ttl, "ttl"))
        if self.marker_ttl is not None:
            object.__setattr__(self, "marker_ttl", to_seconds(self.marker_ttl, "marker_ttl"))
        _check_size(self.max_value_size, "max_value_size")
        _check_size(self.max_bytes, "max_bytes")
        if self.description is not None and not isinstance(self.description, str):
            raise InvalidArgumentError("description must be a str or None")
        metadata = {} if self.metadata is None else self.metadata
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise InvalidArgumentError("metadata must be a mapping of str to str")
        object.__setattr__(self, "metadata", dict(metadata))

    @property
    def ttl_ns(self) -> int:
        """The TTL in nanoseconds, 0 when entries never age out."""
        return 0 if self.ttl is None else round(self.ttl * 1e9)

    @property
    def marker_ttl_ns(self) -> int | None:
        """The marker TTL in nanoseconds, None when markers stay."""
        return None if self.marker_ttl is None else round(self.marker_ttl * 1e9)

    def template_values(self) -> dict[str, int]:
        """The values the bucket's triggers embed (``{{history}}``, ``{{max_bytes}}``...)."""
        return {
            "history": self.history,
            "max_value_size": -1 if self.max_value_size is None else self.max_value_size,
            "max_bytes": -1 if self.max_bytes is None else self.max_bytes,
        }

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(
            {
                "history": self.history,
                "ttl": self.ttl,
                "max_value_size": self.max_value_size,
                "max_bytes": self.max_bytes,
                "description": self.description,
                "metadata": dict(self.metadata),
                **({} if self.marker_ttl is None else {"marker_ttl": self.marker_ttl}),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "BucketConfig":
        """Rebuild a configuration from its stored form (unknown fields are ignored)."""
        data = json.loads(text)
        return cls(
            history=data["history"],
            ttl=data.get("ttl"),
            max_value_size=data.get("max_value_size"),
            max_bytes=data.get("max_bytes"),
            description=data.get("description"),
            metadata=data.get("metadata") or {},
            marker_ttl=data.get("marker_ttl"),
        )
