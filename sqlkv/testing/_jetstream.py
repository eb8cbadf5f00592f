"""``NatsJetStream``: the key-value part of nats.py's ``JetStreamContext`` on an sqlkv store."""

from __future__ import annotations

import re
from typing import Any

import sqlkv

from ._convert import nats, nats_errors
from ._kv import NatsKeyValue

__all__ = ["NatsJetStream"]

_MAX_HISTORY = 64
_BUCKET_RE = re.compile(r"[A-Za-z0-9_-]+")  # nats.py's rule (sqlkv's, without a trailing newline)


def _limit(value: int | None) -> int | None:
    """A size limit as nats.py passes it (None, or -1 and 0 for none) as sqlkv's (None: unlimited)."""
    return None if value is None or value <= 0 else value


class NatsJetStream:
    """``create_key_value``, ``key_value`` and ``delete_key_value`` as nats.py's ``JetStreamContext`` has them.

    Buckets live in ``store`` (an open ``sqlkv.AsyncStore``); each call returns a
    :class:`NatsKeyValue` and raises nats.py's own exceptions:
    ``InvalidBucketNameError``, ``KeyHistoryTooLargeError`` (history over 64),
    ``BucketNotFoundError`` (``key_value`` of a missing bucket), the server's
    ``BadRequestError`` 10058 (the name is taken with another configuration) and
    ``NotFoundError`` 10059 (``delete_key_value`` of a missing bucket).
    Raw stream APIs (``stream_info``, ``add_stream``, ``get_msg``, ``publish``...)
    are not there: see docs/semantics.md.
    """

    def __init__(self, store: sqlkv.AsyncStore) -> None:
        nats("sqlkv.testing.NatsJetStream")  # no nats-py: fail now, not at the first call
        self._store = store

    async def create_key_value(self, config: Any = None, **params: Any) -> NatsKeyValue:
        """Create a bucket from nats.py's ``KeyValueConfig`` and/or its fields as keywords (``bucket=``...)."""
        api, errors, _ = nats()
        if config is None:
            config = api.KeyValueConfig(bucket=params["bucket"])
        config = config.evolve(**params)
        if not isinstance(config.bucket, str) or not _BUCKET_RE.fullmatch(config.bucket):
            raise errors.InvalidBucketNameError
        if config.history > _MAX_HISTORY:
            raise errors.KeyHistoryTooLargeError
        if config.history < 1:  # nats.py sends it; the server then makes a bucket key_value() refuses
            raise errors.BadBucketError
        marker_ttl = config.limit_marker_ttl if config.limit_marker_ttl and config.limit_marker_ttl > 0 else None
        if marker_ttl is not None and marker_ttl < 1:
            raise errors.ServerError(
                code=500, err_code=10052, description="subject delete marker TTL must be at least 1 second"
            )
        try:
            with nats_errors():
                bucket = await self._store.create_bucket(
                    config.bucket,
                    history=config.history,
                    ttl=config.ttl or None,
                    max_value_size=_limit(config.max_value_size),
                    max_bytes=_limit(config.max_bytes),
                    description=config.description,
                    marker_ttl=marker_ttl,
                )
        except sqlkv.BucketExistsError:
            raise errors.BadRequestError(
                code=400, err_code=10058, description="stream name already in use with a different configuration"
            ) from None
        return NatsKeyValue(bucket)

    async def key_value(self, bucket: str) -> NatsKeyValue:
        """The existing bucket ``bucket``: ``BucketNotFoundError`` when there is none."""
        with nats_errors():
            return NatsKeyValue(await self._store.bucket(bucket))

    async def delete_key_value(self, bucket: str) -> bool:
        """Delete bucket ``bucket`` and its data; the server's ``NotFoundError`` (10059) when there is none."""
        _, errors, _ = nats()
        try:
            with nats_errors():
                await self._store.delete_bucket(bucket)
        except errors.BucketNotFoundError:
            raise errors.NotFoundError(code=404, err_code=10059, description="stream not found") from None
        return True
