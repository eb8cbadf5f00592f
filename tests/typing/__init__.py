"""Example programs that ``mypy --strict`` checks (``tests/test_typing.py``): they are not run."""
