"""One versioned schema per stored kind (STYLE.md principle 6; docs/architecture.md, "Stored records").

Every record Parley stores is a JSON object whose ``"version"`` says which layout it has. A ``Schema``
names its kind, the version this code writes, and the table of upgrade steps in
``pyfront.storage.migrations``: ``version -> function`` lifting a record of that version to
``version + 1`` (the pattern of python-doubleratchet's migrations). ``Schema.open`` checks a stored value
and lifts it step by step to the current version before any field is read, so a class's ``from_dict``
sees only the current layout; ``Schema.new`` stamps what ``to_dict`` writes.

A record from a newer release, of an unknown version, or with no path of upgrades raises ``DecodeError``
naming the kind; nothing is half-read. This module does no I/O.
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
    """The oldest version this code reads."""
    tag: Mapping[str, str] = field(default_factory=dict)
    """Fixed fields every record of this kind carries (Olm's ``{"kind": "account"}``), checked on open."""

    def __post_init__(self) -> None:
        missing = [v for v in range(self.oldest, self.version) if v not in self.upgrades]
        if missing:
            raise ValueError(f"{self.kind}: no upgrade step from version(s) {missing}")

    def open(self, data: object) -> Record:
        """``data`` checked and lifted to ``version``: a fresh dict, the input untouched."""
        if not isinstance(data, Mapping):
            raise DecodeError(f"{self.kind}: expected an object, got {type(data).__name__}")
        for key, value in self.tag.items():
            if data.get(key) != value:
                raise DecodeError(f"{self.kind}: {key} is {data.get(key)!r}, expected {value!r}")
        version = data.get("version")
        if type(version) is not int or not self.oldest <= version <= self.version:
            raise DecodeError(f"{self.kind}: version {version!r}, this code reads {self.readable()}")
        record = dict(data)
        while record["version"] < self.version:
            before = record["version"]
            record = self.upgrades[before](record)
            if record.get("version") != before + 1:
                raise DecodeError(f"{self.kind}: the upgrade from {before} did not reach {before + 1}")
        return record

    def new(self, **fields: Any) -> Record:
        """A record of the current version (``tag`` and ``version`` first, then ``fields``)."""
        return {**self.tag, "version": self.version, **fields}

    def readable(self) -> str:
        return str(self.version) if self.oldest == self.version else f"{self.oldest}..{self.version}"
