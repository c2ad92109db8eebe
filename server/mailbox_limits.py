"""The mailbox's settings (every limit a documented, named default) and its per-client rate limiter.

docs/mailbox.md, "Limits", lists each setting with its command-line flag. The rate limiter keeps, per
client address, a token bucket in memory only: it is never written to disk and never linked to an
envelope, so the server keeps no record of who deposited what. Buckets idle long enough to be full are
forgotten, and at most ``MAX_TRACKED_CLIENTS`` are kept (the oldest is dropped first).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

DAY_S = 86_400
DEFAULT_EXPIRY_S = 14 * DAY_S
"""An envelope not fetched within this long is deleted (rounded up to the hour)."""
DEFAULT_MAX_ENVELOPE_BYTES = 262_144
"""The largest envelope accepted: the data channel's largest frame (``pyfront.session.envelope``)."""
DEFAULT_MAX_MAILBOX_ENVELOPES = 5_000
"""Envelopes one mailbox may hold until its owner fetches them."""
DEFAULT_MAX_MAILBOX_BYTES = 64 * 1024 * 1024
"""Bytes one mailbox may hold until its owner fetches them."""
DEFAULT_DEPOSIT_RATE = 20.0
"""Deposits per second one client (IP address) may sustain ..."""
DEFAULT_DEPOSIT_BURST = 200
"""... after a burst of this many."""
DEFAULT_FETCH_RATE = 10.0
"""Fetches and acknowledgements per second one client may sustain ..."""
DEFAULT_FETCH_BURST = 100
"""... after a burst of this many."""
DEFAULT_PROOF_WINDOW_S = 300
"""A fetch or acknowledgement is signed over its time; the server takes it within this many seconds of
its own clock (a request outside it is refused with the server's time, so the client can correct)."""
MAX_FETCH_COUNT = 500
"""Envelopes one fetch returns at most (the client asks again while ``more`` is set)."""
MAX_FETCH_BYTES = 4 * 1024 * 1024
"""Bytes of envelopes one fetch returns at most (one larger envelope always fits)."""
MAX_ACK_COUNT = MAX_FETCH_COUNT
MAX_TRACKED_CLIENTS = 65_536
PURGE_INTERVAL_S = 60.0
"""Expired envelopes are deleted at most this often (fetches never return them in between)."""


FLAGS = ("enabled", "trust_forwarded_for")
"""The settings that are on or off; every other one is a positive number."""


@dataclass(frozen=True)
class MailboxSettings:
    """Every mailbox limit; ``server.config.Config.mailbox`` holds overrides by field name."""

    enabled: bool = True
    expiry_s: int = DEFAULT_EXPIRY_S
    max_envelope_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES
    max_mailbox_envelopes: int = DEFAULT_MAX_MAILBOX_ENVELOPES
    max_mailbox_bytes: int = DEFAULT_MAX_MAILBOX_BYTES
    deposit_rate: float = DEFAULT_DEPOSIT_RATE
    deposit_burst: int = DEFAULT_DEPOSIT_BURST
    fetch_rate: float = DEFAULT_FETCH_RATE
    fetch_burst: int = DEFAULT_FETCH_BURST
    proof_window_s: int = DEFAULT_PROOF_WINDOW_S
    #: Behind a reverse proxy every request comes from the proxy: with this on, the rate limits count the
    #: last address of ``X-Forwarded-For`` (the one the proxy added) instead. Off by default: without a
    #: proxy that sets it, a client could name any address there.
    trust_forwarded_for: bool = False

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if spec.name in FLAGS:
                if not isinstance(value, bool):
                    raise ValueError(f"mailbox setting {spec.name} must be true or false, got {value!r}")
            elif isinstance(value, bool) or not value > 0:
                raise ValueError(f"mailbox setting {spec.name} must be a positive number, got {value!r}")
        if self.max_envelope_bytes > self.max_mailbox_bytes:
            raise ValueError("mailbox setting max_envelope_bytes exceeds max_mailbox_bytes")

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> MailboxSettings:
        known = {spec.name for spec in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown mailbox setting(s): {', '.join(sorted(unknown))}")
        return cls(**overrides)


class RateLimiter:
    """Token buckets per client: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<RateLimiter {self.rate}/s burst {self.burst}, {len(self._buckets)} clients>"

    def take(self, client: str, now: float) -> float:
        """Spend one token of ``client``: 0.0 if it had one, else the seconds until it will."""
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        while len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets.popitem(last=False)
        return 0.0
