"""The versioned record schema (pyfront.storage.records): checks, upgrade steps, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from pyfront.errors import DecodeError
from pyfront.storage.records import Record, Schema


def _step(to: int, **changes: Any) -> Any:
    def step(record: Record) -> Record:
        return {**record, **changes, "version": to}

    return step


THING = Schema(
    "thing record",
    version=3,
    upgrades={1: _step(2, colour="blue"), 2: _step(3, size=1)},
    tag={"kind": "thing"},
)


def test_new_stamps_the_tag_and_the_version() -> None:
    assert THING.new(name="a") == {"kind": "thing", "version": 3, "name": "a"}
    assert list(THING.new(name="a")) == ["kind", "version", "name"]


def test_open_returns_a_current_record_as_a_copy() -> None:
    stored = THING.new(name="a", colour="red", size=2)
    opened = THING.open(stored)
    assert opened == stored and opened is not stored


def test_open_lifts_an_old_record_step_by_step_and_leaves_the_input_alone() -> None:
    stored = {"kind": "thing", "version": 1, "name": "a"}
    assert THING.open(stored) == {"kind": "thing", "version": 3, "name": "a", "colour": "blue", "size": 1}
    assert stored == {"kind": "thing", "version": 1, "name": "a"}
    assert THING.open({"kind": "thing", "version": 2, "colour": "red"})["colour"] == "red"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "thing record: expected an object, got NoneType"),
        (["kind", "thing"], "thing record: expected an object, got list"),
        ({"kind": "other", "version": 3}, "thing record: kind 'thing' expected, got 'other'"),
        ({"version": 3}, "thing record: kind 'thing' expected, got None"),
        ({"kind": "thing"}, "thing record: version 1..3 expected, got no version"),
        ({"kind": "thing", "version": 4}, "thing record: version 1..3 expected, got 4"),
        ({"kind": "thing", "version": 0}, "thing record: version 1..3 expected, got 0"),
        ({"kind": "thing", "version": "3"}, "thing record: version 1..3 expected, got '3'"),
        ({"kind": "thing", "version": True}, "thing record: version 1..3 expected, got True"),
    ],
)
def test_open_refuses_what_it_cannot_read(data: object, message: str) -> None:
    with pytest.raises(DecodeError) as raised:
        THING.open(data)
    assert str(raised.value) == message


def test_a_step_that_does_not_reach_the_next_version_is_refused() -> None:
    broken = Schema("broken record", version=2, upgrades={1: _step(1)})
    with pytest.raises(DecodeError, match="broken record: the step from version 1 did not reach 2"):
        broken.open({"version": 1})


def test_version_zero_is_a_record_from_before_the_kind_had_a_version() -> None:
    legacy = Schema("legacy record", version=1, upgrades={0: _step(1)}, oldest=0)
    assert legacy.open({"name": "a"}) == {"name": "a", "version": 1}
    assert legacy.readable() == "0..1"
    with pytest.raises(DecodeError, match=r"version 0\.\.1 expected, got 2"):
        legacy.open({"version": 2})
    # Without oldest=0 a missing version is refused.
    with pytest.raises(DecodeError, match="got no version"):
        Schema("strict record", version=1).open({"name": "a"})


def test_the_upgrade_table_must_cover_exactly_the_versions_read() -> None:
    with pytest.raises(ValueError, match=r"upgrade steps \[1\], expected \[1, 2\]"):
        Schema("gap", version=3, upgrades={1: _step(2)})
    with pytest.raises(ValueError, match=r"upgrade steps \[1, 2, 3\], expected \[1, 2\]"):
        Schema("beyond", version=3, upgrades={1: _step(2), 2: _step(3), 3: _step(4)})
    assert Schema("current only", version=2, oldest=2).readable() == "2"
