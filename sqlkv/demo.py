"""The NATS KV walkthrough, step by step, on sqlkv's embedded default store.

Run ``python -m sqlkv.demo``. The store is ``$SQLKV_DB`` or a file in your
user data directory; the demo creates the buckets ``my-kv`` and ``my-sem``
(marked as its own in their metadata) and removes them at the end, as the
walkthrough does. It never touches a bucket it did not create: when the store
already holds a ``my-kv`` or ``my-sem`` of yours, it says so and runs the
walkthrough on a scratch store instead. Step 8's "other terminal" is a
separate Python process writing to the same file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime

import anyio

import sqlkv

OTHER_TERMINAL = """
import sys, anyio, sqlkv
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.bucket("my-kv")
        await kv.put("Key1", b"Value2")
anyio.run(main)
"""


BUCKETS = ("my-kv", "my-sem")
MARK = {"created-by": "sqlkv.demo"}
"""The metadata of the demo's own buckets: the only buckets it ever deletes."""


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _step(number: int, what: str, nats_command: str, call: str) -> None:
    print(f"\n--- {number}. {what}   [NATS: {nats_command}]   [sqlkv: {call}]")


def _status_block(status: sqlkv.BucketStatus) -> str:
    rows = [
        ("Bucket Name", status.bucket),
        ("History Kept", str(status.history)),
        ("Values Stored", str(status.values)),
        ("Compressed", "false"),
        ("Backing Store Kind", "SQLite"),
        ("Bucket Size", f"{status.bytes} B"),
        ("Maximum Bucket Size", "unlimited"),
        ("Maximum Value Size", "unlimited"),
        ("Maximum Age", "unlimited"),
        ("Storage", "File"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"Information for Key-Value Store Bucket {status.bucket} created {_local(status.created)}", ""]
    lines += ["Configuration:", ""]
    lines += [f"{label:>{width}}: {value}" for label, value in rows]
    return "\n".join(lines)


def _watch_line(entry: sqlkv.Entry) -> str:
    op = {"PUT": "PUT", "DEL": "DELETE", "PURGE": "PURGE"}[entry.operation.name]
    line = f"[{_local(entry.created)}] {op} {entry.bucket} > {entry.key}"
    return f"{line}: {entry.value.decode(errors='replace')}" if op == "PUT" else line


async def _not_ours(store: sqlkv.AsyncStore) -> list[str]:
    """The buckets named like the demo's that the demo did not create (a user's: never touched)."""
    names = await store.bucket_names()
    return [name for name in BUCKETS if name in names and (await (await store.bucket(name)).status()).metadata != MARK]


async def walkthrough(path: str) -> None:
    """Run the nine steps of the walkthrough against the store at ``path`` (its own buckets only)."""
    async with sqlkv.AsyncStore(path) as store:
        theirs = await _not_ours(store)
        if theirs:
            raise sqlkv.BucketExistsError(f"{' and '.join(theirs)} in {path} were not made by this demo")
        for leftover in BUCKETS:  # the demo's own, from an interrupted earlier run
            if leftover in await store.bucket_names():
                await store.delete_bucket(leftover)

        _step(1, "check the backend", "nats account info", "AsyncStore(path)")
        print(f"Store file: {store.path}\nSchema version: {store.schema_version}")
        print(f"Durability: {store.durability}\nBuckets: {len(await store.bucket_names())}")

        _step(2, "create a bucket", "nats kv add my-kv", 'store.create_bucket("my-kv")')
        kv = await store.create_bucket("my-kv", metadata=MARK)
        print(_status_block(await kv.status()))

        _step(3, "put", "nats kv put my-kv Key1 Value1", 'kv.put("Key1", b"Value1")')
        await kv.put("Key1", b"Value1")
        print("Value1")

        _step(4, "get", "nats kv get my-kv Key1", 'kv.get("Key1")')
        entry = await kv.get("Key1")
        print(f"my-kv > Key1 revision: {entry.revision} created @ {_local(entry.created)}\n")
        print(entry.value.decode())

        _step(5, "delete", "nats kv del my-kv Key1", 'kv.delete("Key1")')
        await kv.delete("Key1")
        try:
            await kv.get("Key1")
        except sqlkv.KeyDeletedError as exc:
            print(f"deleted: get now says '{exc}'")
        await kv.delete("NoSuchKey")
        print("deleting a key that does not exist is harmless (it writes a delete marker)")

        _step(
            6,
            "exclusive lock with create, twice",
            "nats kv create my-sem Semaphore1 Value1",
            'sem.create("Semaphore1", b"Value1")',
        )
        sem = await store.create_bucket("my-sem", metadata=MARK)
        revision = await sem.create("Semaphore1", b"Value1")
        print(f"Value1   (revision {revision}: the lock is ours)")
        try:
            await sem.create("Semaphore1", b"Value1")
        except sqlkv.KeyExistsError as exc:
            print(f"sqlkv: error: {exc}")

        _step(
            7,
            "optimistic locking with update, twice",
            f"nats kv update my-sem Semaphore1 Value2 {revision}",
            f'sem.update("Semaphore1", b"Value2", last={revision})',
        )
        new_revision = await sem.update("Semaphore1", b"Value2", last=revision)
        print(f"Value2   (revision {new_revision})")
        try:
            await sem.update("Semaphore1", b"Value2", last=revision)
        except sqlkv.WrongLastRevisionError as exc:
            print(f"sqlkv: error: {exc}")

        _step(
            8,
            "watch, while another process puts Key1 = Value2",
            "nats kv watch my-kv",
            "kv.watch()",
        )
        async with kv.watch() as watcher:
            for entry in await watcher.initial():
                print(_watch_line(entry))
            await anyio.run_process([sys.executable, "-c", OTHER_TERMINAL, store.path])
            with anyio.fail_after(10):
                async for entry in watcher:
                    print(_watch_line(entry))
                    break

        _step(9, "remove the bucket", "nats kv rm my-kv", 'store.delete_bucket("my-kv")')
        await store.delete_bucket("my-kv")
        await store.delete_bucket("my-sem")
        print(f"buckets left: {await store.bucket_names()}")


async def _choose_store(path: str) -> str | None:
    """None when the walkthrough may run on ``path``; else why not, in one line."""
    if not await anyio.Path(path).exists():
        return None
    async with sqlkv.AsyncStore(path) as store:
        theirs = await _not_ours(store)
    if not theirs:
        return None
    names = " and ".join(theirs)
    return f"{path} already has {names}, not made by this demo: it stays untouched"


def main() -> None:
    """Entry point of ``python -m sqlkv.demo``."""
    path = str(sqlkv.default_store_path())
    print(f"sqlkv {sqlkv.__version__}: the NATS KV walkthrough on {path}")
    reason = anyio.run(_choose_store, path)
    if reason is None:
        anyio.run(walkthrough, path)
        return
    # The store and the other process are closed before the folder is removed: nothing holds a file there then,
    # as Windows requires; a handle someone else keeps (a virus scanner) leaves the folder, not a traceback.
    with tempfile.TemporaryDirectory(prefix="sqlkv-demo-", ignore_cleanup_errors=True) as folder:
        scratch = os.path.join(folder, "demo.db")
        print(f"sqlkv demo: {reason}; running on a scratch store instead ({scratch}, removed afterwards)")
        anyio.run(walkthrough, scratch)


def run() -> None:
    """``python -m sqlkv.demo``: the walkthrough; its output piped into a command that stops reading ends it quietly."""
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()  # nothing more can be said; and no "Exception ignored" on exit


if __name__ == "__main__":
    run()
