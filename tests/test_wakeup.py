"""The eventfd inbox that wakes an asyncio loop from database threads: no lost wake-up, order kept."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from sqlkv._bridge import AsyncioPort, current_port
from sqlkv._wakeup import open_inbox

pytestmark = pytest.mark.skipif(not hasattr(os, "eventfd"), reason="the inbox needs Linux's eventfd")


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


def test_trio_runs_release_their_eventfds() -> None:
    import gc

    trio = pytest.importorskip("trio")
    from sqlkv._bridge import TrioPort

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
