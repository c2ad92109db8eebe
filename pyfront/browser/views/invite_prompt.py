"""An invite link was opened: ask before connecting (connecting shows the inviter our network address).

The invite names the inviter's peer id and identity fingerprint (``pyfront.messaging.invite``); the
handshake then refuses anyone whose identity key does not match, whatever the broker does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pyfront.browser.ui import Handlers, append, element
from pyfront.messaging.invite import Invite


def render(
    container: Any,
    handlers: Handlers,
    invite: Invite | None,
    error: str,
    *,
    on_accept: Callable[[], Awaitable[None]],
    on_decline: Callable[[], Awaitable[None]],
) -> None:
    panel = element("section", classes="panel invite-prompt", id="invite-prompt", aria_labelledby="invite-q")
    problem = element("p", error, classes="error", id="invite-error", role="alert")
    problem.hidden = not error
    if invite is None:
        append(panel, element("h2", "Invite link", id="invite-q"), problem)
        accept = None
    else:
        who = invite.name or "Someone"
        append(
            panel,
            element("h2", f"{who} invites you to chat", id="invite-q"),
            element(
                "p",
                "Connecting shows this contact your network address. The link names their identity key, so "
                "nobody else can answer in their place.",
                classes="muted",
            ),
            element("p", f"Peer id: {invite.peer_id}", classes="muted small"),
            problem,
        )
        accept = element("button", f"Connect to {who}", id="invite-accept", type="button")
        panel.append(accept)
    decline = element("button", "Not now", id="invite-decline", type="button", classes="secondary")
    panel.append(decline)
    container.append(panel)

    async def accepted(_event: Any) -> None:
        assert accept is not None
        accept.disabled = True
        try:
            await on_accept()
        except Exception as failure:
            problem.textContent, problem.hidden = str(failure), False
            accept.disabled = False

    async def declined(_event: Any) -> None:
        await on_decline()

    if accept is not None:
        handlers.on_async(accept, "click", accepted)
        accept.focus()
    handlers.on_async(decline, "click", declined)
