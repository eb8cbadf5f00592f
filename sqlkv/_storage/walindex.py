"""The WAL-index header of a database file, read where SQLite keeps it mapped: a stamp that moves with every commit.

In WAL mode every connection to a file shares the *wal-index* (the ``-shm``
file), which SQLite maps into each process using the file. Its first 96 bytes
are two copies of the WAL-index header (SQLite's "WAL-mode file format", the
wal-index header): the change counter ``iChange``, the last valid frame
``mxFrame``, the salts and the checksum of the last frame. Every commit, by any
process, rewrites both copies (the second, a memory barrier, then the first);
a reader that finds them equal has read a consistent header. So while the 96
bytes read the same, no transaction was committed in between, by anyone.

The header is read from SQLite's own mapping of region 0 of the file, found
once in ``/proc/self/maps`` by the ``-shm`` file's device and inode. sqlkv
never maps or opens that file itself: closing a file descriptor of our own to
it would drop every POSIX lock this process holds on the file, SQLite's
included ("How To Corrupt An SQLite Database File", section 2.2). The mapping
lives as long as some connection of this process has the file open in WAL
mode; the caller keeps one open for as long as it reads the header
(``_engine/readcache.py``). Linux only.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["HEADER_BYTES", "WalIndexHeader", "find_header"]

HEADER_BYTES = 96
"""The two copies of the 48-byte WAL-index header, at the start of the wal-index."""

_WALINDEX_VERSION = 3007000
"""``iVersion``, the header's first field, in every SQLite since 3.7.0."""


class WalIndexHeader:
    """The 96 header bytes of one file's wal-index, as mapped by SQLite in this process."""

    __slots__ = ("_bytes",)

    def __init__(self, address: int) -> None:
        self._bytes = (ctypes.c_char * HEADER_BYTES).from_address(address)

    def read(self) -> bytes:
        """The header's bytes now (both copies): equal to an earlier reading only if nothing was committed since."""
        return self._bytes.raw


def consistent(stamp: bytes) -> bool:
    """Whether the two copies in ``stamp`` agree (a commit was not half-way through rewriting them)."""
    return stamp[:48] == stamp[48:]


def find_header(db_path: str) -> WalIndexHeader | None:
    """The header of ``db_path``'s wal-index as SQLite maps it in this process; None if it is not mapped here.

    Call it while a connection of this process has read the file in WAL mode
    (so that SQLite has mapped the wal-index), and read the result only while
    such a connection stays open.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        shm = os.stat(db_path + "-shm")
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.readlines()
    except OSError:
        return None
    device = f"{os.major(shm.st_dev):02x}:{os.minor(shm.st_dev):02x}"
    inode = str(shm.st_ino)
    found: list[WalIndexHeader] = []
    for line in lines:
        # address perms offset dev inode path: a shared mapping of the -shm file from its start
        fields = line.split(None, 5)
        if len(fields) < 5 or fields[4] != inode or fields[3] != device:
            continue
        if fields[1][3:4] != "s" or int(fields[2], 16) != 0:
            continue
        low, high = (int(part, 16) for part in fields[0].split("-"))
        if high - low < HEADER_BYTES:
            continue
        header = WalIndexHeader(low)
        stamp = header.read()
        version = int.from_bytes(stamp[:4], sys.byteorder)
        if version == _WALINDEX_VERSION and stamp[12] == 1:  # iVersion, isInit: a wal-index in use
            found.append(header)
    # One SQLite library maps a file's wal-index once per process. Two mappings mean a second library (its own
    # SQLite, as apsw may bundle): its mapping may go while ours stays, and we cannot tell which is which.
    return found[0] if len(found) == 1 else None
