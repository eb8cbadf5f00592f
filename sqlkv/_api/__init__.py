"""The API: one interface, its shared argument checks, and the typed buckets over it.

Owns the backend-neutral interface (``async_interface``: ``AsyncStore``,
``AsyncBucket``, ``AsyncWatcher``; ``sync_interface``: ``Store``, ``Bucket``,
``Watcher``, the hand-written twins; ``replica_interface``: ``AsyncReplica``,
``Replica``, implemented by ``sqlkv._replica`` above), the argument checks every
implementation shares (``arguments``), transactions (``transaction``), the lock
recipes (``locks``), a store's life and the open-store tracking (``lifecycle``),
the typed buckets of a codec's objects (``typed``, over the protocols of
``raw``), and ``registry``: the one place that loads a module by name (the
backends by URL scheme, the typed buckets, the replica layer, the public names).
The implementations live above, side by side in ``sqlkv._backends``.
May import: ``_model`` only (the layers below the backends are theirs to use).
"""
