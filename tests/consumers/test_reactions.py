"""The ``react`` frame over a real connection, on both layers: live counts, clear refusals."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import reactions, services
from chat.models import Message, Reaction, RoomChange
from chat.stores import ratelimit
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def _post(client, body="hello"):
    await client.send("message", body=body, client_id=body)
    return (await client.expect("ack", client_id=body))["id"]


async def test_a_reaction_reaches_everyone_live_and_shows_in_history_and_ready(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        message_id = await _post(alice)
        await bob.send("react", id=message_id, emoji="👍")
        for client in (alice, bob):
            update = await client.expect("update")
            assert update["change"] == 1
            assert update["message"]["id"] == message_id
            assert update["message"]["body"] == "hello"
            assert update["message"]["reactions"] == [{"emoji": "👍", "count": 1, "users": ["bob"]}]
        await alice.send("react", id=message_id, emoji="👍", active=True)
        second = await bob.expect("update", change=2)
        assert second["message"]["reactions"][0] == {
            "emoji": "👍",
            "count": 2,
            "users": ["bob", "alice"],
        }
        await alice.send("history", before_seq=2, limit=10)
        assert (await alice.expect("history"))["messages"][0]["reactions"][0]["count"] == 2
        await bob.send("react", id=message_id, emoji="👍", active=False)
        third = await alice.expect("update", change=3)
        assert third["message"]["reactions"][0]["users"] == ["alice"]

    # A new connection's ready (from the cache) and a recovery show the current state.
    async with connect(ROOM, token=other_token) as again:
        assert again.ready["messages"][0]["reactions"][0]["users"] == ["alice"]
    async with connect(ROOM + "?since=0", token=other_token) as recovering:
        assert recovering.ready["recovered"] is True
        assert recovering.ready["messages"][0]["reactions"][0]["count"] == 1


async def test_repeating_a_reaction_sends_nothing_more(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        message_id = await _post(alice)
        await alice.send("react", id=message_id, emoji="🎉")
        await bob.expect("update", change=1)
        await alice.send("react", id=message_id, emoji="🎉")
        await alice.send("react", id=message_id, emoji="🚀", active=False)
        await alice.send("ping")
        await alice.expect("pong")
        await bob.send("ping")
        await bob.expect("pong")
        assert [f.get("change") for f in bob.seen if f["type"] == "update"] == [1]
        assert [f.get("change") for f in alice.seen if f["type"] == "update"] == [1]
    assert await Reaction.objects.acount() == 1
    assert await RoomChange.objects.acount() == 1


async def test_a_reaction_made_by_the_service_shows_in_ready(mode, room, user, other_user, token):
    # Made by the service with no connection open: ready reads the database or cache.
    message = (
        await sync_to_async(services.post_message)(room=room, author=user, body="old")
    ).message
    await sync_to_async(reactions.set_reaction)(
        message=message, user=other_user, emoji="👀", active=True
    )
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["messages"][0]["reactions"] == [
            {"emoji": "👀", "count": 1, "users": ["bob"]}
        ]


BAD_REACTS = [
    ({"id": "x", "emoji": "👍"}, "bad_request"),
    ({"emoji": "👍"}, "bad_request"),
    ({"id": 1, "emoji": 5}, "bad_request"),
    ({"id": 1, "emoji": "👍", "active": "yes"}, "bad_request"),
    ({"id": 1, "emoji": "🤡"}, "bad_reaction"),
    ({"id": 1, "emoji": "👍🏽"}, "bad_reaction"),
    ({"id": 10**9, "emoji": "👍"}, "not_found"),
]


@pytest.mark.parametrize(("fields", "code"), BAD_REACTS, ids=[c for _, c in BAD_REACTS])
async def test_bad_react_gets_an_error_stores_nothing_and_the_connection_lives_on(
    mode, room, token, other_token, fields, code
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        message_id = await _post(alice)
        await bob.expect("message")
        if fields.get("id") == 1:
            fields = fields | {"id": message_id}
        await alice.send("react", **fields)
        error = await alice.expect("error")
        assert error["code"] == code and error["detail"]
        await alice.send("ping")
        await alice.expect("pong")
        await bob.expect_nothing()
    assert await Reaction.objects.acount() == 0
    assert await RoomChange.objects.acount() == 0


async def test_a_message_of_another_room_is_not_found(mode, room, make_room, user, token):
    other = await sync_to_async(make_room)("elsewhere")
    message = (
        await sync_to_async(services.post_message)(room=other, author=user, body="there")
    ).message
    async with connect(ROOM, token=token) as alice:
        await alice.send("react", id=message.pk, emoji="👍")
        assert (await alice.expect("error"))["code"] == "not_found"
    assert await Reaction.objects.acount() == 0


async def test_a_deleted_message_is_message_deleted(mode, room, user, staff_user, token):
    message = (
        await sync_to_async(services.post_message)(room=room, author=user, body="gone")
    ).message
    await sync_to_async(services.delete_message)(message=message, by=staff_user)
    async with connect(ROOM, token=token) as alice:
        await alice.send("react", id=message.pk, emoji="👍")
        assert (await alice.expect("error"))["code"] == "message_deleted"
    assert await Reaction.objects.acount() == 0


async def test_muted_and_locked_refuse_reactions_with_their_codes(
    mode, room, user, other_user, staff_user, token, other_token
):
    message = (
        await sync_to_async(services.post_message)(room=room, author=user, body="hi")
    ).message
    await sync_to_async(services.mute_user)(
        room=room, user=other_user, by=staff_user, until=timezone.now() + timedelta(minutes=5)
    )
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await bob.send("react", id=message.pk, emoji="👍")
        muted = await bob.expect("error")
        assert muted["code"] == "muted" and 0 < muted["retry_after"] <= 300
        await sync_to_async(services.set_room_state)(room=room, by=staff_user, is_locked=True)
        await alice.expect("room")
        await alice.send("react", id=message.pk, emoji="👍")
        assert (await alice.expect("error"))["code"] == "room_locked"
    assert await Reaction.objects.acount() == 0
    assert await Message.objects.acount() == 1


async def test_reactions_are_rate_limited_apart_from_messages(
    mode, room, token, other_token, monkeypatch
):
    monkeypatch.setattr(ratelimit, "REACTION_RATE", ratelimit.RateLimit(3, 60))
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        message_id = await _post(alice)
        for active in (True, False, True):
            await alice.send("react", id=message_id, emoji="👍", active=active)
        for change in (1, 2, 3):
            await bob.expect("update", change=change)
        await alice.send("react", id=message_id, emoji="🎉")
        limited = await alice.expect("error")
        assert limited["code"] == "rate_limited" and 0 < limited["retry_after"] <= 60
        # Messages keep their own budget.
        await _post(alice, "still talking")
    assert await Reaction.objects.acount() == 1
    assert await RoomChange.objects.acount() == 3
