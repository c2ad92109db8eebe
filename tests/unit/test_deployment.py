"""The deployment file (pyfront/messaging/deployment.py): canonical bytes, refusals, CSP origins, defaults."""

from __future__ import annotations

import json

import pytest

from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.deployment import MAX_DEPLOYMENT_BYTES, Deployment
from pyfront.messaging.settings import IceServer, Settings

TURN = IceServer(("turn:turn.example.org:3478?transport=udp",), "parley", "s3cret")
FULL = Deployment("wss://broker.example.org/peerjs", (TURN,), "https://mail.example.org")


def test_round_trip_is_byte_exact() -> None:
    raw = FULL.to_json()
    assert Deployment.from_json(raw) == FULL
    assert Deployment.from_json(Deployment().to_json()) == Deployment()


def test_the_default_is_the_serving_origin() -> None:
    assert Deployment().connect_origins() == ()
    assert Deployment().initial_settings() == Settings()


def test_new_profiles_start_with_the_deployment_ice_servers() -> None:
    assert FULL.initial_settings().ice_servers == (TURN,)
    assert FULL.initial_settings().broker_url == ""  # the deployment's broker stays the default


def test_connect_origins_name_exactly_the_broker_and_mailbox() -> None:
    assert FULL.connect_origins() == (
        "wss://broker.example.org",
        "https://broker.example.org",
        "https://mail.example.org",
    )
    plain = Deployment("http://127.0.0.1:9000/peerjs", (), "http://127.0.0.1:9000")
    assert plain.connect_origins() == ("ws://127.0.0.1:9000", "http://127.0.0.1:9000")


def test_the_broker_default_applies_only_when_the_person_chose_none() -> None:
    page = "https://chat.example.org/"
    assert Settings().broker_address(page, FULL.broker).host == "broker.example.org"
    assert Settings().broker_address(page, "").host == "chat.example.org"
    own = Settings(broker_url="wss://mine.example.net/peerjs")
    assert own.broker_address(page, FULL.broker).host == "mine.example.net"


def document(**changes: object) -> bytes:
    base = json.loads(FULL.to_json())
    base.update(changes)
    return (json.dumps(base, indent=1, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]\n", "an object expected"),
        (document(version=2), "version 1 expected"),
        (document(format="other"), "format"),
        (document(extra="x"), "fields"),
        (document(broker="javascript:alert(1)"), "broker URL"),
        (document(broker="wss://b.example.org/peerjs?x=1"), "no query"),
        (document(mailbox="ws://mail.example.org"), "must be http"),
        (document(ice_servers=[{"urls": ["turn:t.example.org"]}]), "username and a credential"),
        (FULL.to_json().replace(b"\n", b"\r\n"), "canonical"),
        (b" " + FULL.to_json(), "canonical"),
    ],
)
def test_refuses_what_to_json_never_writes(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        Deployment.from_json(raw)


def test_size_and_count_limits() -> None:
    with pytest.raises(LimitError):
        Deployment.from_json(b" " * (MAX_DEPLOYMENT_BYTES + 1))
    with pytest.raises(LimitError):
        Deployment(ice_servers=(TURN,) * 17)


def test_the_mailbox_default_applies_only_when_the_person_chose_none() -> None:
    page = "https://chat.example.org/"
    assert Settings().mailbox_base(page, FULL.mailbox) == "https://mail.example.org"
    assert Settings().mailbox_base(page, "") == "https://chat.example.org/mailbox/v1"
    own = Settings(mailbox_url="https://mine.example.net/mailbox/v1")
    assert own.mailbox_base(page, FULL.mailbox) == "https://mine.example.net/mailbox/v1"
