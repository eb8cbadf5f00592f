"""Layer 4, watch: live change streams.

Owns the change feed (one per store: the rows of each commit, and of other
processes' commits found by polling, posted once per bucket and event loop),
the fan-out to watchers (``fanout``), the sans-I/O watcher core (``core``) and
the hub that ties them to a store's engine (``hub``). The API's watchers wait
and read on top of ``core``.
May import: ``sqlkv._model``, ``sqlkv._storage``, ``sqlkv._runtime``, ``sqlkv._engine``.
"""
