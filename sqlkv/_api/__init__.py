"""Layer 5, the API: one interface, its shared argument checks, and the SQLite implementations.

Owns the backend-neutral interface (``async_interface``: ``AsyncStore``,
``AsyncBucket``, ``AsyncWatcher``; ``sync_interface``: ``Store``, ``Bucket``,
``Watcher``, the hand-written twins; ``replica_interface``: ``AsyncReplica``,
``Replica``, implemented by ``sqlkv._replica`` above), the argument checks every
implementation shares (``arguments``), the lock recipes (``locks``), a store's
life and the open-store tracking (``lifecycle``), the backends by URL scheme
(``registry``), and the SQLite implementations (``sqlite/``). The NATS
implementation lives above, in ``sqlkv._backends.nats``, and is found by the registry.
May import: every layer below (``_model``, ``_storage``, ``_runtime``,
``_engine``, ``_watch``); the interface modules import ``_model`` only.
"""
