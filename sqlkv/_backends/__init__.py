"""The backends: each implements the interface of ``sqlkv._api`` on one kind of store.

``sqlite/`` is the store in one SQLite file (the engine, the change feed and the
storage layer below it); ``nats/`` is the same API on a NATS JetStream server
with nats-py. The two are independent of each other; ``sqlkv._api.registry``
finds them by URL scheme and is the one place that loads either by name.
May import: every layer below (``_api``, ``_watch``, ``_engine``, ``_storage``,
``_runtime``, ``_model``); ``nats`` uses only ``_model`` and ``_api``.
"""
