"""Edit, delete and reply over the WebSocket, and changes replayed on reconnect.

Every test runs on both layers (``mode``: in-memory and Redis).
"""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import services
from chat.models import Message, MessageRevision, RoomChange
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def _say(client, body, client_id, **fields):
    await client.send("message", body=body, client_id=client_id, **fields)
    return await client.expect("ack", client_id=client_id)


async def _stored_nothing(message_id, body):
    message = await Message.objects.aget(pk=message_id)
    assert message.body == body and message.deleted_at is None
    assert not await MessageRevision.objects.filter(message_id=message_id).aexists()


# --- edit ---------------------------------------------------------------------------


async def test_an_edit_reaches_everyone_as_update(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        ack = await _say(alice, "helo", "h")
        await alice.send("edit", id=ack["id"], body="hello")
        for client in (alice, bob):
            frame = await client.expect("update")
            assert frame["change"] == 1
            assert frame["message"]["id"] == ack["id"] and frame["message"]["body"] == "hello"
            assert frame["message"]["edited"].endswith("Z")
        await bob.send("history", before_seq=2, limit=10)
        [shown] = (await bob.expect("history"))["messages"]
        assert shown["body"] == "hello" and "edited" in shown


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"body": "x"}, "bad_request"),  # no id
        ({"id": "1", "body": "x"}, "bad_request"),
        ({"id": 1}, "bad_request"),  # no body
        ({"id": 1, "body": "  "}, "empty"),
        ({"id": 1, "body": "x" * 4001}, "too_long"),
    ],
)
async def test_malformed_edits_are_refused(mode, room, token, fields, code):
    async with connect(ROOM, token=token) as alice:
        await alice.send("edit", **fields)
        assert (await alice.expect("error"))["code"] == code
        await alice.send("ping")
        await alice.expect("pong")


async def test_editing_someone_elses_an_unknown_or_another_rooms_message_is_refused(
    mode, room, make_room, user, other_user, token, other_token
):
    other_room = await sync_to_async(make_room)("other")
    elsewhere = await sync_to_async(services.post_message)(
        room=other_room, author=user, body="elsewhere"
    )
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        ack = await _say(alice, "mine", "m")
        await bob.send("edit", id=ack["id"], body="hacked")
        assert (await bob.expect("error"))["code"] == "not_author"
        await alice.send("edit", id=elsewhere.message.pk, body="x")
        assert (await alice.expect("error"))["code"] == "not_found"
        await alice.send("edit", id=10**9, body="x")
        assert (await alice.expect("error"))["code"] == "not_found"
        await alice.expect_nothing()
        await bob.send("ping")
        await bob.expect("pong")  # the connection is kept
    await _stored_nothing(ack["id"], "mine")
    await _stored_nothing(elsewhere.message.pk, "elsewhere")


async def test_an_expired_window_and_a_deleted_message_refuse_the_edit(mode, room, token, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 60
    async with connect(ROOM, token=token) as alice:
        old = await _say(alice, "old", "o")
        await Message.objects.filter(pk=old["id"]).aupdate(
            created_at=timezone.now() - timedelta(minutes=2)
        )
        await alice.send("edit", id=old["id"], body="new")
        assert (await alice.expect("error"))["code"] == "edit_window"
        await alice.send("delete", id=old["id"])
        assert (await alice.expect("error"))["code"] == "edit_window"
        gone = await _say(alice, "gone", "g")
        await alice.send("delete", id=gone["id"])
        await alice.expect("deleted", id=gone["id"])
        await alice.send("edit", id=gone["id"], body="back")
        assert (await alice.expect("error"))["code"] == "message_deleted"
    await _stored_nothing(old["id"], "old")


async def test_edits_spend_the_message_rate_limit(mode, room, token, settings):
    settings.CHAT_RATE_LIMIT = "2/10s"
    async with connect(ROOM, token=token) as alice:
        ack = await _say(alice, "one", "1")
        await alice.send("edit", id=ack["id"], body="two")
        await alice.expect("update")
        await alice.send("edit", id=ack["id"], body="three")
        error = await alice.expect("error")
        assert error["code"] == "rate_limited" and error["retry_after"] > 0
    assert (await Message.objects.aget(pk=ack["id"])).body == "two"


# --- delete -------------------------------------------------------------------------


async def test_the_author_deletes_their_own_and_everyone_sees_the_tombstone(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        ack = await _say(alice, "oops", "o")
        await alice.send("delete", id=ack["id"])
        for client in (alice, bob):
            assert await client.expect("deleted") == {
                "type": "deleted",
                "id": ack["id"],
                "seq": 1,
                "change": 1,
            }
        await bob.send("history", before_seq=2, limit=10)
        assert (await bob.expect("history"))["messages"] == [
            {"id": ack["id"], "seq": 1, "deleted": True}
        ]


async def test_a_member_cannot_delete_another_members_message(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        ack = await _say(alice, "mine", "m")
        await bob.send("delete", id=ack["id"])
        assert (await bob.expect("error"))["code"] == "not_author"
        await bob.send("delete", id=10**9)
        assert (await bob.expect("error"))["code"] == "not_found"
        await bob.send("delete", id="x")
        assert (await bob.expect("error"))["code"] == "bad_request"
        await alice.expect_nothing()
    await _stored_nothing(ack["id"], "mine")


async def test_a_moderator_deletes_anyones_message_over_the_socket(
    mode, room, token, staff_user, make_token
):
    staff_token = await sync_to_async(make_token)(staff_user)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=staff_token) as mod:
        ack = await _say(alice, "spam", "s")
        await mod.send("delete", id=ack["id"])
        await alice.expect("deleted", id=ack["id"])
    assert (await Message.objects.aget(pk=ack["id"])).deleted_by_id == staff_user.pk


# --- replies ------------------------------------------------------------------------


async def test_a_reply_carries_the_quote_to_everyone(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        question = await _say(alice, "lunch?", "q")
        await _say(bob, "yes", "a", reply_to=question["id"])
        frame = await alice.expect("message", client_id="a")
        assert frame["reply_to"] == {
            "id": question["id"],
            "seq": 1,
            "user": "alice",
            "body": "lunch?",
        }
        # The original's deletion shows in the quote of history pages.
        await alice.send("delete", id=question["id"])
        await bob.expect("deleted", id=question["id"])
        await bob.send("history", before_seq=3, limit=10)
        reply = (await bob.expect("history"))["messages"][1]
        assert reply["reply_to"] == {"id": question["id"], "seq": 1, "deleted": True}


async def test_bad_replies_are_refused_with_the_client_id(
    mode, room, make_room, user, token, other_token
):
    elsewhere = await sync_to_async(services.post_message)(
        room=await sync_to_async(make_room)("other"), author=user, body="elsewhere"
    )
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        gone = await _say(alice, "gone", "g")
        await alice.send("delete", id=gone["id"])
        await alice.expect("deleted")
        for target, code in (
            (elsewhere.message.pk, "not_found"),
            (10**9, "not_found"),
            (gone["id"], "message_deleted"),
            ("1", "bad_request"),
            (0, "bad_request"),
        ):
            await bob.send("message", body="re", client_id=f"r{target}", reply_to=target)
            error = await bob.expect("error", client_id=f"r{target}")
            assert error["code"] == code, target
        await bob.send("ping")
        await bob.expect("pong")
    assert await Message.objects.filter(room=room).acount() == 1


# --- changes on reconnect ----------------------------------------------------------


async def _away_while_changed(room, user, staff_user):
    """Four messages; then, while the client is away: an edit, a deletion, a deletion
    and restore, and one new message."""

    def run():
        messages = [
            services.post_message(room=room, author=user, body=f"m{n}").message for n in range(4)
        ]
        return messages

    def change(messages):
        services.edit_message(message=messages[0], by=user, body="m0 fixed")
        services.delete_message(message=messages[1], by=user, moderator=False)
        services.delete_message(message=messages[2], by=staff_user, reason="oops")
        services.restore_message(message=messages[2], by=staff_user)
        services.post_message(room=room, author=user, body="m4")

    messages = await sync_to_async(run)()
    return messages, lambda: sync_to_async(change)(messages)


async def test_a_reconnect_with_since_and_changes_replays_the_final_state(
    mode, room, user, staff_user, token
):
    messages, change = await _away_while_changed(room, user, staff_user)
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["changes"] == 0
    await change()
    async with connect(f"{ROOM}?since=4&changes=0", token=token) as alice:
        assert alice.ready["recovered"] is True and alice.ready["changes"] == 4
        assert [m["body"] for m in alice.ready["messages"]] == ["m4"]
        edited = await alice.expect("update", change=1)
        assert edited["message"]["body"] == "m0 fixed"
        assert await alice.expect("deleted", id=messages[1].pk) == {
            "type": "deleted",
            "id": messages[1].pk,
            "seq": 2,
            "change": 2,
        }
        # Deleted then restored: one frame, its latest state.
        restored = await alice.expect("update", change=4)
        assert restored["message"]["body"] == "m2"
        await alice.expect_nothing()
    async with connect(f"{ROOM}?since=5&changes=4", token=token) as alice:
        assert alice.ready["recovered"] is True and alice.ready["messages"] == []
        await alice.expect_nothing()


async def test_a_reconnect_with_since_only_replays_changes_since_that_message(
    mode, room, user, staff_user, token
):
    messages, change = await _away_while_changed(room, user, staff_user)
    await change()
    async with connect(f"{ROOM}?since=4", token=token) as alice:
        assert alice.ready["changes"] == 4
        kinds = [(await alice.receive())["type"] for _ in range(3)]
        assert kinds == ["update", "deleted", "update"]
    async with connect(f"{ROOM}?since=5", token=token) as alice:
        await alice.expect_nothing()  # the changes came before message 5


async def test_changed_messages_count_toward_the_recovery_limit(
    mode, room, user, staff_user, token, settings
):
    settings.CHAT_RECOVERY_LIMIT = 3
    settings.CHAT_READY_HISTORY = 10
    messages, change = await _away_while_changed(room, user, staff_user)
    await change()
    # One missed message and three changed ones: over the limit of three.
    async with connect(f"{ROOM}?since=4&changes=0", token=token) as alice:
        assert alice.ready["recovered"] is False and alice.ready["changes"] == 4
        shown = alice.ready["messages"]
        assert [m.get("body") for m in shown] == ["m0 fixed", None, "m2", "m3", "m4"]
        await alice.expect_nothing()
    # One missed and one changed since change 3: within it.
    async with connect(f"{ROOM}?since=4&changes=3", token=token) as alice:
        assert alice.ready["recovered"] is True
        await alice.expect("update", change=4)


@pytest.mark.parametrize("query", ["changes=x", "changes=-1", "since=1&changes=1.5"])
async def test_a_malformed_changes_is_refused_with_4400(mode, room, token, query):
    async with connect(f"{ROOM}?{query}", token=token, expect_ready=False) as alice:
        await alice.expect_close(CloseCode.BAD_REQUEST)


async def test_changes_are_numbered_in_the_room_only(mode, room, make_room, user, token):
    other = await sync_to_async(make_room)("other")
    elsewhere = await sync_to_async(services.post_message)(room=other, author=user, body="x")
    await sync_to_async(services.edit_message)(message=elsewhere.message, by=user, body="y")
    async with connect(ROOM, token=token) as alice:
        assert alice.ready["changes"] == 0
    assert await RoomChange.objects.filter(room=other).acount() == 1
