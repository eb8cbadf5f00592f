"""``python -m sqlkv.cli``."""

from sqlkv.cli import run

run()
