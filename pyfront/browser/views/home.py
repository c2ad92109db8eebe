"""Home: who I am on this device and the invite link to hand out (the link carries my peer id and the
fingerprint of my identity key in its fragment, ``pyfront.invite``)."""

from __future__ import annotations

from typing import Any

from pyfront.browser.ui import Handlers, append, element


def render(container: Any, handlers: Handlers, *, name: str, invite_link: str, protected: bool) -> None:
    panel = element("section", classes="panel home", id="home", aria_labelledby="home-title")
    append(panel, element("h2", f"Hello, {name}", id="home-title"))
    if not protected:
        append(
            panel,
            element(
                "p",
                "No passphrase is set: the key protecting your data is stored unprotected on this device.",
                classes="warning",
                id="home-unprotected",
                role="note",
            ),
        )
    invite = element("section", classes="invite", aria_labelledby="invite-title")
    link = element("input", id="invite-link", type="text", readonly="", aria_label="Your invite link")
    link.value = invite_link
    copy = element("button", "Copy invite link", id="invite-copy", type="button", classes="secondary")
    status = element("p", classes="muted", id="invite-status", role="status")
    append(
        invite,
        element("h3", "Invite someone", id="invite-title"),
        element(
            "p",
            "Send this link to a contact over a channel you trust. It names your identity key, so the "
            "connection it opens is checked end to end.",
            classes="muted",
        ),
        link,
        copy,
        status,
    )
    append(panel, invite)
    container.append(panel)

    async def copied(_event: Any) -> None:
        import js  # noqa: PLC0415

        link.select()
        try:
            await js.navigator.clipboard.writeText(invite_link)
            status.textContent = "Copied."
        except Exception:
            status.textContent = "Select the link and copy it (the browser refused clipboard access)."

    handlers.on_async(copy, "click", copied)
