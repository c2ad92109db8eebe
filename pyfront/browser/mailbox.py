"""The page's side of the mailbox: ``MailboxHttp`` over ``fetch()``, and the loop that runs the courier.

``pyfront.messaging.courier.Courier`` decides everything (grants, what to deposit, fetching in order,
acknowledging); this module only moves its bodies over HTTP and says when to act: a fetch before the
network starts (so queued envelopes are read before the contact's direct frames), again whenever the
browser reports it is back ``online``, and every ``POLL_INTERVAL_S`` for every contact; a
courier step every ``STEP_INTERVAL_S`` (grants and deposits, and a fetch for each contact that just
connected). Requests carry no cookies and no referrer. Browser glue: tested end to end by
tests/browser/test_app_mailbox.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js
from pyodide.ffi import JsException, create_proxy

from pyfront.browser.js_values import js_object, uint8
from pyfront.messaging.courier import Courier
from pyfront.messaging.mailbox_wire import MailboxError
from pyfront.tasks import TaskSet

STEP_INTERVAL_S = 1.0
"""How often the courier looks for grants to send and messages to deposit."""
REQUEST_TIMEOUT_S = 15.0
"""One request (connect, send, answer) may take this long, then it is aborted and counts as unreachable
(the headless peer's ``http.client`` has the same limit): a request that never answers must not hold the
courier, which fetches one batch at a time, forever."""
FIRST_FETCH_TIMEOUT_S = 20.0
"""The fetch before the network starts waits at most this long (a slow mailbox must not keep the
contacts from connecting)."""


class FetchHttp:
    """``MailboxHttp`` with the page's ``fetch``."""

    def __repr__(self) -> str:
        return "<FetchHttp>"

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        options = {
            "method": "POST",
            "body": uint8(body),
            "headers": {"Content-Type": "application/octet-stream"},
            "cache": "no-store",
            "credentials": "omit",
            "referrerPolicy": "no-referrer",
            "signal": js.AbortSignal.timeout(int(REQUEST_TIMEOUT_S * 1000)),
        }
        try:
            response = await js.fetch(url, js_object(options))
            data = await response.arrayBuffer()
        except JsException as error:
            raise MailboxError(0, "unreachable", f"the mailbox server cannot be reached ({error})") from None
        return int(response.status), bytes(js.Uint8Array.new(data).to_bytes())


class MailboxLoop:
    """Runs one courier in the page until ``close``."""

    def __init__(self, courier: Courier) -> None:
        self.courier = courier
        self._tasks = TaskSet("mailbox")
        self._online: Any = None

    def __repr__(self) -> str:
        return f"<MailboxLoop {self.courier!r}>"

    async def first_fetch(self) -> None:
        """Read every mailbox once (on start, before the network); errors go to the log. A fetch is never
        cancelled half-way (a batch opened and not stored would then be refused as read): after
        ``FIRST_FETCH_TIMEOUT_S`` the network starts and the fetch goes on beside it."""
        task = self._tasks.spawn(self.fetch())
        done, _ = await asyncio.wait({task}, timeout=FIRST_FETCH_TIMEOUT_S)
        if not done:
            js.console.warn("mailbox: the first fetch takes long; the contacts are called meanwhile")

    async def fetch(self) -> None:
        try:
            shown = await self.courier.fetch_all()
        except Exception as error:  # the loop goes on; the next fetch tries again
            js.console.warn(f"mailbox: fetch failed: {type(error).__name__}: {error}")
            return
        if self.courier.error:
            js.console.warn(f"mailbox: {self.courier.error}")
            self.courier.error = ""
        js.document.documentElement.dataset.mailboxFetched = str(self.courier.fetched)
        if shown:
            js.console.info(f"mailbox: {shown} messages fetched")

    def start(self) -> None:
        def online(_event: Any) -> None:
            self._tasks.spawn(self.fetch())

        self._online = create_proxy(online)
        js.window.addEventListener("online", self._online)
        self._tasks.spawn(self._run())

    def close(self) -> None:
        if self._online is not None:
            js.window.removeEventListener("online", self._online)
        self._tasks.cancel_all()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(STEP_INTERVAL_S)
            try:
                await self.courier.step()
            except Exception as error:  # one bad step must not stop the loop; the log says why
                js.console.warn(f"mailbox: step failed: {type(error).__name__}: {error}")
            if self.courier.error:
                js.console.warn(f"mailbox: {self.courier.error}")
                self.courier.error = ""
            granted = sum(1 for box in self.courier.boxes.values() if box.theirs is not None)
            js.document.documentElement.dataset.mailboxGrants = str(granted)  # contacts we can deposit for
            if self.courier.poll_due():
                await self.fetch()  # every mailbox: what was left just as a contact connected is read too
