"""The NATS JetStream backend: ``sqlkv.AsyncStore("nats://host:4222")``, the same API on a NATS server.

Implements the interface of ``sqlkv._api`` (``async_interface``) with nats-py
(``pip install 'sqlkv[nats]'``); the registry loads it by URL scheme. It never
subclasses or imports the SQLite store: buckets, entries, operations and
errors are sqlkv's, the semantics NATS's own (see docs/semantics.md, "The NATS
store").
May import: ``sqlkv._model`` and the interface modules of ``sqlkv._api``.
"""
