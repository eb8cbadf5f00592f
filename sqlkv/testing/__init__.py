"""Test helpers: a stand-in for nats.py's JetStream key-value API, backed by sqlkv.

``NatsJetStream`` has the key-value part of nats.py's ``JetStreamContext``
(``create_key_value`` with a ``KeyValueConfig`` or its keywords, ``key_value``,
``delete_key_value``); ``NatsKeyValue`` has the interface of ``nats.js.kv.KeyValue``
(as of nats-py 2.16.0): ``put``, ``get``, ``create``, ``update``, ``delete``,
``purge``, ``purge_deletes``, ``keys``, ``history``, ``watch``, ``watchall`` and
``status``. They return nats.py's own ``KeyValue.Entry`` / ``BucketStatus`` and
raise nats.py's own exception classes (``KeyNotFoundError`` with ``.entry`` and
``.op``, ``KeyWrongLastSequenceError``, ``NoKeysError``, ``InvalidKeyError``,
``InvalidBucketNameError``, ``BucketNotFoundError``, ``KeyHistoryTooLargeError``,
``BadRequestError``...), so code written against nats.py can be tested without a
server. Marker lifetimes (NATS 2.11+) are there: ``limit_marker_ttl``,
``create(..., msg_ttl=)``, ``purge(..., msg_ttl=)``, ``status().marker_ttl``.
It needs nats-py (``pip install 'sqlkv[nats]'``; code under test imports it
anyway): without it, making one raises a RuntimeError that says so.

Where nats-py 2.16.0 has a known bug, the stand-in follows the NATS server instead,
and a few things differ on purpose; docs/semantics.md ("Testing nats.py code with
sqlkv") lists every difference.
"""

from __future__ import annotations

from ._jetstream import NatsJetStream
from ._kv import NatsKeyValue, NatsKeyWatcher

__all__ = ["NatsJetStream", "NatsKeyValue", "NatsKeyWatcher"]
