"""Skip marks for what a simulated platform (``SQLKV_PORTABLE``, ``sqlkv._runtime.platform``) does not have."""

from __future__ import annotations

import os

import pytest

from sqlkv._runtime import platform

__all__ = ["needs_fork"]

needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or not platform.AT_FORK, reason="no fork() (Windows, or SQLKV_PORTABLE=1 simulating it)"
)
"""For a test of sqlkv's fork safety: Windows has no fork, and there sqlkv registers no at-fork hook."""
