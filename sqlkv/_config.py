"""Bucket configuration: validation and its stored (JSON) form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ._errors import InvalidArgumentError

__all__ = ["MAX_HISTORY", "BucketConfig"]

MAX_HISTORY = 64


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """What a bucket keeps: ``history`` revisions per key (1-64) and a description."""

    history: int = 1
    description: str | None = None

    def __post_init__(self) -> None:
        history = self.history
        if isinstance(history, bool) or not isinstance(history, int):
            raise InvalidArgumentError(f"history must be an int, not {type(history).__name__}")
        if not 1 <= history <= MAX_HISTORY:
            raise InvalidArgumentError(f"history must be between 1 and {MAX_HISTORY}, got {history}")
        if self.description is not None and not isinstance(self.description, str):
            raise InvalidArgumentError("description must be a str or None")

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BucketConfig:
        """Rebuild a configuration from its stored form (unknown fields are ignored)."""
        data = json.loads(text)
        return cls(history=data["history"], description=data.get("description"))
