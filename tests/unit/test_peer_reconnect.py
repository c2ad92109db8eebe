"""Two headless peers (real ``python app.py peer run`` processes) stay a working pair through a crash of
the server: the broker and the mailbox come back on the same port and data, both peers register again by
themselves, and a peer that was away meanwhile gets what was written to it.

Everything real on loopback (``./dev pytest``'s namespace): ``app.py serve`` with its broker and mailbox,
aiortc in each peer (``--allow-loopback``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rig.headless_peer import HeadlessPeer
from tests.rig.server import LiveServerFactory

CONNECT_S = 60.0


def onlines(peer: HeadlessPeer) -> int:
    return sum(1 for event in peer.events if event["event"] == "online")


def registered_again(peer: HeadlessPeer) -> None:
    """Until ``peer`` printed "online" a second time (its broker connection came back)."""
    peer.wait_until(
        lambda event: event["event"] == "online" and onlines(peer) >= 2, CONNECT_S, "'online' again"
    )


@pytest.mark.parametrize("away", [False, True], ids=["registers-again", "mail-while-away"])
def test_both_peers_come_back_after_the_server_is_killed(
    live_server_factory: LiveServerFactory, tmp_path: Path, away: bool
) -> None:
    server = live_server_factory()
    bot = HeadlessPeer(tmp_path, server.url, name="Echo bot")
    alice = HeadlessPeer(tmp_path, server.url, name="Alice")
    try:
        bot.start("--echo")
        alice.start("--connect", bot.invite_link())
        alice.wait_for("status", peer=bot.peer_id, state="ready", timeout=CONNECT_S)
        alice.type(f"/msg {bot.peer_id} before the crash")
        alice.wait_for("message", peer=bot.peer_id, text="before the crash", timeout=CONNECT_S)

        # The server dies (SIGKILL) and comes back on the same port and data: both register again.
        server.kill()
        for peer in (bot, alice):
            peer.wait_for("broker", state="unreachable", timeout=CONNECT_S)
        assert [onlines(peer) for peer in (bot, alice)] == [1, 1]
        server.start()
        for peer in (bot, alice):
            registered_again(peer)

        if not away:
            return
        # The bot goes away; Alice writes; her text waits in the bot's mailbox on the restarted server;
        # the bot, back, prints it before it registers, and Alice's call finds it through the broker.
        assert bot.stop() == 0
        alice.wait_until(
            lambda event: (
                event["event"] == "status"
                and event.get("peer") == bot.peer_id
                and event.get("state") != "ready"
            ),
            CONNECT_S,
            "the bot's link closing",
        )
        alice.type(f"/msg {bot.peer_id} while you were away")
        alice.wait_for("queued", peer=bot.peer_id, timeout=CONNECT_S)
        bot.start("--echo")
        fetched = bot.wait_for("message", peer=alice.peer_id, text="while you were away", timeout=1)
        assert bot.events.index(fetched) < bot.events.index(bot.wait_for("online"))
        alice.wait_for("status", peer=bot.peer_id, state="ready", timeout=CONNECT_S)
        alice.wait_for("message", peer=bot.peer_id, text="while you were away", timeout=CONNECT_S)
    finally:
        codes = [bot.stop(), alice.stop()]
    assert codes == [0, 0], bot.output() + "\n" + alice.output()
