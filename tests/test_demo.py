"""The README's main job: the walkthrough demo runs start to finish on a given store file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlkv


def test_demo_walkthrough(tmp_path: Path) -> None:
    env = {**os.environ, "SQLKV_DB": str(tmp_path / "demo.db")}
    result = subprocess.run([sys.executable, "-m", "sqlkv.demo"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Bucket Name: my-kv" in out and "History Kept: 1" in out
    assert "my-kv > Key1 revision: 1 created @ " in out
    assert "sqlkv: error: wrong last sequence: 1: key exists" in out
    assert "sqlkv: error: wrong last sequence: 2" in out
    assert "DELETE my-kv > Key1" in out
    assert out.index("DELETE my-kv > Key1") < out.index("PUT my-kv > Key1: Value2")
    assert "buckets left: []" in out
    # a second run on the same store works too
    again = subprocess.run([sys.executable, "-m", "sqlkv.demo"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_demo_never_touches_a_users_buckets(tmp_path: Path) -> None:
    """The README's CLI walkthrough makes my-kv; the demo afterwards leaves it (and its data) alone."""
    db = tmp_path / "user.db"
    env = {**os.environ, "SQLKV_DB": str(db)}
    with sqlkv.Store(db) as store:
        store.create_bucket("my-kv", history=5).put("important.1", b"data")
        store.create_bucket("my-sem").put("held", b"lock")
        before = {name: store.bucket(name).status() for name in ("my-kv", "my-sem")}
    result = subprocess.run([sys.executable, "-m", "sqlkv.demo"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stdout.splitlines() if line.startswith("sqlkv demo: ")]
    assert len(notice) == 1 and "my-kv and my-sem" in notice[0] and "scratch store" in notice[0], result.stdout
    assert "buckets left: []" in result.stdout  # the walkthrough ran to its end, elsewhere
    with sqlkv.Store(db) as store:
        assert store.bucket_names() == ["my-kv", "my-sem"]
        assert store.bucket("my-kv").get("important.1").value == b"data"
        assert {name: store.bucket(name).status() for name in ("my-kv", "my-sem")} == before


def test_demo_cleans_up_only_what_it_made(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    with sqlkv.Store(db) as store:
        store.create_bucket("orders").put("o.1", b"x")
    env = {**os.environ, "SQLKV_DB": str(db)}
    result = subprocess.run([sys.executable, "-m", "sqlkv.demo"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "scratch" not in result.stdout and "buckets left: ['orders']" in result.stdout
    with sqlkv.Store(db) as store:
        assert store.bucket_names() == ["orders"] and store.bucket("orders").get("o.1").value == b"x"
