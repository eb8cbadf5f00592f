"""The eventfd inbox that wakes an asyncio loop from database threads: no lost wake-up, order kept."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from sqlkv._runtime import platform
from sqlkv._runtime.asyncio_port import AsyncioPort
from sqlkv._runtime.inbox import Inbox, open_inbox
from sqlkv._runtime.ports import current_port
from tests.support.platforms import needs_fork

needs_eventfd = pytest.mark.skipif(
    not platform.EVENTFD, reason="the inbox needs Linux's eventfd (not macOS, Windows, SQLKV_PORTABLE)"
)


@needs_eventfd
def test_no_wake_up_is_lost_while_threads_post_into_a_draining_loop() -> None:
    """Posters hammer the inbox while the loop drains it; every callback runs, in each poster's order."""
    posters, per_poster = 3, 20_000

    async def main() -> dict[int, list[int]]:
        loop = asyncio.get_running_loop()
        inbox = open_inbox(lambda exc: None)
        assert inbox is not None
        loop.add_reader(inbox.fd, inbox.drain)
        seen: dict[int, list[int]] = {p: [] for p in range(posters)}
        done = asyncio.Event()
        remaining = [posters * per_poster]

        def record(poster: int, n: int) -> None:
            seen[poster].append(n)
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()

        def post_all(poster: int) -> None:
            for n in range(per_poster):
                inbox.post(record, (poster, n))
                if n % 7 == 0:
                    os.sched_yield()  # let the loop drain in the middle of a burst

        threads = [threading.Thread(target=post_all, args=(p,)) for p in range(posters)]
        for thread in threads:
            thread.start()
        try:
            await asyncio.wait_for(done.wait(), 15)
        finally:
            for thread in threads:
                thread.join(30)
            loop.remove_reader(inbox.fd)
        return seen

    seen = asyncio.run(main())
    for numbers in seen.values():
        assert numbers == list(range(per_poster))


@needs_eventfd
def test_ping_pong_with_a_thread_never_stalls() -> None:
    """One request at a time, answered from a thread: the pattern of sequential store calls."""
    import queue

    rounds = 20_000

    async def main() -> int:
        port = current_port()
        assert isinstance(port, AsyncioPort)
        loop = asyncio.get_running_loop()
        requests: queue.SimpleQueue[asyncio.Future[int] | None] = queue.SimpleQueue()

        def answer() -> None:
            while (future := requests.get()) is not None:
                port.post(future.set_result, 1)

        thread = threading.Thread(target=answer)
        thread.start()
        answered = 0
        try:
            for _ in range(rounds):
                future: asyncio.Future[int] = loop.create_future()
                requests.put(future)
                answered += await asyncio.wait_for(future, 10)
        finally:
            requests.put(None)
            thread.join(10)
        return answered

    assert asyncio.run(main()) == rounds


@needs_eventfd
def test_a_failing_callback_is_reported_and_the_rest_still_run() -> None:
    async def main() -> tuple[list[int], list[object]]:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context.get("exception")))
        port = current_port()
        ran: list[int] = []
        finished = asyncio.Event()

        def boom() -> None:
            raise ValueError("boom")

        def post_from_thread() -> None:
            port.post(ran.append, 1)
            port.post(boom)
            port.post(ran.append, 2)
            port.post(finished.set)

        thread = threading.Thread(target=post_from_thread)
        thread.start()
        await asyncio.wait_for(finished.wait(), 10)
        thread.join()
        return ran, errors

    ran, errors = asyncio.run(main())
    assert ran == [1, 2]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


@needs_eventfd
def test_a_finished_loop_releases_its_port_and_eventfd() -> None:
    import gc
    import weakref

    async def main() -> tuple[weakref.ref[AsyncioPort], int]:
        port = current_port()
        assert isinstance(port, AsyncioPort) and port._inbox is not None
        return weakref.ref(port), port._inbox.fd

    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        ref, _fd = asyncio.run(main())
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before + 2  # the last loop's port may still be cached
    del ref


@needs_eventfd
def test_trio_runs_release_their_eventfds() -> None:
    import gc

    trio = pytest.importorskip("trio")
    from sqlkv._runtime.trio_port import TrioPort

    async def main() -> None:
        port = current_port()
        assert isinstance(port, TrioPort) and port._inbox is not None
        done = trio.Event()
        threading.Thread(target=port.post, args=(done.set,)).start()
        with trio.fail_after(10):
            await done.wait()

    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        trio.run(main)
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before + 2  # the last run's port may still be cached


def _port_of_a_finished_loop() -> tuple[AsyncioPort, Inbox]:
    async def main() -> AsyncioPort:
        port = current_port()
        assert isinstance(port, AsyncioPort)
        return port

    port = asyncio.run(main())
    assert port._inbox is not None
    return port, port._inbox


@needs_eventfd
def test_posts_to_a_finished_asyncio_loop_are_dropped() -> None:
    port, inbox = _port_of_a_finished_loop()
    for n in range(100):
        port.post(print, n)  # the loop is closed: nothing may pile up
    assert inbox.closed and not inbox._pending


@needs_eventfd
def test_posts_to_a_finished_trio_run_are_dropped() -> None:
    trio = pytest.importorskip("trio")
    from sqlkv._runtime.trio_port import TrioPort

    async def main() -> TrioPort:
        port = current_port()
        assert isinstance(port, TrioPort)
        return port

    port = trio.run(main)
    inbox = port._inbox
    assert inbox is not None
    for n in range(100):
        port.post(print, n)
    assert inbox.closed and not inbox._pending


@needs_eventfd
def test_one_trio_port_per_run_when_runs_in_two_threads_take_turns() -> None:
    trio = pytest.importorskip("trio")
    turns = [threading.Semaphore(1), threading.Semaphore(0)]
    seen: list[set[int]] = [set(), set()]

    def run(me: int) -> None:
        async def main() -> None:
            for _ in range(200):
                turns[me].acquire()
                seen[me].add(id(current_port()))
                turns[1 - me].release()

        trio.run(main)

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [len(ids) for ids in seen] == [1, 1]
    assert seen[0] != seen[1]


@needs_eventfd
def test_a_drain_runs_only_what_was_queued_when_it_started() -> None:
    inbox = open_inbox(lambda exc: None)
    assert inbox is not None
    ran: list[int] = []

    def again(n: int) -> None:
        ran.append(n)
        inbox.post(again, (n + 1,))  # a callback that always posts another one

    inbox.post(again, (0,))
    inbox.drain()
    assert ran == [0]  # the drain returned; the next callback waits for the next turn
    assert len(inbox._pending) == 1 and inbox._signalled  # ... and the loop is woken for it
    inbox.drain()
    assert ran == [0, 1]
    inbox.close()


@needs_eventfd
@needs_fork
def test_a_forked_child_closes_its_copy_of_the_parents_eventfds() -> None:
    _port, inbox = _port_of_a_finished_loop()  # the port stays referenced: its inbox stays open
    pid = os.fork()
    if pid == 0:  # the child: the parent's eventfd must be closed here, and posts dropped
        try:
            os.fstat(inbox.fd)
        except OSError:
            os._exit(0 if inbox.closed else 2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    os.fstat(inbox.fd)  # still open in the parent
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_without_an_eventfd_the_ports_fall_back_to_the_loops_own_wake_up(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no eventfd (macOS, Windows) results travel by call_soon_threadsafe / run_sync_soon."""
    import anyio

    import sqlkv
    from sqlkv._runtime import asyncio_port

    monkeypatch.setattr(asyncio_port, "open_inbox", lambda on_error: None)
    if backend == "trio":
        pytest.importorskip("trio")
        from sqlkv._runtime import trio_port

        monkeypatch.setattr(trio_port, "open_inbox", lambda on_error: None)

    async def main() -> None:
        port = current_port()
        assert getattr(port, "_inbox", "missing") is None  # a fresh port, on the fallback path
        async with sqlkv.AsyncStore(tmp_path / "fallback.db") as store:
            kv = await store.create_bucket("b")
            async with kv.watch() as watcher:
                async with anyio.create_task_group() as tasks:
                    for n in range(100):
                        tasks.start_soon(kv.put, f"k{n}", b"v")
                assert len(await kv.keys()) == 100
                seen = set()
                async for entry in watcher:
                    seen.add(entry.key)
                    if len(seen) == 100:
                        break

    anyio.run(main, backend=backend)
