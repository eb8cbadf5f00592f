"""Replicas: a local bucket of a file store that follows a NATS KV bucket (``store.replicate(...)``).

Sits above ``_nats`` (it speaks NATS with nats-py as that backend does) and
below the command line. ``remote`` reads the remote bucket's stream and
state; ``local`` applies rows to the local bucket through its engine, the
cursor in the same transaction (``_storage/replica``); ``follower`` is the
async replica (connect, resume from the cursor, catch up, follow, reconcile
what the remote removed, reconnect with back-off for ever); ``sender`` sends a
sync replica's queued local writes up and settles conflicts; ``threaded`` runs
a follower on a thread for the sync ``Store``. The stores reach this package
by name on first use (``importlib``), as the registry reaches the backends.
"""

from __future__ import annotations

from .entry_points import open_async, open_sync, stored_status, stored_status_sync

__all__ = ["open_async", "open_sync", "stored_status", "stored_status_sync"]
