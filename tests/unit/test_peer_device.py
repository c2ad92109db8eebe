"""The headless device (pyfront.peer.device) over an in-memory link: what it prints, and echo mode.

The messenger, sessions and identity files are real; only the data channel is the in-memory one of
tests/unit/test_messenger.py (tests/browser/test_app_headless_peer.py runs the same over aiortc and the
broker, against the page).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import DecodeError, InvalidStateError
from pyfront.messaging.chat import Direction, Status
from pyfront.messaging.invite import parse_link
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.peer.console import Command, Console, parse_command
from pyfront.peer.device import HeadlessPeer, create_identity, load_device
from pyfront.peer.store import IdentityFile
from pyfront.session.identity import matches_invite_fingerprint
from tests.unit.test_messenger import Clock, MemoryLink, Wire, pump
from tests.unit.test_peer_store import ITERATIONS, PASSPHRASE, every_byte, person

PROVIDER = NativeProvider()
SERVER = "http://127.0.0.1:8000"


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


class Bot:
    """A ``HeadlessPeer`` on its own identity file, printing JSON lines into a buffer."""

    def __init__(self, peer: HeadlessPeer, output: io.StringIO) -> None:
        self.peer, self._output = peer, output

    @classmethod
    async def create(cls, directory: Path, *, echo: bool, settings: Settings | None = None) -> Bot:
        """A new identity file (with ``settings`` stored in it, if given), loaded as ``peer run`` does."""
        store = await IdentityFile.create(
            directory / "bot.parley", PROVIDER, PASSPHRASE, iterations=ITERATIONS
        )
        await create_identity(store, PROVIDER, "Echo bot")
        if settings is not None:
            await store.put_json("settings", "main", settings.to_dict())
        device = await load_device(store, PROVIDER)
        output = io.StringIO()
        console = Console(json_lines=True, stream=output)
        peer = HeadlessPeer(
            PROVIDER,
            store,
            device,
            server_url=SERVER,
            console=console,
            save_dir=directory / "saved",
            echo=echo,
        )
        await peer.load()
        return cls(peer, output)

    @property
    def peer_id(self) -> str:
        return self.peer.device.profile.peer_id

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self._output.getvalue().splitlines()]
        return [event for event in lines if kind is None or event["event"] == kind]


async def call(bot: Bot, caller: Messenger, caller_id: str) -> Wire:
    """``caller`` dials the bot over an in-memory link; frames flow until quiet."""
    wire = Wire()
    fp_bot, fp_caller = PROVIDER.random_bytes(32), PROVIDER.random_bytes(32)
    link_bot = MemoryLink(wire, bot.peer_id, fp_bot, fp_caller)
    link_caller = MemoryLink(wire, caller_id, fp_caller, fp_bot)
    link_bot.peer, link_caller.peer = link_caller, link_bot
    link_bot.target, link_caller.target = (caller, bot.peer_id), (bot.peer.messenger, caller_id)
    await bot.peer.messenger.link_open(caller_id, link_bot)
    await caller.link_open(bot.peer_id, link_caller)
    await pump(wire)
    return wire


async def settle(wire: Wire) -> None:
    """Let the bot's spawned steps (an echo) run, and deliver what they sent."""
    for _ in range(5):
        await asyncio.sleep(0)
        await pump(wire)


CALLER = "pcaller" + "2" * 25


async def call_between(callee: Bot, caller: Bot) -> Wire:
    """Two devices: ``caller`` dials ``callee`` over an in-memory link."""
    return await call(callee, caller.peer.messenger, caller.peer_id)


def test_echo_mode_answers_each_text_once_and_prints_it(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        bot = await Bot.create(tmp_path, echo=True)
        caller_store = await IdentityFile.create(
            tmp_path / "c.parley", PROVIDER, PASSPHRASE, iterations=ITERATIONS
        )
        caller = await person(caller_store, "Caller", clock)
        invite = parse_link(bot.peer.invite_link())
        assert invite.peer_id == bot.peer_id and invite.name == "Echo bot"
        assert matches_invite_fingerprint(invite.fingerprint, bot.peer.device.identity.public_key)
        assert bot.peer.invite_link().startswith(SERVER + "/#invite?")
        await caller.add_contact(bot.peer_id, name=invite.name, invite_fingerprint=invite.fingerprint)
        wire = await call(bot, caller, CALLER)

        assert bot.events("request") == [{"event": "request", "peer": CALLER, "name": ""}]
        assert {"event": "status", "peer": CALLER, "state": "ready", "detail": ""} in bot.events("status")
        clock.now += 1
        sent = await caller.send_text(bot.peer_id, "ping \x1b[31m red")
        await settle(wire)
        (printed,) = bot.events("message")
        assert printed == {
            "event": "message",
            "peer": CALLER,
            "id": sent.message_id,
            "name": "Caller",
            "text": "ping \x1b[31m red",
        }
        # (the bot's clock is the real one: order by direction, not by time)
        texts = sorted(
            (m.direction.value, m.text) for m in caller.contact(bot.peer_id).conversation.ordered()
        )
        assert texts == [("in", "ping \x1b[31m red"), ("out", "ping \x1b[31m red")]
        # The same text again (a resend after a lost acknowledgement keeps its id): shown once, echoed once.
        contact = caller.contact(bot.peer_id)
        contact.conversation.messages[sent.message_id].status = Status.SENT
        contact.in_flight[sent.message_id] = 0.0
        frames_before = wire.frames[CALLER]
        clock.now += 30
        await caller.tick()
        assert wire.frames[CALLER] > frames_before  # the copy left
        await settle(wire)
        assert len(bot.events("message")) == 1
        assert len(caller.contact(bot.peer_id).conversation.messages) == 2
        # The bot's echo was acknowledged: its output says so.
        echo_id = bot.events("sent")[0]["id"]
        clock.now += 1
        await caller.tick()
        await bot.peer.messenger.tick()
        await settle(wire)
        assert {"event": "delivered", "peer": CALLER, "id": echo_id} in bot.events("delivered")
        caller_store.close()
        bot.peer.store.close()

    run(body)


async def receipts_caller(tmp_path: Path, clock: Clock, bot: Bot) -> tuple[Messenger, IdentityFile, Wire]:
    """A person with read receipts on (they are reciprocal) who added the bot and called it."""
    store = await IdentityFile.create(tmp_path / "c.parley", PROVIDER, PASSPHRASE, iterations=ITERATIONS)
    caller = await person(store, "Caller", clock)
    caller.settings = Settings(read_receipts=True)
    await caller.add_contact(bot.peer_id, name="Echo bot")
    return caller, store, await call(bot, caller, CALLER)


def status_of(caller: Messenger, bot: Bot, message_id: str) -> Status:
    return caller.contact(bot.peer_id).conversation.messages[message_id].status


def test_the_echo_bot_reads_what_it_answers_and_shows_the_callers_receipt(tmp_path: Path) -> None:
    """A new identity has receipts on: the text the bot printed and echoed turns "read" at its sender,
    the receipt riding in front of the echo (no tick ran to send it alone), though the caller was a
    message request (the echo accepted it first); and the caller's receipt for the echo shows as "read"
    in the bot's output."""

    async def body() -> None:
        clock = Clock()
        bot = await Bot.create(tmp_path, echo=True)
        assert bot.peer.messenger.settings.read_receipts
        caller, caller_store, wire = await receipts_caller(tmp_path, clock, bot)
        assert bot.events("request")
        clock.now += 1
        sent = await caller.send_text(bot.peer_id, "are you there?")
        await settle(wire)
        assert [m.text for m in caller.contact(bot.peer_id).conversation.ordered()] == ["are you there?"] * 2
        assert status_of(caller, bot, sent.message_id) is Status.READ
        assert bot.events("message")[0]["text"] == "are you there?"

        echo_id = bot.events("sent")[0]["id"]
        await caller.mark_read(bot.peer_id)  # the person looks at the chat
        clock.now += 1  # past ACK_DELAY_SECONDS: the caller's tick sends the receipt alone
        await caller.tick()
        await settle(wire)
        steps = [event["event"] for event in bot.events() if event.get("id") == echo_id]
        assert steps == ["sent", "delivered", "read"]  # acknowledged and read in one batch: both printed
        caller_store.close()
        bot.peer.store.close()

    run(body)


def test_with_receipts_off_the_echo_comes_and_the_text_stays_delivered(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        bot = await Bot.create(tmp_path, echo=True, settings=Settings(read_receipts=False))
        caller, caller_store, wire = await receipts_caller(tmp_path, clock, bot)
        clock.now += 1
        sent = await caller.send_text(bot.peer_id, "are you there?")
        await settle(wire)
        assert len(caller.contact(bot.peer_id).conversation.messages) == 2  # the echo came back
        assert status_of(caller, bot, sent.message_id) is Status.DELIVERED  # no receipt rode on it
        assert bot.peer.messenger.contact(CALLER).unreceipted == []  # and none is owed
        caller_store.close()
        bot.peer.store.close()

    run(body)


def test_without_echo_a_request_gets_no_receipt_until_it_is_accepted(tmp_path: Path) -> None:
    """The page's rule: what was read while the caller was a request is never receipted; after
    ``/accept``, a printed text is, riding on the bot's next message."""

    async def body() -> None:
        clock = Clock()
        bot = await Bot.create(tmp_path, echo=False)
        caller, caller_store, wire = await receipts_caller(tmp_path, clock, bot)
        clock.now += 1
        first = await caller.send_text(bot.peer_id, "hello stranger")
        await settle(wire)
        assert bot.peer.messenger.contact(CALLER).conversation.unread == 0  # printed: read
        await bot.peer.run_command(parse_command(f"/accept {CALLER}"))
        clock.now += 1
        second = await caller.send_text(bot.peer_id, "accepted now?")
        await settle(wire)
        await bot.peer.run_command(parse_command(f"/msg {CALLER} yes"))
        await settle(wire)
        assert status_of(caller, bot, first.message_id) is Status.DELIVERED
        assert status_of(caller, bot, second.message_id) is Status.READ
        caller_store.close()
        bot.peer.store.close()

    run(body)


def test_without_echo_the_bot_only_prints_and_a_typed_line_goes_to_the_last_writer(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        bot = await Bot.create(tmp_path, echo=False)
        caller_store = await IdentityFile.create(
            tmp_path / "c.parley", PROVIDER, PASSPHRASE, iterations=ITERATIONS
        )
        caller = await person(caller_store, "Caller", clock)
        await caller.add_contact(bot.peer_id)
        wire = await call(bot, caller, CALLER)
        with pytest.raises(InvalidStateError, match="no contact chosen"):
            await bot.peer.run_command(Command("text", text="to nobody"))
        clock.now += 1
        await caller.send_text(bot.peer_id, "hello bot")
        await settle(wire)
        assert [m.text for m in caller.contact(bot.peer_id).conversation.ordered()] == ["hello bot"]
        clock.now += 1
        await bot.peer.run_command(parse_command("hello caller\n"))  # to the last one who wrote
        await bot.peer.run_command(parse_command("/msg Caller by name"))
        await settle(wire)
        received = [
            m.text
            for m in caller.contact(bot.peer_id).conversation.ordered()
            if m.direction is Direction.INCOMING
        ]
        assert received == ["hello caller", "by name"]
        with pytest.raises(InvalidStateError, match="no contact"):
            bot.peer.find("Nobody")
        await bot.peer.run_command(Command("contacts"))
        assert bot.events("contact")[-1] == {
            "event": "contact",
            "peer": CALLER,
            "name": "Caller",
            "state": "ready",
        }
        with pytest.raises(DecodeError):
            await bot.peer.connect("not a link or an id!")
        with pytest.raises(InvalidStateError, match="our own"):
            await bot.peer.connect(bot.peer.invite_link())
        caller_store.close()
        bot.peer.store.close()

    run(body)


def on_disk(path: Path) -> tuple[bytes, int]:
    """A saved file's bytes and permission bits."""
    return path.read_bytes(), path.stat().st_mode & 0o777


async def settle_files(wire: Wire, *bots: Bot) -> None:
    """Deliver frames and let both sides' transfer workers and file writers run until quiet."""
    for _ in range(400):
        await pump(wire)
        for bot in bots:
            await bot.peer.files.transfers.idle()
        await asyncio.sleep(0)
        if not wire.queue and all(len(bot.peer.files._tasks) == 1 for bot in bots):  # the worker alone
            return
    raise AssertionError("the transfers never settled")


def test_files_go_both_ways_are_saved_and_leave_the_identity_file(tmp_path: Path) -> None:
    async def body() -> None:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        bot = await Bot.create(tmp_path / "a", echo=False)
        other = await Bot.create(tmp_path / "b", echo=False)
        for side in (bot, other):
            side.peer.files.start()
        await other.peer.messenger.add_contact(bot.peer_id)
        wire = await call_between(bot, other)
        for side, peer_id in ((bot, other.peer_id), (other, bot.peer_id)):
            side.peer.contact_status_changed(peer_id)  # the device hears "ready" as from the network

        photo = PROVIDER.random_bytes(150_000)  # three chunks, the last one short
        source = tmp_path / "holiday photo.png"
        source.write_bytes(photo)
        await other.peer.run_command(parse_command(f"/send {bot.peer_id} {source}"))
        # The file waits in the sender's identity file, sealed: none of it in clear on its disk.
        assert len(await other.peer.store.keys("chunk")) == 3
        assert photo[:32] not in every_byte(tmp_path / "b") and photo[-32:] not in every_byte(tmp_path / "b")
        await settle_files(wire, bot, other)
        (saved,) = bot.events("saved")
        path = Path(saved["path"])
        assert path == tmp_path / "a" / "saved" / "holiday photo.png"
        assert on_disk(path) == (photo, 0o600)
        offered = bot.events("file")[0]
        assert offered["file"] == "holiday photo.png" and offered["size"] == "150000"
        assert offered["direction"] == "in"
        states = [event["state"] for event in bot.events("progress")]
        assert states[-1] == "complete" and "active" in states
        assert [event["state"] for event in other.events("progress")][-1] == "complete"
        for side in (bot, other):  # the chunks left both identity files once the transfer ended
            assert await side.peer.store.keys("chunk") == []

        # Back the other way, with a name that tries to leave the save directory and one already there.
        (tmp_path / "b" / "saved").mkdir(mode=0o700)
        (tmp_path / "b" / "saved" / "notes.txt").write_text("mine, not to be overwritten")
        reply = tmp_path / "notes.txt"
        reply.write_bytes(b"hello from the bot\n" * 100)
        await bot.peer.run_command(parse_command(f"/send {other.peer_id} {reply}"))
        await settle_files(wire, bot, other)
        (back,) = other.events("saved")
        assert Path(back["path"]) == tmp_path / "b" / "saved" / "notes (1).txt"
        assert on_disk(Path(back["path"])) == (b"hello from the bot\n" * 100, 0o600)
        assert on_disk(tmp_path / "b" / "saved" / "notes.txt")[0] == b"mine, not to be overwritten"
        with pytest.raises(InvalidStateError, match="not a file"):
            await bot.peer.run_command(parse_command(f"/send {other.peer_id} {tmp_path / 'missing'}"))
        for side in (bot, other):
            await side.peer.files.close()
            side.peer.store.close()

    run(body)
