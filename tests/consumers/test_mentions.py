"""Mentions over a live connection: the payload says who is mentioned, live and later."""

import pytest
from asgiref.sync import sync_to_async

from chat import services
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def test_a_mention_reaches_the_room_with_its_names(mode, room, user, token, other_token):
    await sync_to_async(room.moderators.add)(user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="@bob see this, @room", client_id="m1")
        await alice.expect("ack", client_id="m1")
        got = await bob.expect("message")
        assert got["mentions"] == ["bob"] and got["mentions_room"] is True
        await bob.send("message", body="@room me too? @alice", client_id="b1")
        reply = await alice.expect("message", client_id="b1")
        assert reply["mentions"] == ["alice"] and "mentions_room" not in reply
        await bob.send("message", body="plain", client_id="b2")
        plain = await alice.expect("message", client_id="b2")
        assert "mentions" not in plain and "mentions_room" not in plain


async def test_ready_recovery_and_history_carry_mentions(mode, room, user, other_user, token):
    post = sync_to_async(services.post_message)
    await post(room=room, author=other_user, body="@alice hello")
    await post(room=room, author=other_user, body="nothing")
    await post(room=room, author=other_user, body="@alice again")
    async with connect(ROOM, token=token) as alice:
        assert [m.get("mentions") for m in alice.ready["messages"]] == [["alice"], None, ["alice"]]
        await alice.send("history", before_seq=3, limit=5)
        page = await alice.expect("history")
        assert [m.get("mentions") for m in page["messages"]] == [["alice"], None]
    async with connect(ROOM + "?since=2", token=token) as alice:
        assert [m.get("mentions") for m in alice.ready["messages"]] == [["alice"]]
