"""The SQLite implementations of the interface: async_store and async_watcher, sync_store and sync_watcher.

Both bucket classes share ``bucket_core``: how each checked call becomes a
storage operation run by the store's engine (threads behind the loop, or the
calling thread). Registered in ``registry`` for file locations.
"""
