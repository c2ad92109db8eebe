"""Regenerate ``libolm-conversation.json``: a conversation recorded from libolm 3.2.16 with fixed randomness.

libolm takes all its randomness as explicit byte strings, and python-olm draws them through one
function (``olm._compat.URANDOM``, imported into ``olm.account`` and ``olm.session``). This script
replaces that function with a deterministic source and records every random string libolm consumed
next to what it produced: identity keys, one-time key, session id, and each message's bytes. The test
``tests/unit/test_olm_vectors.py`` replays the same randomness into our implementation and requires
the same bytes. Run: ``.venv/bin/python tests/vectors/olm/generate_libolm_vectors.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import olm
import olm.account
import olm.session

OUTPUT = Path(__file__).with_name("libolm-conversation.json")
# (sender, plaintext): alice starts (pre-key messages until bob replies), then turns, a one-way run,
# and an empty plaintext.
SCRIPT = [
    ("alice", "Hi Bob, this is the first pre-key message"),
    ("alice", "and a second one before you answer"),
    ("bob", "Hello Alice: my first reply starts a new chain"),
    ("alice", "now a normal message on a new chain"),
    ("alice", "same chain, index 1"),
    ("bob", "ratchet again"),
    ("bob", "and again on the same chain"),
    ("bob", ""),
    ("alice", "x" * 100),
    ("bob", "the end ✓"),
]


class Recorder:
    def __init__(self) -> None:
        self.counter = 0
        self.draws: list[bytes] = []

    def __call__(self, length: int | None = None) -> bytes:
        assert length is not None
        out = b""
        while len(out) < length:
            out += hashlib.sha256(b"parley olm vector %d" % self.counter).digest()
            self.counter += 1
        # libolm wipes the random buffer it was given, in place: hand it a copy, keep ours.
        self.draws.append(bytes(out[:length]))
        return bytes(bytearray(out[:length]))

    def last(self) -> str:
        return self.draws[-1].hex() if self.draws else ""


def b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def main() -> None:
    recorder = Recorder()
    olm.account.URANDOM = recorder  # type: ignore[assignment]
    olm.session.URANDOM = recorder  # type: ignore[assignment]

    alice = olm.Account()
    alice_random = recorder.last()
    bob = olm.Account()
    bob_random = recorder.last()
    bob.generate_one_time_keys(1)
    one_time_key_random = recorder.last()
    (one_time_key_id, one_time_key) = next(iter(bob.one_time_keys["curve25519"].items()))
    bob.mark_keys_as_published()

    draws_before = len(recorder.draws)
    alice_session = olm.OutboundSession(alice, bob.identity_keys["curve25519"], one_time_key)
    session_random = recorder.last() if len(recorder.draws) > draws_before else ""
    bob_session: Any = None

    messages = []
    for sender, plaintext in SCRIPT:
        session = alice_session if sender == "alice" else bob_session
        draws_before = len(recorder.draws)
        message = session.encrypt(plaintext)
        random = recorder.last() if len(recorder.draws) > draws_before else ""
        if sender == "alice":
            if bob_session is None:
                assert isinstance(message, olm.OlmPreKeyMessage)
                bob_session = olm.InboundSession(bob, message, alice.identity_keys["curve25519"])
            assert bob_session.decrypt(message) == plaintext
        else:
            assert alice_session.decrypt(message) == plaintext
        messages.append(
            {
                "sender": sender,
                "plaintext": plaintext.encode().hex(),
                "random": random,
                "message_type": message.message_type,
                "message": b64decode(message.ciphertext).hex(),
            }
        )

    vector = {
        "source": "libolm 3.2.16 through python-olm 3.2.16, randomness fixed by generate_libolm_vectors.py",
        "alice": {
            "account_random": alice_random,
            "curve25519": b64decode(alice.identity_keys["curve25519"]).hex(),
            "ed25519": b64decode(alice.identity_keys["ed25519"]).hex(),
            "signature_of_hello": b64decode(alice.sign("hello")).hex(),
        },
        "bob": {
            "account_random": bob_random,
            "curve25519": b64decode(bob.identity_keys["curve25519"]).hex(),
            "ed25519": b64decode(bob.identity_keys["ed25519"]).hex(),
            "one_time_key_random": one_time_key_random,
            "one_time_key_id": one_time_key_id,
            "one_time_key": b64decode(one_time_key).hex(),
        },
        "session_random": session_random,
        "session_id": alice_session.id,
        "messages": messages,
    }
    OUTPUT.write_text(json.dumps(vector, indent=2) + "\n")
    print(f"wrote {OUTPUT} ({len(messages)} messages)")


if __name__ == "__main__":
    main()
