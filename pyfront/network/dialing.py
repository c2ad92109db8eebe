"""Who calls whom, and when to call again: the redial rules of the page and of the headless peer.

Both networks (``pyfront.browser.network``, ``pyfront.peer.network``) run these rules through
``pyfront.network.calls.Calls``, so a browser and a headless peer behave alike on either end of a chat:

* **One dialer per pair.** A contact's session initiator (the side that first dialed, e.g. the one who
  opened an invite link) calls by itself while the contact has no link; the other side waits for the
  call. Two people coming online together then do not open two crossing connections.
* **Back-off.** After a call that failed, or that opened and was dropped before a session was ready (by
  a peer that blocked us, a handshake that stalled or could not be verified), the next call waits
  ``REDIAL_INITIAL_S``, doubling up to ``REDIAL_MAX_S``. A ready session ends the back-off at once.
  An unverified contact is called again too, with the same back-off: a man in the middle (or a forged
  Refusal) can make us no quieter than an offline contact does.

Time is the caller's monotonic clock (``now``). This module does no I/O.
"""

from __future__ import annotations

from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.messenger import Messenger

#: How long a dialed link may take to open before the attempt counts as failed.
DIAL_TIMEOUT_S = 20.0
#: Automatic redial delays for a contact without a link (seconds).
REDIAL_INITIAL_S = 2.0
REDIAL_MAX_S = 60.0
#: How often the networks look for contacts to call (``DialSchedule.due``).
REDIAL_CHECK_S = 1.0


class DialSchedule:
    """When each contact may be called again."""

    def __init__(self) -> None:
        self._next: dict[str, tuple[float, float]] = {}  # peer id -> (due, the delay that made it due)

    def __repr__(self) -> str:
        return f"<DialSchedule {len(self._next)} backing off>"

    def reset(self, peer_id: str) -> None:
        """Call at once next time: a session became ready, or the person asked to connect."""
        self._next.pop(peer_id, None)

    def failed(self, peer_id: str, now: float) -> float:
        """A call failed (or its link may close before a session is ready): the next one waits the
        doubled delay, which is returned."""
        _, delay = self._next.get(peer_id, (0.0, REDIAL_INITIAL_S / 2))
        delay = min(REDIAL_MAX_S, delay * 2)
        self._next[peer_id] = (now + delay, delay)
        return delay

    def due(self, messenger: Messenger, dialing: set[str], now: float) -> list[str]:
        """The contacts to call now: without a link, whose session we initiated, not being called
        already, past their back-off. A contact whose session is ready (or who is gone) leaves the
        schedule."""
        for peer_id in list(self._next):
            contact = messenger.contacts.get(peer_id)
            if contact is None or contact.status is LinkStatus.READY:
                del self._next[peer_id]
        calls = []
        for peer_id in messenger.unlinked():
            due, _ = self._next.get(peer_id, (0.0, 0.0))
            if messenger.contacts[peer_id].session.is_initiator and peer_id not in dialing and now >= due:
                calls.append(peer_id)
        return calls
