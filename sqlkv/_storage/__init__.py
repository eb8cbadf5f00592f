"""Layer 2a, storage: SQL on one ``sqlite3.Connection``, with no threads, event loops or clocks of its own.

Owns opening connections (WAL, durability, private files, read-only), the
only translation of ``sqlite3`` errors into sqlkv errors (``errors``), every
statement (``statements``), the key operations (``ops``), change reads
(``changes``), the catalog, expiry sweeps, bucket administration and the
migration runner (``schema``; the SQL files stay in the top-level
``migrations/``). Every function takes a connection and a ``now`` from its
caller: the engine decides where and when it runs.
May import: ``sqlkv._model``.
"""
