"""The README's main job: the walkthrough demo runs start to finish on a given store file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
