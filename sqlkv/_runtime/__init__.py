"""Layer 2b, runtime: handing work to threads and results back to callers, with no SQL.

Owns the request (one operation and its outcome) and the port interface, one
port module per kind of caller (``asyncio_port``; ``trio_port``, the only
module that imports trio; blocking threads in ``request``), the eventfd inbox
that wakes a loop cheaply, the choice of the running loop's port (``ports``),
and fork safety (``forkgate``: every at-fork hook of sqlkv).
May import: ``sqlkv._model``. Independent of ``sqlkv._storage``.
"""
