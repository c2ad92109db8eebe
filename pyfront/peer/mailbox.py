"""The headless peer's side of the mailbox: ``MailboxHttp`` over ``http.client``, and the courier's loop.

The twin of ``pyfront.browser.mailbox``: ``pyfront.messaging.courier.Courier`` decides everything
(grants, deposits, fetching in order, acknowledging); this module moves its bodies over HTTP and says
when to act: a fetch before the network starts (so what waited in the mailbox while the peer was down
is read, shown and acknowledged before any contact calls), again each time the broker accepts us after
a loss (the network came back), and every ``POLL_INTERVAL_S`` for every contact; a courier
step every ``STEP_INTERVAL_S`` (grants and deposits, and a fetch for each contact that just connected).

``http.client`` runs in a worker thread (``asyncio.to_thread``), one connection per request, with no
cookies, no redirects followed and ``REQUEST_TIMEOUT_S``; an answer larger than
``MAX_ANSWER_BYTES`` (a full fetch of ``FETCH_LIMIT`` envelopes of ``MAX_ENVELOPE_BYTES``) is refused.
"""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Callable
from urllib.parse import urlsplit

from pyfront.messaging.courier import Courier
from pyfront.messaging.mailbox_wire import FETCH_LIMIT, MAX_ENVELOPE_BYTES, MailboxError
from pyfront.tasks import TaskSet

STEP_INTERVAL_S = 1.0
"""How often the courier looks for grants to send and messages to deposit (the page's)."""
FIRST_FETCH_TIMEOUT_S = 20.0
"""The fetch before the network starts waits at most this long, then goes on in the background."""
REQUEST_TIMEOUT_S = 15.0
"""One HTTP request (connect, send, answer) may take this long."""
MAX_ANSWER_BYTES = FETCH_LIMIT * (MAX_ENVELOPE_BYTES + 12) + 16
"""The largest answer read: a full fetch (``version || more || count`` and per envelope ``seq || length``)."""


class ClientHttp:
    """``MailboxHttp`` with the standard library's ``http.client``."""

    def __repr__(self) -> str:
        return "<ClientHttp>"

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        return await asyncio.to_thread(_post, url, body)


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MailboxError(0, "unreachable", f"not an http(s) mailbox URL: {url!r}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(
            "POST",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={"Content-Type": "application/octet-stream", "Cache-Control": "no-store"},
        )
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER_BYTES + 1)
    except (OSError, http.client.HTTPException) as error:
        reason = str(error) or type(error).__name__
        raise MailboxError(0, "unreachable", f"the mailbox server cannot be reached ({reason})") from None
    finally:
        connection.close()
    if len(answer) > MAX_ANSWER_BYTES:
        raise MailboxError(response.status, "too-large", f"an answer over {MAX_ANSWER_BYTES} bytes")
    return response.status, answer


class PeerMailbox:
    """Runs one courier until ``close``; ``report(kind, detail)`` prints what happened."""

    def __init__(self, courier: Courier, report: Callable[[str, str], None]) -> None:
        self.courier = courier
        self._report = report
        self._tasks = TaskSet("peer mailbox")

    def __repr__(self) -> str:
        return f"<PeerMailbox {self.courier!r}>"

    async def first_fetch(self) -> None:
        """Read every mailbox once, before the network starts. A fetch is never cancelled half-way (a
        batch opened and not stored would then be refused as read): after ``FIRST_FETCH_TIMEOUT_S`` the
        network starts and the fetch goes on beside it."""
        task = self._tasks.spawn(self.fetch())
        done, _ = await asyncio.wait({task}, timeout=FIRST_FETCH_TIMEOUT_S)
        if not done:
            self._report("error", "mailbox: the first fetch takes long; the contacts are called meanwhile")

    async def fetch(self) -> None:
        """One fetch of every mailbox (the courier runs one at a time); a failure is reported, and the
        next fetch tries again."""
        try:
            shown = await self.courier.fetch_all()
        except Exception as error:  # the loop goes on
            self._report("error", f"mailbox: fetch failed: {type(error).__name__}: {error}")
            return
        self._errors()
        if shown:
            self._report("mailbox", f"{shown} messages fetched")

    def start(self) -> None:
        self._tasks.spawn(self._run())

    def back_online(self) -> None:
        """The broker accepted us again after a loss: read what may have waited meanwhile."""
        self._tasks.spawn(self.fetch())

    async def close(self) -> None:
        await self._tasks.close()

    def _errors(self) -> None:
        if self.courier.error:
            self._report("error", self.courier.error)
            self.courier.error = ""

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(STEP_INTERVAL_S)
            try:
                await self.courier.step()
            except Exception as error:  # one bad step must not stop the loop; the line says why
                self._report("error", f"mailbox: step failed: {type(error).__name__}: {error}")
            self._errors()
            if self.courier.poll_due():
                await self.fetch()  # every mailbox: what was left just as a contact connected is read too
