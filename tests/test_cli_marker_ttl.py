"""The command line's marker lifetimes: ``kv add/edit --marker-ttl``, ``kv purge --ttl``, ``kv info``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import sqlkv
from tests.test_cli import run


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def test_add_and_edit_set_the_marker_ttl_and_info_shows_it(db: Path) -> None:
    assert run(db, "kv", "add", "b", "--history", "5", "--marker-ttl", "30s").returncode == 0
    shown = run(db, "kv", "info", "b").stdout
    assert "  Per-Key TTL Supported: true\n       Limit Marker TTL: 30.00s\n" in shown
    assert json.loads(run(db, "kv", "info", "b", "--json").stdout)["marker_ttl"] == 30.0
    assert run(db, "kv", "edit", "b", "--marker-ttl", "1m").returncode == 0
    assert "Limit Marker TTL: 1m0s" in run(db, "kv", "info", "b").stdout
    assert run(db, "kv", "add", "plain").returncode == 0
    assert "Limit Marker TTL" not in run(db, "kv", "info", "plain").stdout
    refused = run(db, "kv", "edit", "b", "--marker-ttl", "-5s")
    assert refused.returncode == 2 and refused.stderr.startswith("sqlkv: error: ")


def test_purge_ttl_gives_the_marker_a_lifetime(db: Path) -> None:
    run(db, "kv", "add", "b", "--history", "5")
    run(db, "kv", "put", "b", "k", "v")
    assert run(db, "kv", "purge", "b", "k", "--ttl", "1h", "-f").returncode == 0
    later = time.time_ns() + 2 * 3600 * 10**9
    with sqlkv.Store(db) as now, sqlkv.Store(db, clock=lambda: later, auto_sweep=False) as hours_later:
        assert [e.operation for e in now.bucket("b").history("k")] == [sqlkv.Operation.PURGE]
        with pytest.raises(sqlkv.KeyNotFoundError):
            hours_later.bucket("b").history("k")


def test_export_and_import_carry_the_marker_ttl(db: Path, tmp_path: Path) -> None:
    run(db, "kv", "add", "b", "--marker-ttl", "45s")
    dump = tmp_path / "dump.jsonl"
    assert run(db, "export", "-o", str(dump)).returncode == 0
    other = tmp_path / "other.db"
    assert run(other, "import", str(dump)).returncode == 0
    assert json.loads(run(other, "kv", "info", "b", "--json").stdout)["marker_ttl"] == 45.0
