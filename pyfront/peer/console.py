"""What the headless peer prints, one event per line, and what a line typed to it means.

Output (stdout) is one line per event, ``<kind> <peer id> <fields...>``, or with ``--json`` one JSON
object per line (``{"event": kind, "peer": ..., ...}``). Kinds: ``online``, ``invite``, ``broker``,
``status``, ``request``, ``message``, ``sent``, ``delivered``, ``read``, ``failed``, ``contact``,
``error``, ``info`` (docs/peer.md lists their fields). Text from the network (messages, names) is
untrusted: in the text form its control characters and bidirectional overrides are printed as ``\\uXXXX``
escapes (and a backslash as two), so a contact can neither start a new line that looks like another event
nor send escape sequences to the terminal.

Input (stdin) is one command per line (``parse_command``): ``/msg CONTACT TEXT``, ``/send CONTACT PATH``,
``/to CONTACT``,
``/connect INVITE-LINK``, ``/accept CONTACT``, ``/contacts``, ``/invite``, ``/help``, ``/quit``; any
other line is a text to the current contact (the one chosen with ``/to``, else the last one who wrote).
A line starting with ``//`` sends the text with one ``/`` less.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from pyfront.errors import DecodeError

#: Characters printed as escapes besides the C0/C1 controls: bidirectional marks and overrides.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: The longest line read from stdin (a text is at most ``chat.MAX_TEXT_BYTES`` anyway).
MAX_INPUT_LINE = 128 * 1024

COMMANDS = {
    "msg": "/msg CONTACT TEXT   send TEXT to CONTACT (a peer id, or a name only one contact has)",
    "send": "/send CONTACT PATH  send the file at PATH to CONTACT",
    "to": "/to CONTACT         later plain lines go to CONTACT",
    "connect": "/connect LINK       add the contact an invite link names, and call it",
    "accept": "/accept CONTACT     accept a message request",
    "contacts": "/contacts           list the contacts and their state",
    "invite": "/invite             print this peer's invite link",
    "help": "/help               this list",
    "quit": "/quit               leave (Ctrl-C and SIGTERM do the same)",
}


def escape(text: str) -> str:
    """``text`` on one line, with nothing a terminal would act on."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code < 0xA0 or char in BIDI_CONTROLS or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Command:
    """One input line: ``name`` is a key of ``COMMANDS`` or ``"text"`` (a plain line)."""

    name: str
    contact: str = ""
    text: str = ""


def parse_command(line: str) -> Command:
    """One line typed to the peer; ``DecodeError`` for an unknown command or missing arguments."""
    line = line.rstrip("\r\n")
    if len(line) > MAX_INPUT_LINE:
        raise DecodeError(f"a line is at most {MAX_INPUT_LINE} characters")
    if not line.startswith("/") or line.startswith("//"):
        return Command("text", text=line[1:] if line.startswith("//") else line)
    name, _, rest = line[1:].partition(" ")
    if name not in COMMANDS:
        raise DecodeError(f"unknown command /{name} (/help lists them)")
    if name in ("msg", "send"):
        contact, _, text = rest.strip().partition(" ")
        if not contact or not text:
            raise DecodeError("usage: " + COMMANDS[name])
        return Command(name, contact=contact, text=text)
    if name in ("to", "connect", "accept"):
        argument = rest.strip()
        if not argument or " " in argument:
            raise DecodeError("usage: " + COMMANDS[name])
        return Command(name, contact=argument)
    if rest.strip():
        raise DecodeError(f"/{name} takes no argument")
    return Command(name)


class Console:
    """Prints events as text or JSON lines (flushed at once: a pipe reader sees each as it happens)."""

    def __init__(self, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self._stream = stream
        self.write: Callable[[str], None] = self._write

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def event(self, kind: str, peer: str = "", **fields: str) -> None:
        """One event. Text: ``kind peer value...`` in the order given, empty ones left out, ``name`` in
        double quotes (it may hold spaces), the free text last. JSON: ``{"event": kind, "peer": peer}``
        with ``fields``."""
        if self.json_lines:
            record: dict[str, Any] = {"event": kind}
            if peer:
                record["peer"] = peer
            record.update(fields)
            self.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            return
        parts = [kind, peer] if peer else [kind]
        for key, value in fields.items():
            if not value:
                continue
            text = escape(value)
            parts.append('"' + text.replace('"', "\\u0022") + '"' if key == "name" else text)
        self.write(" ".join(parts))
