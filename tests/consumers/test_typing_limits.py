"""Typing floods and frame floods are cut at the server, in both modes.

One client sent 300 ``typing`` frames in 30 ms and every other member received all
300, also while muted and in a locked room.
"""

import pytest
from asgiref.sync import sync_to_async

from chat import services
from chat.realtime import limits
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def settle(client) -> None:
    """Wait until every frame ``client`` sent was handled: a ping finally answered."""
    # receive_output's timeout would cancel the application; receive_nothing does not.
    for _ in range(50):
        await client.send("ping")
        while not await client.communicator.receive_nothing(0.2):
            if (await client.receive())["type"] == "pong":
                return
        # Nothing came: that ping was dropped while the frame budget refills.
    raise AssertionError("no pong: the frame budget never refilled")


async def flood_then_mark(alice, bob) -> list[dict]:
    for n in range(300):
        await alice.send("typing", active=n % 2 == 0)
    await settle(alice)
    await alice.send("message", body="end", client_id="end")
    await bob.expect("message", body="end", timeout=5)
    return [frame for frame in bob.seen if frame["type"] == "typing"]


async def test_a_typing_flood_reaches_the_others_at_most_as_one_start_and_one_stop(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.expect("join", user="bob")
        typing = await flood_then_mark(alice, bob)

    assert typing[:1] == [{"type": "typing", "user": "alice", "active": True}]
    assert len(typing) <= 2
    # The flood itself met the per-connection budget: one error, not hundreds.
    errors = [f for f in alice.seen if f["type"] == "error" and f["code"] == "rate_limited"]
    assert 1 <= len(errors) <= 3


async def test_a_stop_without_a_start_is_not_forwarded(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.expect("join", user="bob")
        for _ in range(5):
            await alice.send("typing", active=False)
        await alice.send("message", body="end")
        await bob.expect("message", body="end")
    assert not [f for f in bob.seen if f["type"] == "typing"]


async def test_a_muted_user_typing_is_not_forwarded(
    mode, room, user, staff_user, token, other_token
):
    await sync_to_async(services.mute_user)(room=room, user=user, by=staff_user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.expect("join", user="bob")
        await alice.send("typing")
        await settle(alice)
        await bob.send("message", body="end")
        await bob.expect("message", body="end")
        await alice.expect("message", body="end")
    assert not [f for f in bob.seen if f["type"] == "typing"]


async def test_typing_in_a_locked_room_is_forwarded_only_for_moderators(
    mode, room, user, other_user, staff_user, token, other_token
):
    await sync_to_async(services.set_room_state)(room=room, by=staff_user, is_locked=True)
    await sync_to_async(room.moderators.add)(other_user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.expect("join", user="bob")
        await alice.send("typing")
        await settle(alice)
        await bob.send("typing")
        assert (await alice.expect("typing"))["user"] == "bob"
        await bob.send("message", body="end")  # a moderator may post in a locked room
        await bob.expect("message", body="end")
    assert not [f for f in bob.seen if f["type"] == "typing"]


async def test_a_frame_flood_is_dropped_with_one_error_per_second(embedded, room, token):
    async with connect(ROOM, token=token) as alice:
        for _ in range(limits.FRAME_BURST + 50):
            await alice.send("ping")
        error = await alice.expect("error")
        while not await alice.communicator.receive_nothing(0.5):
            await alice.receive()
    assert error["code"] == "rate_limited" and error["retry_after"] >= 0
    pongs = [f for f in alice.seen if f["type"] == "pong"]
    assert limits.FRAME_BURST <= len(pongs) < limits.FRAME_BURST + 50
    assert len([f for f in alice.seen if f["type"] == "error"]) <= 3
