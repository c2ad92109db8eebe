"""The contact journal record (pyfront.messaging.journal); the messenger's use of it is tested in
tests/unit/test_messenger.py (one write per text, compaction, reload)."""

from __future__ import annotations

import pytest

from pyfront.errors import DecodeError
from pyfront.messaging.journal import JOURNAL, journal_record, open_journal


def test_a_journal_opens_to_its_contact_and_messages() -> None:
    contact = {"version": 2, "peer_id": "p" * 32}
    messages = [{"version": 1, "id": "00" * 16}]
    record = journal_record(contact, messages)
    assert record == {"version": 1, "contact": contact, "messages": messages}
    assert open_journal(record) == (contact, messages)


@pytest.mark.parametrize(
    "record",
    [
        None,
        {"version": 2, "contact": {}, "messages": []},
        {"version": 1, "contact": [], "messages": []},
        {"version": 1, "contact": {}, "messages": {}},
        {"version": 1, "contact": {}, "messages": ["text"]},
        {"version": 1, "messages": []},
    ],
)
def test_a_malformed_journal_is_refused(record: object) -> None:
    with pytest.raises(DecodeError, match=JOURNAL.kind):
        open_journal(record)
