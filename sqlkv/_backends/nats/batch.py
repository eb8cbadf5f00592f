"""A transaction on a NATS store: one bucket's writes as the server's atomic batch publish (ADR-50, nats-server 2.12+).

Each mutation is one message on ``$KV.<bucket>.<key>`` carrying
``Nats-Batch-Id`` and ``Nats-Batch-Sequence``; the last also carries
``Nats-Batch-Commit: 1`` and is answered with one acknowledgement holding the
last sequence and the count. Compare-and-set rides on each message's
``Nats-Expected-Last-Subject-Sequence``, checked by the server at commit: the
batch is stored whole or not at all. The bucket's stream must allow atomic
publish (sqlkv sets it on the buckets it creates). What the server cannot do
atomically (checks without a write, ``incr``, several buckets) is refused
before anything is sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..._api.transaction import MAX_TRANSACTION, Step
from ..._model.errors import (
    BucketFullError,
    BucketNotFoundError,
    InvalidArgumentError,
    KeyExistsError,
    SqlkvError,
    StorageError,
    StoreBusyError,
    UnsupportedError,
    ValueTooLargeError,
    WrongLastRevisionError,
    name_mutation,
)
from .bucket import NatsBucket, nats_ttl
from .errors import WRONG_LAST_SEQUENCE, revision_of, server_errors

__all__ = ["BATCH_ATTEMPTS", "BATCH_TIMEOUT", "publish_batch", "refuse_unsupported"]

BATCH_ATTEMPTS = 100
"""How many times a batch is sent while only its creates' markers keep moving (see ``publish_batch``)."""
BATCH_TIMEOUT = 5.0
"""Seconds to wait for the server's answer to a batch's first and last message."""

_EXPECTED = "Nats-Expected-Last-Subject-Sequence"
_DISABLED = 10174  # "atomic publish is disabled"


def refuse_unsupported(checks: list[Step], mutations: list[Step]) -> str:
    """The one bucket of the transaction; UnsupportedError for what a NATS atomic batch cannot do."""
    if checks:
        raise UnsupportedError(
            "tx.check() is not supported on a nats:// store: an atomic batch can only compare the revision of a key "
            "it writes; use tx.update(..., last=) or tx.delete(..., last=) instead"
        )
    for index, step in enumerate(mutations):
        if step.kind == "incr":
            raise name_mutation(
                UnsupportedError("tx.incr() is not supported on a nats:// store (no server-side increment)"),
                index,
                step.describe(),
            )
        if step.ttl is not None and step.kind not in ("create", "purge"):
            raise name_mutation(
                UnsupportedError(f"per-key TTL on {step.kind} is not supported on a nats:// store; use create"),
                index,
                step.describe(),
            )
        if step.ttl is not None:
            try:
                nats_ttl(step.ttl, "a per-key TTL")  # under a second: refused before anything is sent
            except UnsupportedError as exc:
                raise name_mutation(exc, index, step.describe()) from None
    written: set[str] = set()
    for index, step in enumerate(mutations):
        compares = step.kind in ("create", "update", "purge") or step.last is not None
        if compares and step.key in written:
            raise name_mutation(
                UnsupportedError(
                    f"a nats:// store cannot {step.kind} a key written earlier in the same transaction: the server "
                    "compares revisions (and applies a purge) against the state before the batch"
                ),
                index,
                step.describe(),
            )
        written.add(step.key)
    buckets = {step.bucket_name for step in mutations}
    if len(buckets) > 1:
        raise UnsupportedError(
            f"a nats:// store's transaction writes one bucket (the server's atomic batch is per stream), "
            f"not {len(buckets)}: {', '.join(sorted(buckets))}"
        )
    return buckets.pop()


def _headers(step: Step, expected: int | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if step.kind in ("delete", "purge"):
        headers["KV-Operation"] = "DEL" if step.kind == "delete" else "PURGE"
        if step.kind == "purge":
            headers["Nats-Rollup"] = "sub"
    if step.ttl is not None:
        headers["Nats-TTL"] = nats_ttl(step.ttl, "a per-key TTL")  # as create() outside a transaction sends it
    if expected is not None:
        headers[_EXPECTED] = str(expected)
    return headers


async def _expected_for_create(bucket: NatsBucket, step: Step, index: int) -> int:
    """A create's expected revision: the key's newest marker, 0 (no message); KeyExistsError when a value is live."""
    revision, live = await bucket.latest(step.key)
    if live:
        raise name_mutation(KeyExistsError(step.key, revision), index, step.describe())
    return revision


async def publish_batch(nc: Any, bucket: NatsBucket, mutations: list[Step]) -> list[int]:
    """Publish ``mutations`` (all on ``bucket``) as one atomic batch; return their revisions.

    A create compares against the key's newest marker: when the batch is
    refused only because a delete or purge moved that marker meanwhile, it is
    sent again with the new one (at most ``BATCH_ATTEMPTS`` times), so a create
    is refused only for a live value, as ``create()`` outside a transaction.
    """
    if len(mutations) > MAX_TRANSACTION:  # (the recorder refuses more already)
        raise InvalidArgumentError(f"at most {MAX_TRANSACTION} mutations")
    prefix = f"$KV.{bucket.name}."
    expectations = [await _expected_for_create(bucket, step, index) if step.kind == "create" else step.last
                    for index, step in enumerate(mutations)]  # fmt: skip
    for _ in range(BATCH_ATTEMPTS):
        with server_errors(f"transaction on bucket {bucket.name}"):
            answer = await _send(nc, prefix, uuid.uuid4().hex, mutations, expectations)
        error = answer.get("error")
        if error is None and "seq" in answer:
            last, count = int(answer["seq"]), int(answer.get("count", len(mutations)))
            return list(range(last - count + 1, last + 1))
        refusal = await _refusal(bucket, mutations, expectations, error or {"description": repr(answer)})
        if not isinstance(refusal, list):
            raise refusal
        expectations = refusal
    raise StoreBusyError(
        f"transaction on bucket {bucket.name}: a new delete or purge marker of a created key landed before each of "
        f"{BATCH_ATTEMPTS} attempts"
    )


async def _send(
    nc: Any, prefix: str, batch: str, mutations: list[Step], expectations: list[int | None]
) -> dict[str, Any]:
    """Send the batch's messages; the server's answer (the commit's acknowledgement, or an early error)."""
    answer: dict[str, Any] = {}
    for number, (step, expected) in enumerate(zip(mutations, expectations, strict=True), 1):
        headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(number), **_headers(step, expected)}
        subject = prefix + step.key
        if number == len(mutations):
            headers["Nats-Batch-Commit"] = "1"
            reply = await nc.request(subject, step.value, timeout=BATCH_TIMEOUT, headers=headers)
            answer = json.loads(reply.data or b"{}")
        elif number == 1:  # a request: an early refusal (atomic publish disabled) is seen here
            reply = await nc.request(subject, step.value, timeout=BATCH_TIMEOUT, headers=headers)
            if reply.data:
                answer = json.loads(reply.data)
                break
        else:
            await nc.publish(subject, step.value, headers=headers)
    return answer


async def _refusal(
    bucket: NatsBucket, mutations: list[Step], expectations: list[int | None], error: Any
) -> SqlkvError | list[int | None]:
    """The sqlkv error for the server's refusal of a batch, naming the mutation where it can tell which.

    When the only expectations that no longer hold are creates' markers (the
    key is still not live), the new expectations to send the batch again with.
    """
    code = int(error.get("err_code", 0))
    description = str(error.get("description", "the server refused the batch"))
    if code in WRONG_LAST_SEQUENCE:  # find the mutation whose expectation no longer holds
        renewed = list(expectations)
        for index, (step, expected) in enumerate(zip(mutations, expectations, strict=True)):
            if expected is None:
                continue
            actual, live = await bucket.latest(step.key)
            if actual == expected:
                continue
            if step.kind != "create":
                return name_mutation(WrongLastRevisionError(step.key, expected, actual), index, step.describe())
            if live:
                return name_mutation(KeyExistsError(step.key, actual), index, step.describe())
            renewed[index] = actual  # a new marker: compare against it
        if renewed != expectations:
            return renewed
        return WrongLastRevisionError("", 0, revision_of(StorageError(description)), f"{description} (batch refused)")
    if code == _DISABLED:
        return UnsupportedError(
            f"bucket {bucket.name}'s stream does not allow atomic publish (it was not created by sqlkv); "
            f"enable it with `nats stream edit KV_{bucket.name} --allow-batch` (nats-server 2.12 or later)"
        )
    if code == 10054:
        return ValueTooLargeError(f"value exceeds the bucket's max_value_size ({bucket.name})")
    if code == 10077:
        return BucketFullError(f"maximum bytes exceeded: bucket {bucket.name} is full")
    if code in (10111, 10164, 10177, 10199, 10201):
        return UnsupportedError(f"NATS cannot run this transaction atomically: {description}")
    if code == 10059:
        return BucketNotFoundError(f"bucket not found: {bucket.name}")
    return StorageError(f"NATS: atomic batch refused: {description} (error {code})")
