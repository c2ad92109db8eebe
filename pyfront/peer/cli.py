"""``python app.py peer ...``: the headless peer's command line (docs/peer.md).

::

    python app.py peer init   --identity FILE --name NAME [--no-passphrase]
    python app.py peer invite --identity FILE --server URL
    python app.py peer settings --identity FILE [--ice-servers-file PATH] [--relay-only | --no-relay-only]
                              [--mailbox | --no-mailbox] [--mailbox-url URL] [--broker-url URL]
                              [--broker-key KEY] [--max-file-bytes N]
                              [--read-receipts | --no-read-receipts]
    python app.py peer run    --identity FILE --server URL [--echo] [--connect LINK]... [--json]
                              [--allow-loopback] [--register-timeout SECONDS]

The passphrase never comes from the command line (``ps`` shows it to every user of the machine): from
``--passphrase-file PATH`` (its first line), else the environment variable ``--passphrase-env`` names
(``PARLEY_PASSPHRASE`` by default), else a prompt on the terminal. ``--identity`` and ``--server`` default
to ``PARLEY_IDENTITY`` and ``PARLEY_SERVER``.

Every failure is one line on stderr, ``parley peer: error: ...``, and an exit code a script can act on
(``EXIT_*`` below).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, ProtocolError
from pyfront.messaging.invite import parse_link
from pyfront.messaging.settings import Settings, parse_ice_lines
from pyfront.messaging.signaling import valid_peer_id
from pyfront.peer.broker import BrokerRefused, BrokerUnreachable
from pyfront.peer.console import Console
from pyfront.peer.device import (
    REGISTER_TIMEOUT_S,
    HeadlessPeer,
    LocalDevice,
    app_url,
    create_identity,
    load_device,
)
from pyfront.peer.rtc import allow_loopback
from pyfront.peer.store import IdentityFile, IdentityFileError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PASSPHRASE = 3
EXIT_BROKER = 4
EXIT_INVITE = 5
EXIT_IDENTITY_FILE = 6

PASSPHRASE_ENV = "PARLEY_PASSPHRASE"  # noqa: S105  (the name of a variable, not a secret)
IDENTITY_ENV = "PARLEY_IDENTITY"
SERVER_ENV = "PARLEY_SERVER"
#: The page's minimum (``pyfront.browser.views.onboarding.MIN_PASSPHRASE_LENGTH``).
MIN_PASSPHRASE_LENGTH = 8
#: The longest passphrase file read (a passphrase is one line).
MAX_PASSPHRASE_FILE_BYTES = 4096


class CliError(Exception):
    """A failure to report as one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="app.py peer",
        description="A headless Parley device: an encrypted identity file, chats over WebRTC (aiortc).",
        epilog="docs/peer.md describes the output lines, the stdin commands and the exit codes.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{init,invite,settings,run}")

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--identity",
            type=Path,
            default=os.environ.get(IDENTITY_ENV),
            help=f"the identity file (default: ${IDENTITY_ENV})",
        )
        secret = command.add_argument_group("passphrase (never on the command line)")
        secret.add_argument(
            "--passphrase-file", type=Path, metavar="PATH", help="read it from PATH's first line"
        )
        secret.add_argument(
            "--passphrase-env",
            default=PASSPHRASE_ENV,
            metavar="NAME",
            help=f"read it from the environment variable NAME (default: {PASSPHRASE_ENV}); "
            "else it is asked on the terminal",
        )

    def server(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--server",
            default=os.environ.get(SERVER_ENV),
            metavar="URL",
            help=f"the Parley server (its broker is at URL/peerjs; default: ${SERVER_ENV})",
        )

    init = commands.add_parser("init", help="create an identity file")
    common(init)
    init.add_argument("--name", required=True, help="the display name contacts see")
    init.add_argument(
        "--no-passphrase",
        action="store_true",
        help="store the data key beside the data (protects nothing on this machine)",
    )

    invite = commands.add_parser("invite", help="print this identity's invite link")
    common(invite)
    server(invite)

    settings = commands.add_parser(
        "settings",
        help="show or change the stored settings (ICE servers, relay-only, mailbox, broker, read receipts)",
    )
    common(settings)
    settings.add_argument(
        "--ice-servers-file",
        type=Path,
        metavar="PATH",
        help="ICE servers, one per line: URL[,URL...] [username credential] (the page's settings format; "
        "an empty file removes them). A file, so TURN credentials stay off the command line",
    )
    settings.add_argument("--relay-only", action=argparse.BooleanOptionalAction, help="only TURN relays")
    settings.add_argument("--mailbox", action=argparse.BooleanOptionalAction, help="use the server's mailbox")
    settings.add_argument(
        "--mailbox-url", metavar="URL", help="another server's mailbox ('' for the server's)"
    )
    settings.add_argument("--broker-url", metavar="URL", help="another PeerJS broker ('' for the server's)")
    settings.add_argument("--broker-key", metavar="KEY", help="the broker's key")
    settings.add_argument("--max-file-bytes", type=int, metavar="N", help="the largest file sent or accepted")
    settings.add_argument(
        "--read-receipts",
        action=argparse.BooleanOptionalAction,
        help="send a read receipt when a contact's message is printed, and show theirs (the page's setting; "
        "on for a new identity)",
    )

    run = commands.add_parser("run", help="go online and chat (stdin/stdout)")
    common(run)
    server(run)
    run.add_argument("--echo", action="store_true", help="send every text received back to its sender")
    run.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="LINK",
        help="add the contact an invite link (or a peer id) names and call it (repeatable)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object per event")
    run.add_argument(
        "--save-dir",
        type=Path,
        metavar="DIR",
        help="where received files are written (default: IDENTITY-files beside the identity file)",
    )
    run.add_argument(
        "--allow-loopback",
        action="store_true",
        help="offer 127.0.0.1 as an ICE candidate (aiortc skips it; for peers on this machine only)",
    )
    run.add_argument(
        "--register-timeout",
        type=float,
        default=REGISTER_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up when the broker has not accepted us by then (default {REGISTER_TIMEOUT_S:g})",
    )
    return root


# --- the passphrase ---------------------------------------------------------------------------------------


def read_passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    """From the file, else the environment, else the terminal; ``CliError`` when none is available."""
    if args.passphrase_file is not None:
        try:
            with args.passphrase_file.open("rb") as handle:
                data = handle.read(MAX_PASSPHRASE_FILE_BYTES + 1)
        except OSError as error:
            raise CliError(f"cannot read the passphrase file: {error.strerror}", EXIT_PASSPHRASE) from None
        if len(data) > MAX_PASSPHRASE_FILE_BYTES:
            raise CliError("the passphrase file is too large (one line expected)", EXIT_PASSPHRASE)
        try:
            return data.decode("utf-8").splitlines()[0] if data.strip() else ""
        except UnicodeDecodeError:
            raise CliError("the passphrase file is not UTF-8 text", EXIT_PASSPHRASE) from None
    if args.passphrase_env and args.passphrase_env in os.environ:
        return os.environ[args.passphrase_env]
    if not sys.stdin.isatty():
        raise CliError(
            f"no passphrase: use --passphrase-file, set {args.passphrase_env or PASSPHRASE_ENV}, "
            "or run on a terminal",
            EXIT_PASSPHRASE,
        )
    passphrase = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != passphrase:
        raise CliError("the two passphrases differ", EXIT_PASSPHRASE)
    return passphrase


def _identity_path(args: argparse.Namespace) -> Path:
    if args.identity is None:
        raise CliError(f"no identity file: give --identity FILE or set {IDENTITY_ENV}", EXIT_USAGE)
    return Path(args.identity)


def _server_url(args: argparse.Namespace) -> str:
    if not args.server:
        raise CliError(f"no server: give --server URL or set {SERVER_ENV}", EXIT_USAGE)
    try:
        Settings().broker_address(app_url(args.server))
        if not args.server.startswith(("http://", "https://")):
            raise DecodeError("an http:// or https:// URL is needed")
    except ProtocolError as error:
        raise CliError(f"--server {args.server!r}: {error}", EXIT_USAGE) from None
    return str(args.server)


async def _unlock(
    args: argparse.Namespace, provider: NativeProvider, *, read_only: bool = False
) -> IdentityFile:
    path = _identity_path(args)
    header = IdentityFile.read_header(path)
    passphrase = read_passphrase(args) if header.passphrase is not None else None
    try:
        return await IdentityFile.unlock(path, provider, passphrase, read_only=read_only)
    except AuthenticationError:
        raise CliError(f"wrong passphrase for {path}", EXIT_PASSPHRASE) from None


# --- the commands -----------------------------------------------------------------------------------------


async def init_command(args: argparse.Namespace) -> int:
    provider = NativeProvider()
    path = _identity_path(args)
    passphrase: str | None = None
    if not args.no_passphrase:
        passphrase = read_passphrase(args, confirm=True)
        if len(passphrase) < MIN_PASSPHRASE_LENGTH:
            raise CliError(
                f"a passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters (or --no-passphrase)",
                EXIT_PASSPHRASE,
            )
    store = await IdentityFile.create(path, provider, passphrase)
    try:
        profile = await create_identity(store, provider, args.name)
    except BaseException:
        store.close()
        path.unlink(missing_ok=True)
        raise
    store.close()
    print(f"created {path}: {profile.name!r}, peer id {profile.peer_id}")
    if passphrase is None:
        print("warning: no passphrase: anyone who can read this file can read its chats", file=sys.stderr)
    return EXIT_OK


async def invite_command(args: argparse.Namespace) -> int:
    provider = NativeProvider()
    server_url = _server_url(args)
    store = await _unlock(args, provider, read_only=True)  # beside a running peer too
    try:
        device = await _load(store, provider)
    finally:
        store.close()
    print(device.invite().link(app_url(server_url)))
    return EXIT_OK


async def settings_command(args: argparse.Namespace) -> int:
    """Change the settings record (the page's ``settings/main``) as asked, then print it (no secret)."""
    changes: dict[str, object] = {}
    if args.ice_servers_file is not None:
        try:
            text = args.ice_servers_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f"cannot read the ICE servers file: {error}", EXIT_USAGE) from None
        changes["ice_servers"] = _parsed(parse_ice_lines, text)
    for name in (
        "relay_only",
        "mailbox",
        "mailbox_url",
        "broker_url",
        "broker_key",
        "max_file_bytes",
        "read_receipts",
    ):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    provider = NativeProvider()
    store = await _unlock(args, provider)
    try:
        device = await _load(store, provider)
        settings = _parsed(lambda: device.settings.with_changes(**changes))
        if changes:
            await store.put_json("settings", "main", settings.to_dict())
    finally:
        store.close()
    for line in describe(settings):
        print(line)
    return EXIT_OK


def _parsed(step: Any, *args: Any) -> Any:
    """``step(*args)``; a refused value is a usage error that names it (nothing is stored)."""
    try:
        return step(*args)
    except ProtocolError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def describe(settings: Settings) -> list[str]:
    """The settings as ``name: value`` lines; TURN credentials are not shown."""
    servers = [
        ",".join(server.urls) + (" (with credentials)" if server.credential else "")
        for server in settings.ice_servers
    ]
    mailbox = "on" if settings.mailbox else "off"
    mailbox_at = settings.mailbox_url or "the server's"
    broker = settings.broker_url or "the server's"
    return [
        f"ice servers: {'; '.join(servers) or 'none (host candidates only)'}",
        f"relay only: {'yes' if settings.relay_only else 'no'}",
        f"mailbox: {mailbox} ({mailbox_at})",
        f"broker: {broker} (key {settings.broker_key})",
        f"max file bytes: {settings.max_file_bytes}",
        f"read receipts: {'on' if settings.read_receipts else 'off'}",
    ]


async def run_command(args: argparse.Namespace) -> int:
    provider = NativeProvider()
    server_url = _server_url(args)
    for link in args.connect:  # checked before anything else: a bad link is the caller's mistake
        _check_link(link)
    if args.allow_loopback:
        allow_loopback()
    store = await _unlock(args, provider)
    try:
        if not store.vault.protected:
            print("warning: this identity file has no passphrase", file=sys.stderr)
        device = await _load(store, provider)
        peer = HeadlessPeer(
            provider,
            store,
            device,
            server_url=server_url,
            console=Console(json_lines=args.json),
            save_dir=args.save_dir or store.path.with_name(store.path.name + "-files"),
            echo=args.echo,
        )
        try:
            try:
                await peer.load()
            except ProtocolError as error:
                raise CliError(_damaged(error), EXIT_IDENTITY_FILE) from None
            await peer.start(args.register_timeout)
            peer.console.event("invite", link=peer.invite_link())
            for link in args.connect:
                try:
                    await peer.connect(link)
                except ProtocolError as error:
                    raise CliError(f"cannot connect to {link[:80]!r}: {error}", EXIT_INVITE) from None
            loop = asyncio.get_running_loop()
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(number, peer.stop)
            await peer.serve(_stdin_lines())
        finally:
            await peer.close()
    finally:
        store.close()
    return EXIT_OK


async def _load(store: IdentityFile, provider: NativeProvider) -> LocalDevice:
    try:
        return await load_device(store, provider)
    except ProtocolError as error:
        raise CliError(_damaged(error), EXIT_IDENTITY_FILE) from None


def _damaged(error: ProtocolError) -> str:
    return f"the identity file could not be read: {type(error).__name__}: {error}"


def _check_link(link: str) -> None:
    if "#" not in link and valid_peer_id(link):
        return
    try:
        parse_link(link)
    except ProtocolError as error:
        raise CliError(f"bad invite link {link[:80]!r}: {error}", EXIT_INVITE) from None


async def _stdin_lines() -> AsyncIterator[str]:
    """stdin's lines, read by a daemon thread (works for a terminal, a pipe and a file alike; a thread
    blocked in ``readline`` does not hold up the exit)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


COMMAND_FUNCTIONS = {
    "init": init_command,
    "invite": invite_command,
    "settings": settings_command,
    "run": run_command,
}


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        return asyncio.run(COMMAND_FUNCTIONS[args.command](args))
    except CliError as error:
        return _fail(str(error), error.code)
    except IdentityFileError as error:
        return _fail(str(error), EXIT_IDENTITY_FILE)
    except (BrokerUnreachable, BrokerRefused) as error:
        return _fail(str(error), EXIT_BROKER)
    except ProtocolError as error:
        return _fail(f"{type(error).__name__}: {error}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILURE)


def _fail(message: str, code: int) -> int:
    print(f"parley peer: error: {message}", file=sys.stderr)
    return code
