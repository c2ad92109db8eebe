"""Where the mailbox keeps sealed envelopes: the ``MailboxStore`` port and its SQLite implementation.

The store sees an address (32 opaque bytes), an envelope (opaque bytes) and an expiry hour; nothing
about who deposited it. ``server.mailbox`` checks requests and proofs and calls the store; a Redis
backend (DESIGN.md, "scale-out") implements the same four methods: ``deposit`` must check the quota and
insert atomically (a Lua script there, one ``BEGIN IMMEDIATE`` transaction here), and return only once
the envelope is durable.

SQLite (the embedded default): one file ``mailbox.sqlite3`` under ``--data-dir``, WAL journal,
``synchronous=FULL`` (a commit is on disk when ``deposit`` returns, so a deposit acknowledged over HTTP
survives a crash or a power cut), ``secure_delete`` on (acknowledged envelopes are overwritten, not left
in free pages). Sequence numbers grow monotonically (``AUTOINCREMENT``): a mailbox is read in the order
it was filled, and a number is never reused after a delete.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

DATABASE_NAME = "mailbox.sqlite3"
BUSY_TIMEOUT_S = 10.0
SCHEMA_VERSION = 1


class QuotaKind(Enum):
    COUNT = "count"
    BYTES = "bytes"


class MailboxFull(Exception):
    """A deposit would take a mailbox over its quota (in envelopes or in bytes); nothing was stored."""

    def __init__(self, kind: QuotaKind, limit: int) -> None:
        unit = "envelopes" if kind is QuotaKind.COUNT else "bytes"
        super().__init__(f"the mailbox is full: it may hold at most {limit} {unit} until its owner fetches")
        self.kind = kind
        self.limit = limit


@dataclass(frozen=True)
class Envelope:
    seq: int
    body: bytes


@dataclass(frozen=True)
class Quota:
    max_envelopes: int
    max_bytes: int


class MailboxStore(Protocol):
    """What the mailbox needs from storage. Times are Unix seconds."""

    def deposit(self, address: bytes, body: bytes, expires_at: int, quota: Quota) -> int:
        """Store ``body`` for ``address`` and return its sequence number once it is durable; raise
        ``MailboxFull`` (storing nothing) if the mailbox would exceed ``quota``."""
        ...

    def fetch(
        self, address: bytes, after: int, limit: int, max_bytes: int, now: int
    ) -> tuple[list[Envelope], bool]:
        """The oldest unexpired envelopes of ``address`` with ``seq > after``: at most ``limit`` of them and
        (beyond the first) at most ``max_bytes`` in all; and whether more remain."""
        ...

    def acknowledge(self, address: bytes, seqs: list[int]) -> int:
        """Delete those of ``seqs`` that belong to ``address``; how many were deleted."""
        ...

    def purge_expired(self, now: int) -> int:
        """Delete every envelope whose expiry has passed; how many."""
        ...

    def close(self) -> None: ...


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS envelopes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        address BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        size INTEGER NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS envelopes_by_address ON envelopes (address, seq)",
    "CREATE INDEX IF NOT EXISTS envelopes_by_expiry ON envelopes (expires_at)",
    """CREATE TABLE IF NOT EXISTS usage (
        address BLOB PRIMARY KEY,
        envelopes INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID""",
)


class SqliteMailboxStore:
    """``MailboxStore`` on one SQLite file. One connection, used under a lock (gevent runs every request
    on one OS thread; SQLite calls never yield, so the lock is held only for one statement batch)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA foreign_keys=OFF")
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def __repr__(self) -> str:
        return f"<SqliteMailboxStore {self.path.name}>"

    @classmethod
    def in_directory(cls, data_dir: Path) -> SqliteMailboxStore:
        return cls(data_dir / DATABASE_NAME)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def deposit(self, address: bytes, body: bytes, expires_at: int, quota: Quota) -> int:
        with self._lock, self._transaction():
            row = self._db.execute(
                "SELECT envelopes, bytes FROM usage WHERE address = ?", (address,)
            ).fetchone()
            count, size = row if row is not None else (0, 0)
            if count + 1 > quota.max_envelopes:
                raise MailboxFull(QuotaKind.COUNT, quota.max_envelopes)
            if size + len(body) > quota.max_bytes:
                raise MailboxFull(QuotaKind.BYTES, quota.max_bytes)
            cursor = self._db.execute(
                "INSERT INTO envelopes (address, expires_at, size, body) VALUES (?, ?, ?, ?)",
                (address, expires_at, len(body), body),
            )
            self._db.execute(
                "INSERT INTO usage (address, envelopes, bytes) VALUES (?, 1, ?) ON CONFLICT (address) "
                "DO UPDATE SET envelopes = envelopes + 1, bytes = bytes + excluded.bytes",
                (address, len(body)),
            )
            seq = cursor.lastrowid
        assert seq is not None
        return seq

    def fetch(
        self, address: bytes, after: int, limit: int, max_bytes: int, now: int
    ) -> tuple[list[Envelope], bool]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, size, body FROM envelopes WHERE address = ? AND seq > ? AND expires_at > ? "
                "ORDER BY seq LIMIT ?",
                (address, after, now, limit + 1),
            ).fetchall()
        envelopes: list[Envelope] = []
        total = 0
        for seq, size, body in rows[:limit]:
            if envelopes and total + size > max_bytes:
                return envelopes, True
            envelopes.append(Envelope(seq, bytes(body)))
            total += size
        return envelopes, len(rows) > limit

    def acknowledge(self, address: bytes, seqs: list[int]) -> int:
        deleted = size = 0
        with self._lock, self._transaction():
            for seq in dict.fromkeys(seqs):
                rows = self._db.execute(
                    "DELETE FROM envelopes WHERE address = ? AND seq = ? RETURNING size", (address, seq)
                ).fetchall()
                for (row_size,) in rows:
                    deleted, size = deleted + 1, size + row_size
            self._reduce_usage(address, deleted, size)
        return deleted

    def purge_expired(self, now: int) -> int:
        with self._lock, self._transaction():
            rows = self._db.execute(
                "SELECT address, count(*), sum(size) FROM envelopes WHERE expires_at <= ? GROUP BY address",
                (now,),
            ).fetchall()
            self._db.execute("DELETE FROM envelopes WHERE expires_at <= ?", (now,))
            for address, count, size in rows:
                self._reduce_usage(address, count, size)
        return sum(row[1] for row in rows)

    def _reduce_usage(self, address: bytes, count: int, size: int) -> None:
        if not count:
            return
        self._db.execute(
            "UPDATE usage SET envelopes = envelopes - ?, bytes = bytes - ? WHERE address = ?",
            (count, size, address),
        )
        self._db.execute("DELETE FROM usage WHERE address = ? AND envelopes <= 0", (address,))

    def count(self) -> int:
        """Envelopes held (for tests and the benchmark)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM envelopes").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception): the write lock is taken at the
    start, so the quota read and the insert see the same mailbox."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
