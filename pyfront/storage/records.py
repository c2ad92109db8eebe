"""One versioned schema per stored kind (STYLE.md principle 6).

Every record Parley stores is a JSON object whose ``"version"`` says which layout it has. A ``Schema``
names its kind, the version this code writes, and the table of upgrade steps: ``version -> function``
lifting a record of that version to ``version + 1`` (the pattern of python-doubleratchet's migrations).
``pyfront.storage.migrations`` holds the schema of every kind with its steps. ``Schema.open`` checks a
stored value and lifts it step by step to the current version before any field is read, so a class's
``from_dict`` sees only the current layout; ``Schema.new`` stamps what ``to_dict`` writes.

Version 0 is the layout of a kind from before it carried a version: a schema whose ``oldest`` is 0
reads a record without a ``"version"`` field as version 0.

A record from a newer release, of an unknown version, or of another kind raises ``DecodeError`` naming
the kind; nothing is half-read. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyfront.errors import DecodeError

Record = dict[str, Any]
Upgrade = Callable[[Record], Record]
"""Lifts a record of version ``n`` to version ``n + 1``; it returns a new dict and never mutates its input."""


@dataclass(frozen=True)
class Schema:
    """The stored layout of one kind of record: its current version and how older versions upgrade."""

    kind: str
    """A human name for errors: "contact record", "MLS group state", ..."""
    version: int
    """The version this code writes."""
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)
    """``version -> step`` for every version this code still reads below ``version``."""
    oldest: int = 1
    """The oldest version this code reads (0: records without a ``"version"`` field too)."""
    tag: Mapping[str, str] = field(default_factory=dict)
    """Fixed fields every record of this kind carries (Olm's ``{"kind": "olm-account"}``), checked on open."""

    def __post_init__(self) -> None:
        steps = set(range(self.oldest, self.version))
        if set(self.upgrades) != steps:
            raise ValueError(f"{self.kind}: upgrade steps {sorted(self.upgrades)}, expected {sorted(steps)}")

    def open(self, data: object) -> Record:
        """``data`` checked and lifted to ``version``: a fresh dict, the input untouched."""
        if not isinstance(data, Mapping):
            raise DecodeError(f"{self.kind}: expected an object, got {type(data).__name__}")
        for key, value in self.tag.items():
            if data.get(key) != value:
                raise DecodeError(f"{self.kind}: {key} {value!r} expected, got {data.get(key)!r}")
        if "version" not in data and self.oldest == 0:
            data = {**data, "version": 0}
        version = data.get("version")
        if type(version) is not int or not self.oldest <= version <= self.version:
            got = "no version" if version is None else repr(version)
            raise DecodeError(f"{self.kind}: version {self.readable()} expected, got {got}")
        record = dict(data)
        while record["version"] < self.version:
            before = record["version"]
            record = self.upgrades[before](record)
            if record.get("version") != before + 1:
                raise DecodeError(f"{self.kind}: the step from version {before} did not reach {before + 1}")
        return record

    def new(self, **fields: Any) -> Record:
        """A record of the current version (``tag`` and ``version`` first, then ``fields``)."""
        return {**self.tag, "version": self.version, **fields}

    def readable(self) -> str:
        """The versions this code reads, as text: ``"2"`` or ``"1..2"``."""
        return str(self.version) if self.oldest == self.version else f"{self.oldest}..{self.version}"
