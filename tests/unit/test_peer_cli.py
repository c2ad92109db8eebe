"""``python app.py peer ...`` (pyfront.peer.cli) and its console (pyfront.peer.console).

The commands run in this process through ``cli.main`` (the exit code a script sees, the one line on
stderr); the identity files and the failing brokers are real (a closed loopback port, a WebSocket server
that refuses our id). ``tests/browser/test_app_headless_peer.py`` runs ``peer run`` as a subprocess
against the page.
"""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import aioice.ice
import pytest
from websockets.asyncio.server import ServerConnection, serve

import app
from pyfront.crypto.native import NativeProvider
from pyfront.errors import DecodeError
from pyfront.messaging.invite import parse_link
from pyfront.messaging.settings import Settings
from pyfront.peer import cli, rtc
from pyfront.peer.console import Console, escape, parse_command
from pyfront.peer.store import IdentityFile
from tests.rig.server import LOOPBACK, free_port

PASSPHRASE = "correct horse battery"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The passphrase in the environment (never in argv), no inherited defaults; the identity path."""
    monkeypatch.setenv("PARLEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("PARLEY_IDENTITY", raising=False)
    monkeypatch.delenv("PARLEY_SERVER", raising=False)
    return tmp_path / "bot.parley"


def peer(*argv: str) -> int:
    return cli.main(list(argv))


def init(path: Path, *extra: str) -> int:
    return peer("init", "--identity", str(path), "--name", "Echo bot", *extra)


def test_init_creates_a_protected_file_and_invite_prints_its_link(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    created = capsys.readouterr().out
    assert "peer id p" in created and PASSPHRASE not in created
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert IdentityFile.read_header(env).passphrase is not None
    assert peer("invite", "--identity", str(env), "--server", "http://127.0.0.1:8000") == cli.EXIT_OK
    link = capsys.readouterr().out.strip()
    invite = parse_link(link)
    assert link.startswith("http://127.0.0.1:8000/#invite?") and invite.name == "Echo bot"
    assert created.split("peer id ")[1].strip() == invite.peer_id


def test_init_never_overwrites_an_identity_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(env) == cli.EXIT_OK
    before = env.read_bytes()
    assert init(env) == cli.EXIT_IDENTITY_FILE
    assert "already exists" in capsys.readouterr().err
    assert env.read_bytes() == before


def test_a_short_or_missing_passphrase_creates_nothing(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARLEY_PASSPHRASE", "short")
    assert init(env) == cli.EXIT_PASSPHRASE
    assert "at least 8 characters" in capsys.readouterr().err and not env.exists()
    monkeypatch.delenv("PARLEY_PASSPHRASE")
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115  (not a terminal: nobody to ask)
    assert init(env) == cli.EXIT_PASSPHRASE
    assert "no passphrase" in capsys.readouterr().err and not env.exists()


def test_the_passphrase_comes_from_a_file_or_a_named_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(PASSPHRASE + "\n")
    monkeypatch.delenv("PARLEY_PASSPHRASE")
    assert init(env, "--passphrase-file", str(secret_file)) == cli.EXIT_OK
    monkeypatch.setenv("BOT_SECRET", PASSPHRASE)
    server = ("--server", "http://127.0.0.1:8000")
    assert peer("invite", "--identity", str(env), *server, "--passphrase-env", "BOT_SECRET") == cli.EXIT_OK
    assert peer("invite", "--identity", str(env), *server, "--passphrase-file", str(secret_file)) == 0
    # There is no option that takes the passphrase itself (ps would show it to every user).
    with pytest.raises(SystemExit) as refused:
        peer("invite", "--identity", str(env), *server, "--passphrase", PASSPHRASE)
    assert refused.value.code == cli.EXIT_USAGE


def test_a_wrong_passphrase_is_a_clear_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    before = env.read_bytes()
    monkeypatch.setenv("PARLEY_PASSPHRASE", "not the passphrase")
    assert peer("invite", "--identity", str(env), "--server", "http://127.0.0.1:8000") == cli.EXIT_PASSPHRASE
    assert capsys.readouterr().err == f"parley peer: error: wrong passphrase for {env}\n"
    assert peer("run", "--identity", str(env), "--server", "http://127.0.0.1:8000") == cli.EXIT_PASSPHRASE
    assert env.read_bytes() == before


def test_missing_or_foreign_files_and_bad_options_are_clear_errors(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ("--server", "http://127.0.0.1:8000")
    assert peer("invite", "--identity", str(tmp_path / "missing"), *server) == cli.EXIT_IDENTITY_FILE
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("my shopping list")
    assert peer("invite", "--identity", str(tmp_path / "notes.txt"), *server) == cli.EXIT_IDENTITY_FILE
    assert "not a Parley identity file" in capsys.readouterr().err
    assert peer("invite", *server) == cli.EXIT_USAGE
    assert "no identity file" in capsys.readouterr().err
    assert init(env) == cli.EXIT_OK
    assert peer("run", "--identity", str(env)) == cli.EXIT_USAGE
    assert "no server" in capsys.readouterr().err
    assert peer("run", "--identity", str(env), "--server", "ftp://example") == cli.EXIT_USAGE
    assert "--server" in capsys.readouterr().err


def test_a_bad_invite_link_fails_before_going_online(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(env) == cli.EXIT_OK
    capsys.readouterr()
    bad = "http://127.0.0.1:8000/#invite?v=1&peer=pabc&fp=tooshort"
    code = peer("run", "--identity", str(env), "--server", "http://127.0.0.1:8000", "--connect", bad)
    assert code == cli.EXIT_INVITE
    error = capsys.readouterr().err
    assert error.startswith("parley peer: error: bad invite link") and "fingerprint" in error


def test_an_unreachable_broker_is_a_clear_error_without_the_token(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    capsys.readouterr()
    url = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    code = peer("run", "--identity", str(env), "--server", url, "--register-timeout", "2")
    assert code == cli.EXIT_BROKER
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"parley peer: error: broker unreachable at ws://{LOOPBACK}:")
    assert "connect call failed" in error.lower()
    assert stored_token(env) not in error and "token=" not in error  # a secret: never printed


def stored_token(path: Path) -> str:
    async def read() -> str:
        store = await IdentityFile.unlock(path, NativeProvider(), PASSPHRASE, read_only=True)
        try:
            return str((await store.get_json("profile", "self"))["token"])
        finally:
            store.close()

    return asyncio.run(read())


class RefusingBroker:
    """A PeerJS endpoint that answers every registration with ID-TAKEN (the id is someone else's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(),), daemon=True
        )

    async def _serve(self) -> None:
        self._stop = asyncio.Event()

        async def refuse(socket: ServerConnection) -> None:
            await socket.send(json.dumps({"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}))
            await socket.close()

        async with serve(refuse, LOOPBACK, self.port):
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> RefusingBroker:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def test_a_refusing_broker_is_a_clear_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(env) == cli.EXIT_OK
    capsys.readouterr()
    with RefusingBroker() as broker:
        code = peer("run", "--identity", str(env), "--server", f"http://{LOOPBACK}:{broker.port}")
    assert code == cli.EXIT_BROKER
    assert "the broker refused us (id-taken: ID is taken)" in capsys.readouterr().err


def stored_settings(path: Path) -> Settings:
    async def read() -> Settings:
        store = await IdentityFile.unlock(path, NativeProvider(), PASSPHRASE, read_only=True)
        try:
            return Settings.from_dict(await store.get_json("settings", "main"))
        finally:
            store.close()

    return asyncio.run(read())


def test_settings_set_ice_servers_from_a_file_and_never_print_the_credential(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    servers = tmp_path / "ice.txt"
    servers.write_text("stun:stun.example:3478\nturn:turn.example:3478 alice s3cret-credential\n")
    code = peer("settings", "--identity", str(env), "--ice-servers-file", str(servers), "--relay-only")
    assert code == cli.EXIT_OK
    shown = capsys.readouterr().out
    assert "turn:turn.example:3478 (with credentials)" in shown and "relay only: yes" in shown
    assert "s3cret" not in shown
    stored = stored_settings(env)
    assert stored.relay_only and [server.urls for server in stored.ice_servers] == [
        ("stun:stun.example:3478",),
        ("turn:turn.example:3478",),
    ]
    assert rtc.rtc_configuration(stored).iceTransportPolicy.value == "relay"  # what aiortc is given
    (turn,) = [server for server in rtc.rtc_configuration(stored).iceServers or [] if server.credential]
    assert (turn.username, turn.credential) == ("alice", "s3cret-credential")


def test_settings_refuse_what_the_page_refuses_and_change_nothing(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    capsys.readouterr()
    before = stored_settings(env)
    # Relay-only with no TURN server would gather no candidate at all: refused, as in the page.
    assert peer("settings", "--identity", str(env), "--relay-only") == cli.EXIT_USAGE
    assert "relay-only mode needs at least one TURN server" in capsys.readouterr().err
    bad = tmp_path / "ice.txt"
    bad.write_text("http://not-ice.example\n")
    assert peer("settings", "--identity", str(env), "--ice-servers-file", str(bad)) == cli.EXIT_USAGE
    assert "line 1" in capsys.readouterr().err
    assert peer("settings", "--identity", str(env), "--mailbox-url", "ftp://x") == cli.EXIT_USAGE
    assert stored_settings(env) == before
    assert peer("settings", "--identity", str(env), "--no-mailbox") == cli.EXIT_OK
    assert "mailbox: off" in capsys.readouterr().out and not stored_settings(env).mailbox


def test_a_new_identity_sends_read_receipts_until_the_setting_turns_them_off(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(env) == cli.EXIT_OK
    assert stored_settings(env).read_receipts  # a bot has no reading time to keep private
    capsys.readouterr()
    assert peer("settings", "--identity", str(env)) == cli.EXIT_OK
    assert "read receipts: on" in capsys.readouterr().out.splitlines()
    assert peer("settings", "--identity", str(env), "--no-read-receipts") == cli.EXIT_OK
    assert "read receipts: off" in capsys.readouterr().out.splitlines()
    assert not stored_settings(env).read_receipts


def test_help_names_the_commands_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["run", "--help"], ["init", "--help"]):
        with pytest.raises(SystemExit) as done:
            peer(*argv)
        assert done.value.code == 0
    shown = capsys.readouterr().out
    for word in ("init", "invite", "run", "--echo", "--allow-loopback", "--passphrase-file", "--connect"):
        assert word in shown
    with pytest.raises(SystemExit) as done:
        app.main(["peer", "--help"])  # python app.py peer --help
    assert done.value.code == 0
    assert "{init,invite,settings,run}" in capsys.readouterr().out


# --- --allow-loopback -------------------------------------------------------------------------------------


@pytest.fixture
def host_addresses(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aioice's lister as this machine has it, restored after the test."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["192.0.2.7"])
    yield


def test_allow_loopback_adds_127_0_0_1_to_aioices_host_addresses(host_addresses: None) -> None:
    assert aioice.ice.get_host_addresses(True, False) == ["192.0.2.7"]
    rtc.allow_loopback()
    rtc.allow_loopback()  # idempotent
    assert aioice.ice.get_host_addresses(True, False) == ["192.0.2.7", "127.0.0.1"]
    assert aioice.ice.get_host_addresses(False, True) == ["192.0.2.7"]  # IPv6 only: unchanged


# --- the console ------------------------------------------------------------------------------------------


def test_untrusted_text_cannot_fake_a_line_or_reach_the_terminal() -> None:
    assert escape("two\nlines") == "two\\u000alines"
    assert escape("\x1b[2J\x07") == "\\u001b[2J\\u0007"
    assert escape("abc\u202edef") == "abc\\u202edef"  # a right-to-left override
    assert escape("a\\u000a") == "a\\\\u000a"  # a typed escape stays distinguishable from ours
    assert escape("héllo 👋🏽 ok") == "héllo 👋🏽 ok"
    lines: list[str] = []
    console = Console()
    console.write = lines.append
    console.event("message", "pabc", id="01", name='Ev"e\nmessage pabc 02 "Bob" hi', text="hi\nthere")
    assert lines == ['message pabc 01 "Ev\\u0022e\\u000amessage pabc 02 \\u0022Bob\\u0022 hi" hi\\u000athere']
    console.json_lines = True
    console.event("message", "pabc", text="hi\nthere")
    assert json.loads(lines[-1]) == {"event": "message", "peer": "pabc", "text": "hi\nthere"}


@pytest.mark.parametrize(
    ("line", "name", "contact", "text"),
    [
        ("hello there\n", "text", "", "hello there"),
        ("//msg is not a command", "text", "", "/msg is not a command"),
        ("/msg pabc hi  there", "msg", "pabc", "hi  there"),
        ("/to Bob", "to", "Bob", ""),
        ("/connect http://h/#invite?v=1", "connect", "http://h/#invite?v=1", ""),
        ("/contacts", "contacts", "", ""),
        ("/quit\r\n", "quit", "", ""),
    ],
)
def test_input_lines(line: str, name: str, contact: str, text: str) -> None:
    command = parse_command(line)
    assert (command.name, command.contact, command.text) == (name, contact, text)


@pytest.mark.parametrize("line", ["/unknown", "/msg pabc", "/to", "/to a b", "/quit now", "x" * 200_000])
def test_bad_input_lines_are_refused(line: str) -> None:
    with pytest.raises(DecodeError):
        parse_command(line)
