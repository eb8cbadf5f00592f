"""Validation of everything a caller hands in, done before any SQL is built.

Keys follow NATS subject rules (``^[-/_=.a-zA-Z0-9]+$``, no leading or
trailing dot, no empty token), with the holes of nats-py 2.16.0 closed: ``a..b`` is
refused, ``\\Z`` anchors the match (no trailing newline), and keys are at most
:data:`MAX_KEY_LENGTH` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .errors import InvalidArgumentError, InvalidBucketNameError, InvalidKeyError, NotACounterError

__all__ = [
    "COUNTER_DIGITS",
    "COUNTER_MAX",
    "COUNTER_MIN",
    "MAX_BUCKET_NAME_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_SIZE",
    "KeyMatcher",
    "add_to_counter",
    "compile_filters",
    "check_bucket_name",
    "check_key",
    "check_revision",
    "coerce_value",
    "parse_counter",
]

MAX_KEY_LENGTH = 1024
"""Longest key accepted. Any such key also fits a NATS subject on any bucket name."""

MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Largest value a store file accepts, whatever a bucket's ``max_value_size`` (a NATS server sets its own)."""

MAX_BUCKET_NAME_LENGTH = 252
"""Longest bucket name: NATS's stream name ``KV_<bucket>`` is limited to 255."""

_BUCKET_RE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_RE = re.compile(r"[-/_=a-zA-Z0-9]+(?:\.[-/_=a-zA-Z0-9]+)*")  # dot-separated, non-empty tokens
_FILTER_TOKEN_RE = re.compile(r"[-/_=a-zA-Z0-9]+|\*")

KeyMatcher = Callable[[str], bool]


def check_bucket_name(name: object) -> str:
    """Return ``name`` if it is a valid bucket name, else raise InvalidBucketNameError."""
    if not isinstance(name, str):
        raise InvalidBucketNameError(f"bucket name must be a str, not {type(name).__name__}")
    if len(name) > MAX_BUCKET_NAME_LENGTH:
        raise InvalidBucketNameError(f"invalid bucket name: longer than {MAX_BUCKET_NAME_LENGTH} characters")
    if not _BUCKET_RE.fullmatch(name):
        raise InvalidBucketNameError(f"invalid bucket name: {name!r}")
    return name


_RECENT_KEYS: dict[str, None] = {}
"""Keys that passed validation lately (a hit costs ~50 ns, the regex ~500 ns); cleared when it grows large."""
_RECENT_KEYS_MAX = 16384


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid key, else raise InvalidKeyError."""
    if type(key) is str and key in _RECENT_KEYS:
        return key
    if not isinstance(key, str):
        raise InvalidKeyError(f"key must be a str, not {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"invalid key: longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.fullmatch(key):
        raise InvalidKeyError(f"invalid key: {key!r}")
    if type(key) is str:  # not a subclass, whose equality could differ
        if len(_RECENT_KEYS) >= _RECENT_KEYS_MAX:
            _RECENT_KEYS.clear()
        _RECENT_KEYS[key] = None
    return key


def _check_filter(pattern: object) -> list[str]:
    if not isinstance(pattern, str):
        raise InvalidKeyError(f"key filter must be a str, not {type(pattern).__name__}")
    if not pattern or len(pattern) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"invalid key filter: {pattern!r}")
    tokens = pattern.split(".")
    for index, token in enumerate(tokens):
        if token == ">" and index == len(tokens) - 1:
            continue
        if not _FILTER_TOKEN_RE.fullmatch(token):
            raise InvalidKeyError(f"invalid key filter: {pattern!r}")
    return tokens


def _token_matcher(tokens: list[str]) -> KeyMatcher:
    if ">" not in tokens and "*" not in tokens:
        literal = ".".join(tokens)
        return literal.__eq__
    tail = tokens[-1] == ">"
    head = tokens[:-1] if tail else tokens
    width = len(head)

    def match(key: str) -> bool:
        parts = key.split(".")
        if (len(parts) <= width) if tail else (len(parts) != width):
            return False
        return all(want == "*" or want == got for want, got in zip(head, parts, strict=False))

    return match


def compile_filters(patterns: Sequence[object]) -> tuple[KeyMatcher | None, str]:
    """Validate key filters and build a matcher plus the longest common literal prefix.

    ``*`` matches one token and ``>`` (last token only) one or more trailing
    tokens. No filter, or a lone ``>``, means every key: the matcher is then
    ``None``. The prefix lets SQL narrow a scan before the matcher runs.
    """
    token_lists = [_check_filter(p) for p in patterns]
    if not token_lists or any(t == [">"] for t in token_lists):
        return None, ""
    matchers = [_token_matcher(t) for t in token_lists]
    prefix = _common_prefix([_literal_prefix(t) for t in token_lists])
    if len(matchers) == 1:
        return matchers[0], prefix
    return (lambda key: any(m(key) for m in matchers)), prefix


def _literal_prefix(tokens: list[str]) -> str:
    literal: list[str] = []
    for token in tokens:
        if token in ("*", ">"):
            return ".".join(literal) + "." if literal else ""
        literal.append(token)
    return ".".join(literal)


def _common_prefix(prefixes: list[str]) -> str:
    first, last = min(prefixes), max(prefixes)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def check_revision(revision: object, *, name: str = "revision", minimum: int = 1) -> int:
    """Return ``revision`` if it is an int (not bool) of at least ``minimum``."""
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise InvalidArgumentError(f"{name} must be an int, not {type(revision).__name__}")
    if revision < minimum or revision > 2**63 - 1:
        raise InvalidArgumentError(f"{name} must be between {minimum} and 2**63-1, got {revision}")
    return revision


def coerce_value(value: object) -> bytes:
    """Bytes for a value: bytes-like objects as they are, ``str`` as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"value is not encodable as UTF-8: {exc}") from None
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgumentError(f"value must be bytes or str, not {type(value).__name__}")


COUNTER_MIN, COUNTER_MAX = -(2**63), 2**63 - 1
"""The range of a counter (``incr``): a signed 64-bit integer, as every NATS client and language can read it."""

COUNTER_DIGITS = 20
"""The longest counter value in bytes (``-9223372036854775808``)."""


def parse_counter(key: str, value: bytes) -> int:
    """The integer a counter's stored value holds: ASCII decimal, an optional ``-``, nothing else."""
    digits = value[1:] if value[:1] == b"-" else value
    if not digits or not digits.isdigit() or len(value) > COUNTER_DIGITS:
        shown = value[:24] + (b"..." if len(value) > 24 else b"")
        raise NotACounterError(key, f"value of {key} is not a decimal integer: {shown!r}")
    return int(value)


def add_to_counter(key: str, current: int, by: int) -> int:
    """``current + by``; NotACounterError if that leaves the signed 64-bit range."""
    total = current + by
    if not COUNTER_MIN <= total <= COUNTER_MAX:
        raise NotACounterError(key, f"{key}: {current} + {by} leaves the signed 64-bit range of a counter")
    return total
