"""Replicas: a local bucket of a file store that follows a NATS KV bucket (``store.replicate(...)``).

Sits above the backends (it speaks NATS with nats-py as the NATS backend
does, and reaches a file store's bucket through its ``ReplicaPort``) and below
the command line. ``remote`` reads the remote bucket's stream and state;
``port`` names what the replica needs of a local bucket, ``local`` uses it
(rows applied with the cursor in the same transaction, ``_storage/replica``);
``follower`` is the session both modes share (connect, resume from the
cursor, catch up, follow, reconnect with back-off for ever, say why it
fails); ``mirror`` and ``sync`` are the two modes (``sender`` sends a sync
replica's queued local writes up and settles conflicts); ``threaded`` runs a
follower on a thread of its own for the sync ``Store``. The stores reach this
package through the registry, on first use: ``entry_points`` opens a replica,
``stored`` reads a replica's stored state without loading nats-py or asyncio.
"""
