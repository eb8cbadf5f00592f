"""Ctrl-C in the middle of writes: each interrupted write is committed whole or not at all, nothing stays open.

A child process writes in a loop with the sync Store while the parent sends it
SIGINT at random moments.
After every KeyboardInterrupt the child looks at what it was writing and
reports whether it is there; at the end the parent checks the file: every
acknowledged write is there, every interrupted one is there whole or not at
all (as the child found), no transaction was left open (another connection
could take the write lock at once), and a watcher saw exactly the writes that
were committed, each once. CI sends 15 interrupts to each; ``SQLKV_STRESS=1`` 200.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sqlkv

INTERRUPTS = 200 if os.environ.get("SQLKV_STRESS") else 15

CHILD = textwrap.dedent(
    """
    import faulthandler, os, sqlite3, sys, sqlkv

    faulthandler.dump_traceback_later(30, exit=True)  # a hang shows where every thread is

    def say(*words):  # one write(2): a Ctrl-C cannot cut a line in two
        os.write(1, (" ".join(map(str, words)) + chr(10)).encode())

    path = sys.argv[1]

    def free_of_transactions():
        # A transaction the interrupted write left open holds the lock while this report runs (the exception, and
        # with it every frame it passed, is still alive): waiting 2 s for the lock still fails then, while a
        # momentary write of one of the store's helper threads (a checkpoint, a sweep) does not count.
        other = sqlite3.connect(path, timeout=2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    def present(kv, key, value):
        try:
            return kv.get(key).value == value
        except sqlkv.KeyNotFoundError:
            return False

    def report(kv, i):
        value = f"value {i}".encode() * 50
        say("interrupted", i, "present" if present(kv, f"k.{i}", value) else "absent",
            "free" if free_of_transactions() else "LOCKED")

    with sqlkv.Store(path) as store:
        kv = store.create_bucket("b")
        watcher = kv.watch(updates_only=True).start()
        say("ready")
        i = 0
        while True:
            try:
                while True:  # inside the try, down to its jump back: every interrupt lands here
                    i += 1
                    kv.put(f"k.{i}", f"value {i}".encode() * 50)
                    say("ack", i)
            except KeyboardInterrupt:
                report(kv, i)
                if sys.stdin.readline().strip() == "stop":
                    break
        # What an interrupt cut short reaches the watcher with the next look (here: the poller's).
        target, seen = kv.status().last_revision, [e.key for e in watcher.poll()]
        while watcher.last_revision < target:
            entry = watcher.next(10)
            if entry is None:
                break
            seen.append(entry.key)
        say("watched", *seen)
        watcher.close()
    """
)


def interrupt_repeatedly(path: Path, interrupts: int) -> tuple[list[int], dict[int, str], list[str]]:
    """Run the child, interrupt it ``interrupts`` times; (acknowledged, {interrupted: found}, keys watched)."""
    acknowledged: list[int] = []
    interrupted: dict[int, str] = {}
    watched: list[str] = []
    rng = random.Random(interrupts)
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        try:
            assert child.stdout.readline() == "ready\n", child.stderr.read()
            for n in range(interrupts):
                if n:  # back in its loop: one more write acknowledged after "go"
                    words = child.stdout.readline().split()
                    assert words and words[0] == "ack", f"the child ended:\n{child.stderr.read()}"
                    acknowledged.append(int(words[1]))
                time.sleep(rng.uniform(0, 0.004))  # a random moment: inside a put or between two
                child.send_signal(signal.SIGINT)
                while True:  # read up to the child's report of this interrupt
                    words = child.stdout.readline().split()
                    assert words, f"the child ended:\n{child.stderr.read()}"
                    if words[0] == "ack":
                        acknowledged.append(int(words[1]))
                        continue
                    assert words[0] == "interrupted", words
                    interrupted[int(words[1])] = words[2]
                    assert words[3] == "free", f"interrupt {n}: a transaction was left open"
                    break
                child.stdin.write("stop\n" if n == interrupts - 1 else "go\n")
                child.stdin.flush()
            for line in child.stdout:
                words = line.split()
                if words and words[0] == "watched":
                    watched = words[1:]
            assert child.wait(60) == 0, child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()
    return acknowledged, interrupted, watched


@pytest.mark.slow
@pytest.mark.timeout(INTERRUPTS * 2 + 60)
def test_an_interrupted_sync_write_is_committed_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "ctrl-c.db"
    acknowledged, interrupted, watched = interrupt_repeatedly(path, INTERRUPTS)
    assert len(interrupted) == INTERRUPTS
    with sqlkv.Store(path) as store:
        kv = store.bucket("b")
        stored = {int(key.split(".")[1]): kv.get(key).value for key in kv.keys()}
    for i in acknowledged:
        assert stored[i] == f"value {i}".encode() * 50  # every acknowledged write, whole
    for i, found in interrupted.items():
        assert (i in stored) == (found == "present")  # what the child found is what the file holds
        if i in stored:
            assert stored[i] == f"value {i}".encode() * 50
    assert set(stored) == set(acknowledged) | {i for i, found in interrupted.items() if found == "present"}
    assert sorted(watched) == sorted(f"k.{i}" for i in stored) and len(watched) == len(set(watched))
