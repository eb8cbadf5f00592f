"""A small in-memory reference model of the KV semantics, for model-based tests.

It knows nothing of SQLite: a list of rows per bucket, one revision counter,
and the rules of docs/semantics.md (history depth with markers, purge,
create over markers, CAS on the latest revision, keys, history).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

Result = tuple[object, ...]


@dataclass
class Model:
    history: int
    revision: int = 0
    rows: dict[str, list[tuple[int, str, bytes]]] = field(default_factory=dict)  # key -> [(rev, op, value)]
    log: list[tuple[int, str, str]] = field(default_factory=list)  # every write: (rev, key, op), trimmed or not

    def _append(self, key: str, op: str, value: bytes) -> int:
        self.revision += 1
        kept = self.rows.setdefault(key, [])
        if op == "PURGE":
            kept.clear()
        kept.append((self.revision, op, value))
        self.log.append((self.revision, key, op))
        del kept[: max(0, len(kept) - self.history)]
        return self.revision

    def _latest(self, key: str) -> tuple[int, str, bytes] | None:
        kept = self.rows.get(key)
        return kept[-1] if kept else None

    def put(self, key: str, value: bytes) -> Result:
        return ("ok", self._append(key, "PUT", value))

    def create(self, key: str, value: bytes) -> Result:
        latest = self._latest(key)
        if latest is not None and latest[1] == "PUT":
            return ("key_exists", latest[0])
        return ("ok", self._append(key, "PUT", value))

    def update(self, key: str, value: bytes, last: int) -> Result:
        latest = self._latest(key)
        actual = latest[0] if latest else 0
        if actual != last:
            return ("wrong_last", actual)
        return ("ok", self._append(key, "PUT", value))

    def delete(self, key: str, last: int | None) -> Result:
        if last is not None:
            latest = self._latest(key)
            actual = latest[0] if latest else 0
            if actual != last:
                return ("wrong_last", actual)
        return ("ok", self._append(key, "DEL", b""))

    def purge(self, key: str) -> Result:
        return ("ok", self._append(key, "PURGE", b""))

    def get(self, key: str, revision: int | None) -> Result:
        latest = self._latest(key)
        if latest is None:
            return ("not_found",)
        row = latest
        if revision is not None and revision != latest[0]:
            found = [r for r in self.rows[key] if r[0] == revision]
            if not found:
                return ("not_found",)
            row = found[0]
        if row[1] != "PUT":
            return ("deleted", row[0])
        return ("ok", row[0], row[2])

    def keys(self) -> Result:
        return ("ok", sorted(k for k, kept in self.rows.items() if kept and kept[-1][1] == "PUT"))

    def history_of(self, key: str) -> Result:
        kept = self.rows.get(key)
        if not kept:
            return ("not_found",)
        return ("ok", [(r[0], r[1], r[2]) for r in kept])

    def incr(self, key: str, by: int) -> Result:
        latest = self._latest(key)
        current = 0
        if latest is not None and latest[1] == "PUT":
            if not re.fullmatch(rb"-?[0-9]{1,19}", latest[2]):
                return ("not_counter",)
            current = int(latest[2])
        return ("ok", self._append(key, "PUT", b"%d" % (current + by)))

    def touch(self, key: str) -> Result:
        latest = self._latest(key)
        if latest is None:
            return ("not_found",)
        if latest[1] != "PUT":
            return ("deleted", latest[0])
        return ("ok", latest[0])

    def atomic(self, checks: list[tuple[str, int]], mutations: list[tuple[object, ...]]) -> Result:
        """Checks on the state before any mutation, then the mutations in order; all or nothing."""
        failed = []
        for key, last in checks:
            latest = self._latest(key)
            actual = latest[0] if latest else 0
            if actual != last:
                failed.append((key, last, actual))
        if failed:
            return ("check_failed", failed)
        trial = copy.deepcopy(self)
        revisions = []
        for index, (kind, *args) in enumerate(mutations):
            outcome = getattr(trial, str(kind))(*args)
            if outcome[0] != "ok":
                return ("refused", index, outcome[0])
            revisions.append(outcome[1])
        self.revision, self.rows, self.log = trial.revision, trial.rows, trial.log
        return ("ok", revisions)
