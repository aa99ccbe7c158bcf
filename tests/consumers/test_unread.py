"""Read positions over live sockets: the ``read`` frame, ``read_seq`` in ``ready``, the
``/ws/me/`` sidebar with its ``activity`` and ``read`` frames, on both layers."""

import pytest
from asgiref.sync import sync_to_async

from chat import services
from chat.models import Message, ReadPosition
from chat.realtime import readers, watchers
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"
ME = "/ws/me/"


async def _post(room, user, body: str) -> Message:
    result = await sync_to_async(services.post_message)(room=room, author=user, body=body)
    return result.message


async def _position(user, room) -> int | None:
    row = await ReadPosition.objects.filter(user=user, room=room).afirst()
    return None if row is None else row.seq


async def test_first_open_creates_the_position_at_the_newest_message(
    mode, room, user, other_user, token
):
    for n in range(3):
        await _post(room, other_user, f"m{n}")
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["read_seq"] == 3
    assert await _position(user, room) == 3


async def test_read_advances_never_backwards_and_is_saved_on_disconnect(
    mode, room, user, other_user, token
):
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["read_seq"] == 0
        for n in range(4):
            await _post(room, other_user, f"m{n}")
        await alice.expect("message", seq=4)
        await alice.send("read", seq=3)
        await alice.send("read", seq=1)  # an older tab: ignored
        await alice.send("ping")
        await alice.expect("pong")
        # Not in the database yet: coalesced.
        assert await _position(user, room) == 0
    await readers.flush_all()
    assert await _position(user, room) == 3
    async with connect(ROOM, token=token) as again:
        assert again.ready["read_seq"] == 3


async def test_read_beyond_what_was_delivered_is_clamped(mode, room, user, token):
    async with connect(ROOM, token=token) as alice:
        await alice.send("read", seq=10_000)
        await alice.send("ping")
        await alice.expect("pong")
    await readers.flush_all()
    assert await _position(user, room) == 0


@pytest.mark.parametrize(
    "frame, detail",
    [
        ({"type": "read"}, "seq must be an integer"),
        ({"type": "read", "seq": "3"}, "seq must be an integer"),
        ({"type": "read", "seq": True}, "seq must be an integer"),
        ({"type": "read", "seq": 1.5}, "seq must be an integer"),
        ({"type": "read", "seq": -1}, "seq must be at least 0"),
    ],
)
async def test_bad_read_frames_get_an_error_and_keep_the_connection(
    mode, room, user, token, frame, detail
):
    import json

    async with connect(ROOM, token=token) as alice:
        await alice.send_raw(json.dumps(frame))
        error = await alice.expect("error")
        assert error["code"] == "bad_request" and error["detail"] == detail
        await alice.send("ping")
        await alice.expect("pong")
    await readers.flush_all()
    assert await _position(user, room) == 0


async def test_posting_reads_the_room_up_to_your_message(mode, room, user, other_user, token):
    async with connect(ROOM, token=token) as alice:
        await _post(room, other_user, "before")
        await alice.expect("message", seq=1)
        await alice.send("message", body="mine", client_id="c1")
        await alice.expect("ack", client_id="c1")
    await readers.flush_all()
    assert await _position(user, room) == 2


async def test_sidebar_lists_rooms_with_unread_and_mentions(
    mode, room, make_room, user, other_user, token
):
    other = await sync_to_async(make_room)("dev")
    await ReadPosition.objects.acreate(user=user, room=room, seq=0)
    await ReadPosition.objects.acreate(user=user, room=other, seq=0)
    await _post(room, other_user, "one")
    await _post(room, other_user, "two @alice")  # stored as a mention of alice
    await _post(room, user, "my own")  # not unread
    async with connect(ME, token=token) as me:
        rooms = {r["slug"]: r for r in me.ready["rooms"]}
    assert me.ready["user"] == "alice"
    assert rooms["lobby"]["unread"] == 2 and rooms["lobby"]["mentions"] == 1
    assert rooms["lobby"]["last_seq"] == 3 and rooms["lobby"]["read_seq"] == 0
    assert rooms["dev"]["unread"] == 0 and rooms["dev"]["mentions"] == 0


async def test_activity_and_read_reach_the_sidebar_live(mode, room, user, other_user, token):
    await ReadPosition.objects.acreate(user=user, room=room, seq=0)
    async with connect(ME, token=token) as me, connect(ROOM, token=token) as tab:
        await _post(room, other_user, "hello")
        activity = await me.expect("activity", room="lobby")
        assert activity == {"type": "activity", "room": "lobby", "seq": 1, "new": 1, "mentions": 0}
        await tab.expect("message", seq=1)
        await tab.send("read", seq=1)
        assert await me.expect("read", room="lobby") == {"type": "read", "room": "lobby", "seq": 1}


async def test_posting_clears_your_own_sidebar_through_the_rooms_activity(
    mode, room, user, other_user, token
):
    await ReadPosition.objects.acreate(user=user, room=room, seq=0)
    async with connect(ME, token=token) as me, connect(ROOM, token=token) as tab:
        await _post(room, other_user, "hello")
        await me.expect("activity", seq=1)
        await tab.send("message", body="answer", client_id="a1")
        await tab.expect("ack", client_id="a1")
        activity = await me.expect("activity", seq=2)
        assert activity["new"] == 0
        assert await me.expect("read", room="lobby") == {"type": "read", "room": "lobby", "seq": 2}


async def test_activity_is_coalesced_per_room(mode, room, user, other_user, token, monkeypatch):
    # A long interval, so that the burst surely falls inside it on a busy machine.
    monkeypatch.setattr(watchers, "ACTIVITY_INTERVAL", 2.5)
    await ReadPosition.objects.acreate(user=user, room=room, seq=0)
    async with connect(ME, token=token) as me:
        await _post(room, other_user, "first")
        first = await me.expect("activity")
        for n in range(5):
            await _post(room, other_user, f"burst {n}")
        second = await me.expect("activity", timeout=5)
        await me.expect_nothing(0.3)
    assert first["seq"] == 1 and first["new"] == 1
    # The burst within the interval arrives as one frame.
    assert second["seq"] == 6 and second["new"] == 5


async def test_opening_a_new_room_adds_it_to_the_live_sidebar(mode, room, user, other_user, token):
    async with connect(ME, token=token) as me:
        assert me.ready["rooms"] == []
        async with connect(ROOM, token=token) as tab:
            await _post(room, other_user, "hello")
            await tab.expect("message", seq=1)
            await tab.send("read", seq=1)
            # The room's first read names it: the sidebar adds it and watches it.
            assert (await me.expect("read", room="lobby"))["seq"] == 1
        await _post(room, other_user, "again")
        # (The activity of "hello" may come too, late: activity has its own queue.)
        activity = await me.expect("activity", room="lobby", seq=2, timeout=5)
    assert activity["new"] == 1


async def test_the_me_socket_refuses_anonymous_and_takes_only_ping(mode, room, token):
    async with connect(ME, expect_ready=False) as anonymous:
        await anonymous.expect_close(4401)
    async with connect(ME, token=token) as me:
        await me.send("read", seq=1)
        assert (await me.expect("error"))["code"] == "bad_request"
        await me.send("ping")
        await me.expect("pong")
