"""Safety number: the 60 digits both people compare (``pyfront.session.identity.safety_number``, 12 groups of
5), "mark as verified", the warning when the contact's key changed and the one when the last connection
could not be verified (``LinkStatus.UNVERIFIED``). Both sides show the same digits.

The QR code shows ``pyfront.session.identity.safety_qr_payload`` (version, my fingerprint, theirs), drawn by
``segno`` (pure Python, packed into the bundle by ``server/bundle.py``) onto a ``<canvas>``: no inline
style, no markup from strings. "Scan their code" opens the camera (``views.scan``); the app checks the
scanned bytes with ``verify_safety_qr`` and marks the contact verified only when they match.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pyfront.browser.ui import Handlers, append, element
from pyfront.session.identity import SAFETY_NUMBER_GROUP, format_safety_number

if TYPE_CHECKING:
    from pyfront.messaging.contact import Contact

#: Pixels per QR module, and the quiet zone in modules (ISO/IEC 18004 asks for 4).
QR_SCALE = 6
QR_QUIET_ZONE = 4


def qr_canvas(payload: bytes, node_id: str = "safety-qr", label: str = "Safety number QR code") -> Any:
    """A ``<canvas>`` showing ``payload`` as a QR code (byte mode, error correction M)."""
    import segno  # noqa: PLC0415  (packed into the bundle; only this screen needs it)

    matrix = segno.make(payload, error="m", micro=False).matrix
    size = (len(matrix) + 2 * QR_QUIET_ZONE) * QR_SCALE
    canvas = element("canvas", id=node_id, classes="qr", width=str(size), height=str(size), role="img")
    canvas.setAttribute("aria-label", label)
    context = canvas.getContext("2d")
    context.fillStyle = "#ffffff"
    context.fillRect(0, 0, size, size)
    context.fillStyle = "#000000"
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):  # one rectangle per run of dark modules
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            left, top = (QR_QUIET_ZONE + start) * QR_SCALE, (QR_QUIET_ZONE + y) * QR_SCALE
            context.fillRect(left, top, (x - start) * QR_SCALE, QR_SCALE)
    return canvas


def unverified_note(name: str, *, have_number: bool = True) -> Any:
    """The safety screen's warning after a connection to ``name`` could not be verified."""
    compare = (
        f"Compare these digits with the ones {name} sees, in person or over a call: if they differ, someone "
        "is in the middle of your chat."
        if have_number
        else f"There is no safety number to compare until a connection to {name} is verified; ask {name}, in "
        "person or over a call, whether they are trying to reach you."
    )
    return element(
        "p",
        f"The last connection to {name} could not be verified: someone may be intercepting it. {compare}",
        classes="warning alert",
        id="safety-unverified",
        role="alert",
    )


def render_none(
    container: Any, handlers: Handlers, contact: Contact, *, on_back: Callable[[], Awaitable[None]]
) -> None:
    """No identity key yet, so no number: say so (and why, when a connection could not be verified)."""
    name = contact.name or "this contact"
    panel = element("section", classes="panel safety", id="safety", aria_labelledby="safety-title")
    back = element(
        "button", "← Back to the chat", id="safety-back", type="button", classes="secondary", data_back=""
    )
    append(panel, back, element("h2", f"Safety number with {name}", id="safety-title"))
    if contact.status.value == "unverified":  # LinkStatus.UNVERIFIED
        append(panel, unverified_note(name, have_number=False))
    append(
        panel,
        element(
            "p",
            "No safety number yet: it appears once you have connected to this contact.",
            classes="muted",
            id="safety-none",
        ),
    )
    container.append(panel)

    async def back_clicked(_event: Any) -> None:
        await on_back()

    handlers.on_async(back, "click", back_clicked)
    back.focus()


def render(
    container: Any,
    handlers: Handlers,
    contact: Contact,
    digits: str,
    qr_payload: bytes,
    *,
    on_back: Callable[[], Awaitable[None]],
    on_verify: Callable[[bool], Awaitable[None]],
    on_scan: Callable[[], Awaitable[None]],
    scan_result: tuple[bool, str] | None = None,
) -> None:
    """``scan_result`` (matched?, sentence) reports the scan the person just made of the contact's code."""
    name = contact.name or "this contact"
    panel = element("section", classes="panel safety", id="safety", aria_labelledby="safety-title")
    back = element(
        "button", "← Back to the chat", id="safety-back", type="button", classes="secondary", data_back=""
    )
    append(panel, back, element("h2", f"Safety number with {name}", id="safety-title"))
    if contact.status.value == "unverified":  # LinkStatus.UNVERIFIED (the messenger loads after this screen)
        append(panel, unverified_note(name))
    if contact.key_changed:
        append(
            panel,
            element(
                "p",
                f"{name}'s identity key changed since you last talked. Compare the numbers again.",
                classes="warning alert",
                id="safety-key-changed",
                role="alert",
            ),
        )
    grid = element("p", classes="safety-number", id="safety-number")
    grid.setAttribute("aria-label", format_safety_number(digits))
    for start in range(0, len(digits), SAFETY_NUMBER_GROUP):
        grid.append(element("span", digits[start : start + SAFETY_NUMBER_GROUP], classes="group"))
    state = element(
        "p",
        "Verified: you compared this number." if contact.verified else "Not verified yet.",
        id="safety-state",
        classes="status",
        data_verified="yes" if contact.verified else "no",
    )
    scanned = element("p", id="safety-scan-result", classes="status", role="alert")
    scanned.hidden = scan_result is None
    if scan_result is not None:
        scanned.textContent = scan_result[1]
        scanned.dataset.state = "ready" if scan_result[0] else "failed"
    scan = element("button", f"Scan {name}'s code", id="safety-scan", type="button", classes="secondary")
    verify = element(
        "button",
        "Clear verification" if contact.verified else "Mark as verified",
        id="safety-verify",
        type="button",
    )
    append(
        panel,
        element(
            "p",
            f"Compare these digits with the ones {name} sees, in person or over a call. If they match, "
            "nobody is in the middle of your chat.",
            classes="muted",
        ),
        grid,
        qr_canvas(qr_payload),
        element("p", f"Or let {name} scan this code.", classes="muted small"),
        scan,
        scanned,
        state,
        verify,
    )
    container.append(panel)

    async def back_clicked(_event: Any) -> None:
        await on_back()

    async def verify_clicked(_event: Any) -> None:
        await on_verify(not contact.verified)

    async def scan_clicked(_event: Any) -> None:
        await on_scan()

    handlers.on_async(back, "click", back_clicked)
    handlers.on_async(verify, "click", verify_clicked)
    handlers.on_async(scan, "click", scan_clicked)
    back.focus()
