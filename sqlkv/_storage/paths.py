"""Where the default store lives: ``$SQLKV_DB``, else a file in the platform's user data directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_store_path"]


def default_store_path() -> Path:
    """The default store file; its directory is created (mode 0700) if missing."""
    configured = os.environ.get("SQLKV_DB")
    if configured:
        return Path(configured)
    import platformdirs

    folder = Path(platformdirs.user_data_dir("sqlkv", appauthor=False))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / "sqlkv.db"
