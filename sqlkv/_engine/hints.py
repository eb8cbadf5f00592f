"""Wake-up hints between processes: a committing process wakes the watchers of other processes at once.

A process that watches a store file listens on a datagram socket and
announces it in a directory beside the store (``<store>-wake/``, mode 0700),
by a name made of its token. After every COMMIT, a process writing the file
sends one byte to each listener it knows of (except its own store's: that
one is fed by the commit itself). The socket is, by ``_runtime/platform.py``:

- ``abstract`` (Linux): a Unix datagram socket in the abstract namespace
  (nothing on disk, gone with the process), announced by an empty marker file;
- ``path`` (macOS, the BSDs): a Unix datagram socket bound to the path
  ``<store>-wake/<token>``, itself the marker (the path must fit ``sun_path``);
- ``udp`` (Windows): a UDP socket on 127.0.0.1, announced by an empty marker
  named ``<token>.<port>``; a sender talks to each through a connected socket,
  which reports a listener that is gone at the send after the next.

A hint only says "look": the table and ``PRAGMA data_version`` stay the only
source of truth. A lost hint (a full queue, a writer that died between its
COMMIT and the hint, a writer that is not sqlkv) delays the look until the
listener's next safety poll; a spurious one (any local process can send to
a loopback port) costs a look. A marker whose listener is gone (the process
was killed) is removed by the first sender that finds no one there. Where
no socket can be made (a directory that cannot be written, a path too long
for ``sun_path``) watchers poll as before. No marker is ever open: removing
one never meets a handle another process holds (Windows refuses that).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import threading
import time
import weakref

from .._runtime import platform
from .._runtime.forkgate import in_child

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    import socket  # loaded only where a socket is made: `sqlkv kv get` needs none
    from typing import Any

__all__ = ["AVAILABLE", "REFRESH", "WAKE", "HintListener", "HintSender", "hint_directory"]

AVAILABLE = True
"""Whether hints are used (every platform has one of the sockets); tests set it False to force polling."""

WAKE: platform.Wake = platform.WAKE
"""The kind of socket hints travel by (see the module docstring); tests set it to run another kind here."""

_PREFIX = b"\0sqlkv-wake-"
_LOOPBACK = "127.0.0.1"
REFRESH = 0.005
"""Seconds a sender trusts its list of listeners before looking at the directory again (a stat): a listener
announced meanwhile may miss the hints of that sender's commits for this long (it looks again after it)."""


def hint_directory(path: str) -> str:
    """The directory of the markers of a store file's listeners."""
    return f"{path}-wake"


_NAME = re.compile(r"[0-9]+-[0-9a-f]{8,32}")  # (16 hex digits: listeners of earlier versions)
_UDP_NAME = re.compile(r"[0-9]+-[0-9a-f]{8,32}\.([0-9]{1,5})")


def _address(wake: platform.Wake, directory: str, name: str) -> Any:
    """The socket address of the listener announced as ``name``; None for a name of another kind (or no marker)."""
    if wake == "udp":
        match = _UDP_NAME.fullmatch(name)
        port = int(match.group(1)) if match else 0
        return (_LOOPBACK, port) if 0 < port < 65536 else None
    if not _NAME.fullmatch(name):
        return None
    return _PREFIX + name.encode() if wake == "abstract" else os.path.join(directory, name)


def _new_socket(wake: platform.Wake) -> socket.socket:
    """A datagram socket of the kind ``wake`` travels by (``socket`` is imported here, on first use)."""
    import socket

    return socket.socket(socket.AF_INET if wake == "udp" else socket.AF_UNIX, socket.SOCK_DGRAM)


class HintListener:
    """One process's hint endpoint for one store file; ``wait()`` returns when a hint came or the time is up."""

    def __init__(self, path: str) -> None:
        self.wake_kind: platform.Wake = WAKE
        self._directory = hint_directory(path)
        self._closed = False
        self._made_socket_file = False
        token = f"{os.getpid()}-{os.urandom(4).hex()}"  # (what secrets.token_hex does, without its imports)
        self._socket = _new_socket(self.wake_kind)
        try:
            self.token = self._bind(token)
            self._marker = os.path.join(self._directory, self.token)
            self._address = _address(self.wake_kind, self._directory, self.token)
            self._socket.setblocking(False)
            if self.wake_kind != "path":  # (a path-bound socket is its own marker, made by bind)
                self._announce(self._marker_file)
        except BaseException:
            self._socket.close()
            if self._made_socket_file:
                with contextlib.suppress(OSError):
                    os.unlink(self._marker)
            raise
        _LISTENERS.add(self)

    def _bind(self, token: str) -> str:
        """Bind the socket; return the name it is announced by."""
        if self.wake_kind == "abstract":
            self._socket.bind(_address("abstract", self._directory, token))
            return token
        if self.wake_kind == "udp":
            self._socket.bind((_LOOPBACK, 0))
            return f"{token}.{self._socket.getsockname()[1]}"
        address = _address("path", self._directory, token)
        if len(os.fsencode(address)) >= platform.SUN_PATH_MAX:
            raise OSError(f"{address} is too long for a Unix socket ({platform.SUN_PATH_MAX} bytes at most)")
        self._announce(lambda: self._bind_path(address))
        return token

    def _bind_path(self, address: str) -> None:
        self._socket.bind(address)
        self._made_socket_file = True

    def _marker_file(self) -> None:
        os.close(os.open(self._marker, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))

    def _announce(self, make: Any) -> None:
        """Make the marker with ``make()`` in the directory, creating that (mode 0700) if needed."""
        for _ in range(3):  # the directory may be removed by the last listener leaving, between the two calls
            with contextlib.suppress(FileExistsError):
                os.mkdir(self._directory, 0o700)
            try:
                make()
                return
            except (FileNotFoundError, PermissionError):  # (Windows: a directory being removed refuses new files)
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
        self.take()
        return True

    def fileno(self) -> int:
        """The socket's descriptor (readable when a hint is pending), for an event loop to watch."""
        return self._socket.fileno()

    def take(self) -> bool:
        """Take every pending hint without waiting; whether there was one."""
        taken = False
        with contextlib.suppress(OSError):
            while self._socket.recv(64):
                taken = True
        return taken

    def wake(self) -> None:
        """Wake ``wait()`` from this process (closing)."""
        with contextlib.suppress(OSError), _new_socket(self.wake_kind) as sock:
            sock.sendto(b"!", self._address)

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


_GONE = (ConnectionRefusedError, ConnectionResetError, FileNotFoundError)
"""What sending to a listener that is gone raises (a killed process's marker)."""


class HintSender:
    """Sends a hint to every listener of a store file after each commit (a few microseconds per listener)."""

    def __init__(self, path: str) -> None:
        self._directory = hint_directory(path)
        self._wake: platform.Wake = WAKE
        self._socket: socket.socket | None = None
        self._connected: dict[str, socket.socket] = {}
        """Every sending socket, closed together: udp's connected one per listener token; else one, at ``""``."""
        self._targets: list[tuple[str, Any]] = []
        self._version = 0  # the directory's mtime when the list was read (0: no directory)
        self._checked = -1.0
        self._lock = threading.Lock()
        self._closed = False
        self.own: set[str] = set()
        """Tokens of this store's own listeners: their store feeds them at commit, no hint needed."""
        weakref.finalize(self, _close_all, self._connected)  # a store dropped without close: no ResourceWarning

    def send(self) -> None:
        """After a COMMIT: wake every other listener (errors never reach the writer).

        The listeners already known are woken first; when the list is due for
        a refresh (every REFRESH seconds), it is refreshed after, and the
        listeners it adds are woken then: a writer idle for a while does not
        make the known ones wait for its ``stat``.
        """
        known = self._targets
        if known:
            self._wake_all(known)
        now = time.monotonic()
        if now - self._checked >= REFRESH:
            self._checked = now
            self._refresh()
            if self._targets is not known:
                sent = {token for token, _ in known}
                added = [(token, address) for token, address in self._targets if token not in sent]
                if added:
                    self._wake_all(added)

    def _wake_all(self, targets: list[tuple[str, Any]]) -> None:
        with self._lock:
            if self._closed:
                return
            for token, address in targets:
                try:
                    if self._wake == "udp":
                        self._socket_for(token, address).send(b"!")
                    else:
                        self._unix().sendto(b"!", address)
                except BlockingIOError:
                    pass  # its queue is full: it has a look pending already
                except _GONE:
                    self._remove_stale(token)
                except OSError:
                    pass

    def _unix(self) -> socket.socket:
        sock = self._socket
        if sock is None:
            sock = self._socket = _new_socket("path")
            sock.setblocking(False)
            self._connected[""] = sock  # closed with the others
        return sock

    def _socket_for(self, token: str, address: Any) -> socket.socket:
        """udp: the socket connected to one listener (its errors tell when the listener is gone)."""
        sock = self._connected.get(token)
        if sock is None:
            sock = _new_socket("udp")
            sock.setblocking(False)
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            self._connected[token] = sock
        return sock

    def _refresh(self) -> None:
        try:
            version = os.stat(self._directory).st_mtime_ns
        except OSError:
            self._set_targets([], 0)
            return
        # An mtime may not move for a second change within one clock tick: trust it only once it is old.
        if version == self._version and time.time_ns() - version > 1_000_000_000:
            return
        try:
            names = os.listdir(self._directory)
        except OSError:
            names = []
        own = self.own
        targets = []
        for name in names:
            address = _address(self._wake, self._directory, name) if name not in own else None
            if address is not None:
                targets.append((name, address))
        self._set_targets(targets, version)

    def _set_targets(self, targets: list[tuple[str, Any]], version: int) -> None:
        with self._lock:
            self._targets, self._version = targets, version
            if self._wake == "udp":
                names = {name for name, _ in targets}
                for name in [name for name in self._connected if name not in names]:
                    self._connected.pop(name).close()

    def _remove_stale(self, token: str) -> None:
        """A listener whose process is gone (killed): remove its marker (with the lock held)."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._directory, token))
        self._targets = [(name, address) for name, address in self._targets if name != token]
        sock = self._connected.pop(token, None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """Close the sending sockets (idempotent)."""
        with self._lock:
            self._closed = True
            self._socket = None
            _close_all(self._connected)


def _close_all(sockets: dict[str, socket.socket]) -> None:
    for sock in sockets.values():
        sock.close()
    sockets.clear()
