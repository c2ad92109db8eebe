"""Connect without a server: make an offer or answer one, by copied text or QR code (issue 14).

What the screen shows follows the manual connection's stage (``pyfront.browser.manual.Stage``):

* idle: "Create an offer", or paste an offer (or scan its QR code) and answer it;
* offered: the offer as text (with Copy) and as a QR code, then a field for the answer (or scan it);
* answered: the answer as text and QR code, for the person who made the offer;
* connecting / failed: where it stands, or why it failed in plain words, with "Start again".

A refused offer or answer (changed on the way, not a Parley packet, made for another offer) is said in
``#manual-error`` and nothing else changes, so the person can paste the right one. The QR codes carry the
packet's bytes (``safety.qr_canvas``); the text is the same bytes in base64url.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyfront.browser.ui import Handlers, append, element
from pyfront.browser.views.safety import qr_canvas

if TYPE_CHECKING:
    from pyfront.browser.manual import ManualConnection
    from pyfront.messaging.manual_signaling import Signal

#: Rows of the text areas that show or take an offer or answer.
TEXT_ROWS = "5"


@dataclass
class ManualActions:
    create: Callable[[], Awaitable[None]]
    answer: Callable[[str], Awaitable[str]]  # the pasted offer; returns a refusal, or "" when taken
    connect: Callable[[str], Awaitable[str]]  # the pasted answer; likewise
    scan_offer: Callable[[], Awaitable[None]]
    scan_answer: Callable[[], Awaitable[None]]
    restart: Callable[[], Awaitable[None]]
    back: Callable[[], Awaitable[None]]


def _packet_block(signal: Signal, what: str, prefix: str, handlers: Handlers) -> list[Any]:
    text = element(
        "textarea",
        id=f"{prefix}-text",
        rows=TEXT_ROWS,
        readonly="",
        spellcheck="false",
        aria_label=f"Your {what}",
    )
    text.value = signal.text
    copy = element("button", f"Copy the {what}", id=f"{prefix}-copy", type="button", classes="secondary")
    copied = element("p", classes="muted small", id=f"{prefix}-copied", role="status")

    async def copy_clicked(_event: Any) -> None:
        import js  # noqa: PLC0415

        text.select()
        try:
            await js.navigator.clipboard.writeText(signal.text)
            copied.textContent = "Copied."
        except Exception:  # no clipboard permission: the text is selected for Ctrl+C
            copied.textContent = "Selected: press Ctrl+C (or long-press) to copy."

    handlers.on_async(copy, "click", copy_clicked)
    return [
        text,
        copy,
        copied,
        element("p", f"Or let them scan this code (the same {what}):", classes="muted small"),
        qr_canvas(signal.packet, f"{prefix}-qr", f"Your {what} as a QR code"),
    ]


def _paste_form(
    prefix: str,
    label: str,
    button: str,
    scan_label: str,
    *,
    handlers: Handlers,
    submit: Callable[[str], Awaitable[str]],
    scan: Callable[[], Awaitable[None]],
    error: Any,
) -> Any:
    form = element("form", id=f"{prefix}-form", classes="settings-form", novalidate="")
    label_node = element("label", label)
    label_node.htmlFor = f"{prefix}-input"
    field = element("textarea", id=f"{prefix}-input", rows=TEXT_ROWS, spellcheck="false")
    buttons = element("div", classes="row")
    scan_button = element("button", scan_label, id=f"{prefix}-scan", type="button", classes="secondary")
    append(buttons, element("button", button, id=f"{prefix}-submit", type="submit"), scan_button)
    append(form, label_node, field, buttons)

    async def submitted(_event: Any) -> None:
        error.hidden = True
        problem = await submit(str(field.value))
        if problem:
            error.textContent, error.hidden = problem, False

    async def scan_clicked(_event: Any) -> None:
        await scan()

    handlers.on_async(form, "submit", submitted)
    handlers.on_async(scan_button, "click", scan_clicked)
    return form


def render(
    container: Any,
    handlers: Handlers,
    connection: ManualConnection,
    actions: ManualActions,
    *,
    relay_only: bool,
    problem: str = "",
) -> None:
    from pyfront.browser.manual import Stage  # noqa: PLC0415  (loaded with this screen)

    panel = element("section", classes="panel manual", id="manual", aria_labelledby="manual-title")
    back = element("button", "← Chats", id="manual-back", type="button", classes="secondary", data_back="")
    append(
        panel,
        back,
        element("h2", "Connect without a server", id="manual-title"),
        element(
            "p",
            "For two devices on the same network with no internet or no server (a phone's hotspot will do). "
            "One of you makes an offer, the other answers it; both are signed with your identity keys, and "
            "a changed one is refused. Pass them on in person: whoever gives you an offer is the person you "
            "connect to.",
            classes="muted",
        ),
    )
    if relay_only:
        append(
            panel,
            element(
                "p",
                "Relay-only mode does not apply here: this connection uses your addresses on the local "
                "network.",
                classes="warning",
                id="manual-relay-note",
            ),
        )
    error = element("p", problem, classes="error", id="manual-error", role="alert")
    error.hidden = not problem
    status = element("p", classes="status", id="manual-status", role="status")
    status.dataset.state = connection.stage.value
    append(panel, error, status)
    stage, name = connection.stage, connection.peer_name or "your contact"

    if stage is Stage.IDLE:
        create = element("button", "Create an offer", id="manual-create", type="button")

        async def create_clicked(_event: Any) -> None:
            await actions.create()

        handlers.on_async(create, "click", create_clicked)
        append(
            panel,
            element("h3", "Start: make an offer"),
            create,
            element("h3", "Or answer your contact's offer"),
            _paste_form(
                "manual-offer",
                "Their offer",
                "Answer this offer",
                "Scan an offer QR code",
                handlers=handlers,
                submit=actions.answer,
                scan=actions.scan_offer,
                error=error,
            ),
        )
    elif stage is Stage.MAKING:
        status.textContent = "Gathering this device's network addresses…"
    elif stage is Stage.OFFERED and connection.offer is not None:
        append(
            panel,
            element("h3", "1. Give this offer to your contact"),
            *_packet_block(connection.offer, "offer", "manual-offer", handlers),
            element("h3", "2. Paste or scan their answer"),
            _paste_form(
                "manual-answer",
                "Their answer",
                "Connect",
                "Scan an answer QR code",
                handlers=handlers,
                submit=actions.connect,
                scan=actions.scan_answer,
                error=error,
            ),
        )
    elif stage is Stage.ANSWERED and connection.answer is not None:
        status.textContent = f"Offer from {name} checked. Waiting for {name} to take your answer…"
        append(
            panel,
            element("h3", f"Give this answer to {name}"),
            *_packet_block(connection.answer, "answer", "manual-answer", handlers),
        )
    elif stage is Stage.CONNECTING:
        status.textContent = f"Answer from {name} checked. Connecting…"
    elif stage is Stage.FAILED:
        error.textContent, error.hidden = connection.problem, False
        restart = element("button", "Start again", id="manual-restart", type="button")

        async def restart_clicked(_event: Any) -> None:
            await actions.restart()

        handlers.on_async(restart, "click", restart_clicked)
        append(panel, restart)
    container.append(panel)

    async def back_clicked(_event: Any) -> None:
        await actions.back()

    handlers.on_async(back, "click", back_clicked)
