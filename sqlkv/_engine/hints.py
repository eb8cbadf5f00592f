"""Wake-up hints between processes: a committing process wakes the watchers of other processes at once.

A process that watches a store file listens on a Unix datagram socket in the
Linux abstract namespace (nothing on disk, gone with the process, never off
the machine) and announces it with an empty marker file named by its token
in a directory beside the store (``<store>-wake/``, mode 0700). After every
COMMIT, a process writing the file sends one byte to each listener it knows
of (except its own store's: that one is fed by the commit itself).

A hint only says "look": the table and ``PRAGMA data_version`` stay the only
source of truth. A lost hint (a full queue, a writer that died between its
COMMIT and the hint, a writer that is not sqlkv) delays the look until the
listener's next safety poll; a spurious one costs a look. A marker whose
listener is gone (the process was killed) is removed by the first sender
that finds no one there. Where the mechanism is missing (not Linux, a
directory that cannot be written) watchers poll as before.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
import weakref

from .._runtime.forkgate import in_child

__all__ = ["AVAILABLE", "REFRESH", "HintListener", "HintSender", "hint_directory"]

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    import socket

AVAILABLE = sys.platform.startswith("linux")  # (``socket`` loads only where one is made: `sqlkv kv get` needs none)
"""Whether hints can work here (abstract Unix sockets are Linux's); tests set it False to force polling."""

_PREFIX = b"\0sqlkv-wake-"
REFRESH = 0.005
"""Seconds a sender trusts its list of listeners before looking at the directory again (a stat): a listener
announced meanwhile may miss the hints of that sender's commits for this long (it looks again after it)."""


def hint_directory(path: str) -> str:
    """The directory of the markers of a store file's listeners."""
    return f"{path}-wake"


def _address(token: str) -> bytes:
    return _PREFIX + token.encode()


class HintListener:
    """One process's hint endpoint for one store file; ``wait()`` returns when a hint came or the time is up."""

    def __init__(self, path: str) -> None:
        self.token = f"{os.getpid()}-{os.urandom(8).hex()}"  # (what secrets.token_hex does, without its imports)
        self._directory = hint_directory(path)
        self._marker = os.path.join(self._directory, self.token)
        self._closed = False
        import socket

        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._socket.bind(_address(self.token))
            self._socket.setblocking(False)
            self._announce()
        except BaseException:
            self._socket.close()
            raise
        _LISTENERS.add(self)

    def _announce(self) -> None:
        for _ in range(3):  # the directory may be removed by the last listener leaving, between the two calls
            with contextlib.suppress(FileExistsError):
                os.mkdir(self._directory, 0o700)
            try:
                os.close(os.open(self._marker, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
                return
            except FileNotFoundError:
                continue
        raise OSError(f"cannot announce a hint listener in {self._directory}")

    def wait(self, timeout: float) -> bool:
        """Block until a hint arrives (True; every pending one is taken) or ``timeout`` seconds passed (False)."""
        try:
            ready, _, _ = select.select([self._socket], [], [], timeout)
        except (OSError, ValueError):  # closed meanwhile
            return False
        if not ready:
            return False
        with contextlib.suppress(OSError):
            while self._socket.recv(64):
                pass
        return True

    def wake(self) -> None:
        """Wake ``wait()`` from this process (closing)."""
        import socket

        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"!", _address(self.token))

    def close(self) -> None:
        """Withdraw the marker and the endpoint (idempotent); the directory goes with its last marker."""
        if self._closed:
            return
        self._closed = True
        _LISTENERS.discard(self)
        with contextlib.suppress(OSError):
            os.unlink(self._marker)
        with contextlib.suppress(OSError):  # not empty (other listeners), or gone: fine
            os.rmdir(self._directory)
        self._socket.close()

    def forget_after_fork(self) -> None:
        """In a forked child: the endpoint is the parent's; let go of the descriptor only."""
        self._closed = True
        self._socket.close()


_LISTENERS: weakref.WeakSet[HintListener] = weakref.WeakSet()


@in_child
def _forget_listeners_after_fork() -> None:
    for listener in list(_LISTENERS):
        listener.forget_after_fork()


class HintSender:
    """Sends a hint to every listener of a store file after each commit (a few microseconds per listener)."""

    def __init__(self, path: str) -> None:
        self._directory = hint_directory(path)
        self._socket: socket.socket | None = None
        self._targets: list[tuple[str, bytes]] = []
        self._version = 0  # the directory's mtime when the list was read (0: no directory)
        self._checked = -1.0
        self._lock = threading.Lock()
        self._closed = False
        self.own: set[str] = set()
        """Tokens of this store's own listeners: their store feeds them at commit, no hint needed."""

    def send(self) -> None:
        """After a COMMIT: wake every other listener (errors never reach the writer)."""
        now = time.monotonic()
        if now - self._checked >= REFRESH:
            self._checked = now
            self._refresh()
        if not self._targets:
            return
        with self._lock:
            sock = self._socket
            if sock is None:
                if self._closed:
                    return
                import socket

                sock = self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                weakref.finalize(self, sock.close)  # a store dropped without close: no ResourceWarning for this
            for token, address in self._targets:
                try:
                    sock.sendto(b"!", address)
                except BlockingIOError:
                    pass  # its queue is full: it has a look pending already
                except (ConnectionRefusedError, FileNotFoundError):
                    self._remove_stale(token)
                except OSError:
                    pass

    def _refresh(self) -> None:
        try:
            version = os.stat(self._directory).st_mtime_ns
        except OSError:
            self._targets, self._version = [], 0
            return
        # An mtime may not move for a second change within one clock tick: trust it only once it is old.
        if version == self._version and time.time_ns() - version > 1_000_000_000:
            return
        try:
            names = os.listdir(self._directory)
        except OSError:
            names = []
        own = self.own
        self._targets = [(name, _address(name)) for name in names if name not in own]
        self._version = version

    def _remove_stale(self, token: str) -> None:
        """A listener whose process is gone (killed): remove its marker."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._directory, token))
        self._targets = [(name, address) for name, address in self._targets if name != token]

    def close(self) -> None:
        """Close the sending socket (idempotent)."""
        with self._lock:
            self._closed = True
            sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()
