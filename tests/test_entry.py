"""Entry: what reads and watchers return. Its ``created`` datetime is made on first read; nothing else may notice."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import datetime, timezone

import pytest

import sqlkv
from sqlkv._model.entry import make_entry, ns_to_datetime

NS = 1_700_000_000_123_456_789


def built() -> sqlkv.Entry:
    return make_entry("b", "k", b"v", 3, NS, 1, 1)


def test_created_is_an_aware_datetime_to_the_microsecond() -> None:
    entry = built()
    assert entry.created == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert entry.created is entry.created  # made once


def test_a_built_entry_equals_one_made_by_the_constructor() -> None:
    by_hand = sqlkv.Entry("b", "k", b"v", 3, ns_to_datetime(NS), 1, sqlkv.Operation.PUT)
    assert built() == by_hand and by_hand == built()
    assert hash(built()) == hash(by_hand)
    assert repr(built()) == repr(by_hand)
    assert {built(), by_hand} == {by_hand}


@pytest.mark.parametrize(
    "convert",
    [
        lambda e: pickle.loads(pickle.dumps(e)),
        copy.copy,
        copy.deepcopy,
        lambda e: dataclasses.replace(e),
        lambda e: sqlkv.Entry(**dataclasses.asdict(e)),
    ],
)
def test_copies_and_dataclass_helpers_see_a_datetime(convert: object) -> None:
    copied = convert(built())  # type: ignore[operator]
    assert isinstance(copied.created, datetime)
    assert copied == built()
    assert dataclasses.asdict(built())["created"] == built().created


def test_entries_stay_frozen() -> None:
    entry = built()
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.created = datetime.now(timezone.utc)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.value = b"other"  # type: ignore[misc]


@pytest.mark.parametrize("op", list(sqlkv.Operation), ids=lambda op: op.name)
def test_an_operation_prints_as_its_name_and_is_still_its_number(op: sqlkv.Operation) -> None:
    name, number = op.name, op.value
    assert name in ("PUT", "DEL", "PURGE", "EXPIRE")
    assert str(op) == f"{op}" == format(op) == "%s" % op == name  # noqa: UP031 - %-formatting is one of the cases
    assert f"{op:>7}|" == f"{name:>7}|"  # a string's format spec pads the name
    assert f"{op:d}" == f"{op:03d}".lstrip("0") == "%d" % op == str(number)  # noqa: UP031
    assert op == number and int(op) == number and hash(op) == hash(number)
    assert sqlkv.Operation(number) is op and sqlkv.Operation[name] is op
    assert pickle.loads(pickle.dumps(op)) is op
    assert repr(op) == f"<Operation.{name}: {number}>"
    assert json.dumps(op) == str(number) and json.loads(json.dumps({"op": op})) == {"op": number}


def test_print_of_an_entry_operation_shows_the_name(capsys: pytest.CaptureFixture[str]) -> None:
    print(built().operation)
    assert capsys.readouterr().out == "PUT\n"
