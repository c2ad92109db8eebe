"""RFC 9420 messages test vectors (mlswg/mls-implementations ``messages.json``).

The file is suite-independent: every case runs. Each field decodes as its struct and encodes back to
exactly the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import messages as m

VECTORS = Path(__file__).parent / "mls" / "messages.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())


def _mls_message(kind: type[m.MessageBody]) -> Callable[[bytes], bytes]:
    def round_trip(data: bytes) -> bytes:
        message = m.MLSMessage.decode(data)
        assert isinstance(message.body, kind)
        return message.encode()

    return round_trip


def _struct(kind: type[m.Struct]) -> Callable[[bytes], bytes]:
    return lambda data: kind.decode(data).encode()


def _proposal(kind: type[m.ProposalBody]) -> Callable[[bytes], bytes]:
    return lambda data: kind.decode(data).encode()


def _ratchet_tree(data: bytes) -> bytes:
    return m.encode_ratchet_tree(m.decode_ratchet_tree(data))


def _public_message(content_type: m.ContentType) -> Callable[[bytes], bytes]:
    def round_trip(data: bytes) -> bytes:
        message = m.MLSMessage.decode(data)
        assert isinstance(message.body, m.PublicMessage)
        assert message.body.content.content_type == content_type
        return message.encode()

    return round_trip


FIELDS: dict[str, Callable[[bytes], bytes]] = {
    "mls_welcome": _mls_message(m.Welcome),
    "mls_group_info": _mls_message(m.GroupInfo),
    "mls_key_package": _mls_message(m.KeyPackage),
    "ratchet_tree": _ratchet_tree,
    "group_secrets": _struct(m.GroupSecrets),
    "add_proposal": _proposal(m.Add),
    "update_proposal": _proposal(m.Update),
    "remove_proposal": _proposal(m.Remove),
    "pre_shared_key_proposal": _proposal(m.PreSharedKey),
    "re_init_proposal": _proposal(m.ReInit),
    "external_init_proposal": _proposal(m.ExternalInit),
    "group_context_extensions_proposal": _proposal(m.GroupContextExtensions),
    "commit": _struct(m.Commit),
    "public_message_application": _public_message(m.ContentType.APPLICATION),
    "public_message_proposal": _public_message(m.ContentType.PROPOSAL),
    "public_message_commit": _public_message(m.ContentType.COMMIT),
    "private_message": _mls_message(m.PrivateMessage),
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_messages_vector(name: str) -> None:
    """One test per field, covering every case of the file (reported as a count on failure)."""
    failures = []
    for index, case in enumerate(CASES):
        data = bytes.fromhex(case[name])
        try:
            again = FIELDS[name](data)
        except Exception as error:
            failures.append(f"case {index}: {type(error).__name__}: {error}")
            continue
        if again != data:
            failures.append(f"case {index}: re-encoding differs")
    print(f"messages.json {name}: {len(CASES) - len(failures)}/{len(CASES)} cases passed")
    assert not failures, failures[:5]


def test_every_field_is_covered() -> None:
    assert set(CASES[0]) == set(FIELDS)
    assert len(CASES) == 300
