"""User settings (pyfront.messaging.settings): private defaults, validated edits, the RTC configuration."""

from __future__ import annotations

import dataclasses

import pytest

from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.settings import (
    MAX_ICE_SERVERS,
    MAX_URLS_PER_ICE_SERVER,
    IceServer,
    Settings,
    format_ice_lines,
    parse_ice_lines,
)
from pyfront.messaging.signaling import BrokerAddress
from pyfront.storage.migrations import SETTINGS

STUN = IceServer(("stun:stun.example.org:3478",))
TURN = IceServer(("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"), "u", "s3cret")


def test_defaults_are_the_private_choices() -> None:
    settings = Settings()
    assert settings.typing_indicators is False
    assert settings.read_receipts is False
    assert settings.notifications is False
    assert settings.relay_only is False
    assert settings.ice_servers == ()
    assert settings.broker_url == ""
    assert settings.broker_key == "peerjs"
    assert settings.rtc_configuration() == {"iceServers": [], "iceTransportPolicy": "all"}


def test_broker_defaults_to_the_page_origin() -> None:
    address = Settings().broker_address("http://127.0.0.1:8123/some/page?x=1#invite?v=1")
    assert address == BrokerAddress(host="127.0.0.1", port=8123, path="/peerjs", key="peerjs")
    # Only the origin matters for the default; the path of the page is not a broker path.
    assert Settings().broker_address("https://parley.example/").secure is True
    with pytest.raises(DecodeError):
        Settings().broker_address("file:///index.html")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000", BrokerAddress("127.0.0.1", 9000, "/", "k", False)),
        ("https://peer.example/myapp", BrokerAddress("peer.example", 443, "/myapp", "k", True)),
        ("ws://[::1]:9", BrokerAddress("::1", 9, "/", "k", False)),
        ("wss://peer.example:8443/", BrokerAddress("peer.example", 8443, "/", "k", True)),
    ],
)
def test_configured_broker(url: str, expected: BrokerAddress) -> None:
    settings = Settings().with_changes(broker_url=url, broker_key="k")
    assert settings.broker_address("http://ignored.example/") == expected


def test_websocket_url_of_configured_broker() -> None:
    address = Settings(broker_url="https://peer.example/myapp", broker_key="k").broker_address("")
    assert address.websocket_url("pabc", "t") == (
        "wss://peer.example:443/myapp/peerjs?key=k&id=pabc&token=t&version=1.5.5"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/",
        "h:80",
        "http://",
        "javascript:alert(1)",
        "http://h:99999/",
        "http://u:p@h/",
        "http://h/?q=1",
    ],
)
def test_bad_broker_urls_are_refused_without_change(url: str) -> None:
    settings = Settings()
    with pytest.raises(DecodeError):
        settings.with_changes(broker_url=url)
    assert settings == Settings()


def test_broker_key_checks() -> None:
    with pytest.raises(DecodeError):
        Settings(broker_key="")
    with pytest.raises(DecodeError):
        Settings(broker_key="a\nb")
    with pytest.raises(DecodeError):
        Settings(broker_key="k" * 65)


def test_rtc_configuration_with_several_servers_and_relay_only() -> None:
    settings = Settings().with_changes(ice_servers=[STUN, TURN], relay_only=True)
    assert settings.rtc_configuration() == {
        "iceServers": [
            {"urls": ["stun:stun.example.org:3478"]},
            {
                "urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
                "username": "u",
                "credential": "s3cret",
            },
        ],
        "iceTransportPolicy": "relay",
    }


def test_relay_only_needs_a_turn_server() -> None:
    with pytest.raises(DecodeError, match="TURN"):
        Settings().with_changes(relay_only=True)
    with pytest.raises(DecodeError, match="TURN"):
        Settings(ice_servers=(STUN,)).with_changes(relay_only=True)
    relayed = Settings(ice_servers=(TURN,), relay_only=True)
    with pytest.raises(DecodeError, match="TURN"):
        relayed.with_changes(ice_servers=[STUN])  # removing the last TURN server while relay-only


def test_turn_needs_credentials_and_urls_are_checked() -> None:
    with pytest.raises(DecodeError, match="username and a credential"):
        IceServer(("turn:t.example",))
    with pytest.raises(DecodeError, match="username and a credential"):
        IceServer(("turns:t.example",), "u")
    for bad in ("http://t.example", "stun:", "stun:/x", "t.example:3478", "stun:a b"):
        with pytest.raises(DecodeError):
            IceServer((bad,))
    with pytest.raises(DecodeError):
        IceServer(())
    with pytest.raises(LimitError):
        IceServer(("stun:s.example",) * (MAX_URLS_PER_ICE_SERVER + 1))
    with pytest.raises(LimitError):
        Settings(ice_servers=(STUN,) * (MAX_ICE_SERVERS + 1))


def test_credentials_never_print() -> None:
    assert "s3cret" not in repr(TURN)
    assert "s3cret" not in repr(Settings(ice_servers=(TURN,)))
    assert "s3cret" not in str(Settings(ice_servers=(TURN,)))


def test_toggles_must_be_booleans() -> None:
    with pytest.raises(DecodeError):
        Settings().with_changes(read_receipts="yes")


def test_storage_round_trip() -> None:
    settings = Settings(
        broker_url="https://peer.example/",
        broker_key="k",
        ice_servers=(STUN, TURN),
        relay_only=True,
        typing_indicators=True,
        read_receipts=True,
        notifications=True,
        mailbox=False,
        mailbox_url="https://mail.example/mailbox/v1",
    )
    stored = settings.to_dict()
    assert stored["version"] == SETTINGS.version == 2
    assert Settings.from_dict(stored) == settings
    assert Settings.from_dict({"version": 1}) == Settings()
    assert IceServer.from_dict({"urls": "stun:s.example"}) == IceServer(("stun:s.example",))


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        {},
        {"version": 3},
        {"version": 1, "unknown": 1},
        {"version": 2, "mailbox": "yes"},
        {"version": 2, "mailbox_url": "ftp://mail.example/"},
        {"version": 2, "mailbox_url": "https://mail.example/?q=1"},
        {"version": 2, "mailbox_url": 5},
        {"version": 1, "ice_servers": {}},
        {"version": 1, "ice_servers": [{"urls": 5}]},
        {"version": 1, "ice_servers": [{"urls": ["stun:s"], "username": 1}]},
        {"version": 1, "ice_servers": ["stun:s"]},
        {"version": 1, "broker_url": 5},
        {"version": 1, "typing_indicators": 1},
        {"version": 1, "relay_only": True},
    ],
)
def test_bad_stored_settings_are_refused(stored: object) -> None:
    with pytest.raises(DecodeError):
        Settings.from_dict(stored)


def test_the_mailbox_is_on_at_the_page_server_unless_set_elsewhere() -> None:
    assert Settings().mailbox is True
    assert Settings().mailbox_base("http://127.0.0.1:8000/#invite") == "http://127.0.0.1:8000/mailbox/v1"
    elsewhere = Settings(mailbox_url="https://mail.example/mailbox/v1/")
    assert elsewhere.mailbox_base("http://127.0.0.1:8000/") == "https://mail.example/mailbox/v1"


def test_settings_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().relay_only = True  # type: ignore[misc]


def test_ice_lines_round_trip_and_refusals() -> None:
    text = "stun:stun.example.org:3478\n\n  turn:t.example.org:3478,turns:t.example.org:5349 alice s3cret  \n"
    servers = parse_ice_lines(text)
    assert servers == (
        IceServer(("stun:stun.example.org:3478",)),
        IceServer(("turn:t.example.org:3478", "turns:t.example.org:5349"), "alice", "s3cret"),
    )
    assert parse_ice_lines(format_ice_lines(servers)) == servers
    assert parse_ice_lines("") == ()
    with pytest.raises(DecodeError, match="line 1: expected"):
        parse_ice_lines("turn:t.example.org alice")  # a username without a credential
    with pytest.raises(DecodeError, match=r"line 2: .*TURN server needs"):
        parse_ice_lines("stun:s.example.org\nturn:t.example.org")
    with pytest.raises(DecodeError, match=r"line 1: .*not a stun"):
        parse_ice_lines("http://example.org")
    with pytest.raises(DecodeError, match="too long"):
        parse_ice_lines("stun:s.example.org\n" * 2000)
