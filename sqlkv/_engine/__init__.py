"""Layer 3, the engine: where an operation runs.

Owns the database threads and group commit (``worker``, ``transactions``),
lone operations on the event loop's thread (``inline``), the checkpointer and
the sweeper, and the per-store machinery both APIs share (``engine``), with
``threaded`` for ``AsyncStore`` and ``direct`` (the calling thread) for ``Store``.
The synchronous path never imports asyncio or anyio.
May import: ``sqlkv._model``, ``sqlkv._storage``, ``sqlkv._runtime``.
"""
