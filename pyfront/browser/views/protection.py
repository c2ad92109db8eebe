""" "How Parley protects you": the protection explained for people who are not cryptographers.

Reached from settings and from the first-run screen. Every sentence must stay true of the code; each
section names the document with the details (docs/protocol.md, docs/security.md, docs/architecture.md).
The diagram is SVG built element by element (``createElementNS``), so it needs no inline markup or style
and passes the CSP like everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import js

from pyfront.browser.ui import Handlers, append, element

SVG_NS = "http://www.w3.org/2000/svg"

#: (heading, paragraphs, where the details are)
SECTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "What goes from browser to browser",
        (
            "Your messages travel directly between your browser and your contact's, over a WebRTC data "
            "channel. When a direct path is impossible and you configured a TURN relay, the relay passes "
            "along the same encrypted bytes without being able to read them.",
            "The server is there so that two browsers can find each other: it passes connection offers "
            "and network addresses between them, and it serves the app's files.",
            "When your contact is offline, a message waits. With the mailbox setting on (the default), "
            "it is left at the server already locked with all four layers, at a random address only "
            'your contact can empty, and the chat says "queued on server"; the server deletes it once '
            "your contact has fetched it (or after 14 days unfetched). With the mailbox off, it waits "
            "on your device until you are both online.",
        ),
        "docs/architecture.md and docs/mailbox.md",
    ),
    (
        "Four layers of encryption, and why four",
        (
            "Every message is padded to a standard size, then locked four times, each layer with keys of "
            "its own: MLS (the IETF standard for group messaging, RFC 9420), the Double Ratchet of Olm "
            "(as in Matrix), a post-quantum ML-KEM-768 ratchet, and an outer AES-256-GCM layer with fresh "
            "keys for every connection. The data channel's own DTLS encryption wraps all of it.",
            "Why four: each layer gets its keys from its own key exchange. If one algorithm is broken "
            "one day, by a mathematical discovery, a quantum computer or a bug in one implementation, the "
            "other layers still protect your messages. No layer is ever skipped: if any layer fails, the "
            "message is refused.",
        ),
        "docs/protocol.md, section 5",
    ),
    (
        "What the server can and cannot see",
        (
            "The server can see: the random peer id your browser registers with, when you are online, "
            "which peer ids your browser asks to reach, the network (IP) addresses the two browsers "
            "exchange to connect, and, for queued messages, when a locked message is left at or fetched "
            "from a mailbox address and how big it is (messages are padded to standard sizes).",
            "The server cannot see: what you write, who you are beyond that random peer id, or any of "
            "your secret keys. They are made in your browser and leave it only inside a backup you "
            "export, encrypted under the backup passphrase you choose. The connection set-up itself is "
            "checked: the handshake covers both browsers' DTLS fingerprints, so a server that tried to "
            "sit in the middle would make the connection fail, and Parley says so.",
        ),
        "docs/protocol.md, section 3",
    ),
    (
        "What the safety number proves",
        (
            "Each of you has an identity key, made on your own device. The safety number is 60 digits "
            "computed from both identity keys: your contact's app shows the same digits as yours.",
            "Compare them in person or over a call (or scan your contact's QR code on the safety number "
            "screen). If they match, you are talking to the key your contact holds, and nobody is in the "
            "middle. Then mark the contact as verified. If their key ever changes, Parley warns you and "
            "you should compare again.",
        ),
        "docs/protocol.md, section 1",
    ),
    (
        "What the bundle hash is",
        (
            "The short code in the top bar is the start of the app's root hash: one fingerprint over "
            "every file of the app your browser runs. Open it to see the full hash.",
            "Anyone with a copy of Parley's source can check a server with python app.py verify "
            "followed by the server's address: it builds the app itself, downloads every file the server "
            "serves, and says whether they are identical. Your browser keeps a checked copy of the app "
            'for offline use and never switches to a new version until you confirm it under "Fetch '
            'latest statics".',
        ),
        "docs/security.md",
    ),
    (
        "If you clear this site's data",
        (
            "Everything Parley knows lives only in this browser, encrypted: your identity key, your "
            "contacts, their safety numbers and your message history. There is no account, and the server "
            "keeps no copy of your keys or contacts.",
            "Clearing this site's data (or uninstalling the browser) deletes all of it for good. Only an "
            "encrypted backup exported from Settings can bring it back. Without one you start over with a "
            "new identity: your contacts must add you again, and your safety numbers with them are new.",
        ),
        "docs/architecture.md",
    ),
)


def _svg(tag: str, **attributes: str) -> Any:
    node = js.document.createElementNS(SVG_NS, tag)
    for name, value in attributes.items():
        node.setAttribute(name.replace("_", "-"), value)
    return node


def _text(x: str, y: str, words: str, classes: str = "") -> Any:
    node = _svg("text", x=x, y=y, text_anchor="middle")
    if classes:
        node.setAttribute("class", classes)
    node.textContent = words
    return node


def diagram() -> Any:
    """Two browsers joined by the encrypted channel; the server only introduces them."""
    svg = _svg("svg", viewBox="0 0 340 170", role="img", id="protection-diagram")
    svg.setAttribute("class", "diagram")
    title = _svg("title")
    title.textContent = (
        "Your browser and your contact's browser exchange messages directly, inside four layers of "
        "encryption and DTLS. The server only helps them find each other."
    )
    svg.append(title)
    for x, name in (("4", "Your browser"), ("226", "Their browser")):
        svg.append(_svg("rect", x=x, y="10", width="110", height="50", rx="8", **{"class": "box"}))
        svg.append(_text(str(int(x) + 55), "39", name, "label"))
    svg.append(_svg("line", x1="114", y1="35", x2="226", y2="35", **{"class": "channel"}))
    for index in range(4):
        inset = 4 + index * 4
        svg.append(
            _svg(
                "rect",
                x=str(138 + index * 4),
                y=str(inset),
                width=str(64 - index * 8),
                height=str(62 - 2 * inset),
                rx="4",
                **{"class": "layer"},
            )
        )
    svg.append(_text("170", "80", "4 layers + DTLS", "small-label"))
    svg.append(_svg("rect", x="120", y="115", width="100", height="45", rx="8", **{"class": "box server"}))
    svg.append(_text("170", "142", "Server", "label"))
    svg.append(_svg("line", x1="59", y1="60", x2="120", y2="130", **{"class": "signal"}))
    svg.append(_svg("line", x1="281", y1="60", x2="220", y2="130", **{"class": "signal"}))
    svg.append(_text("50", "105", "finding", "small-label"))
    svg.append(_text("290", "105", "each other", "small-label"))
    return svg


def render(container: Any, handlers: Handlers, *, on_back: Callable[[], Awaitable[None]]) -> None:
    panel = element(
        "section", classes="panel protection", id="protection", aria_labelledby="protection-title"
    )
    back = element("button", "← Back", id="protection-back", type="button", classes="secondary")
    back.setAttribute("data-back", "")
    append(
        panel,
        back,
        element("h2", "How Parley protects you", id="protection-title"),
        diagram(),
    )
    for heading, paragraphs, details in SECTIONS:
        section = element("section", classes="protection-part")
        section.append(element("h3", heading))
        for words in paragraphs:
            section.append(element("p", words))
        section.append(element("p", f"Details: {details} in Parley's source.", classes="muted small"))
        panel.append(section)
    container.append(panel)

    async def back_clicked(_event: Any) -> None:
        await on_back()

    handlers.on_async(back, "click", back_clicked)
    back.focus()
