"""Messages, acks, history, typing, reports and pings over a live connection."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat import services
from chat.models import Message, Report
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def test_message_is_acked_to_the_sender_and_broadcast_to_the_room(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        assert alice.ready["room"] == {
            "slug": "lobby",
            "title": "Lobby",
            "locked": False,
            "slow_mode": 0,
        }
        assert alice.ready["user"] == "alice"
        assert alice.ready["messages"] == [] and alice.ready["has_more"] is False
        assert "recovered" not in alice.ready
        assert bob.ready["online"] == ["alice", "bob"]
        await alice.expect("join", user="bob")

        await alice.send("message", body="hello <b>bob</b>", client_id="c1")
        ack = await alice.expect("ack", client_id="c1")
        got = await bob.expect("message")
        mine = await alice.expect("message")

    stored = await Message.objects.select_related("author").aget()
    assert ack == {"type": "ack", "client_id": "c1", "id": stored.pk, "seq": 1, "ts": got["ts"]}
    assert got == mine
    assert got["body"] == "hello <b>bob</b>" and got["user"] == "alice" and got["room"] == "lobby"
    assert got["seq"] == 1 and got["id"] == stored.pk and got["client_id"] == "c1"
    assert got["ts"].endswith("Z")


async def test_messages_get_gapless_seqs_in_order(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        for n in range(5):
            await alice.send("message", body=f"a{n}", client_id=f"a{n}")
            await bob.send("message", body=f"b{n}", client_id=f"b{n}")
        seen = [(await bob.expect("message"))["seq"] for _ in range(10)]
    assert seen == list(range(1, 11))
    assert [m async for m in Message.objects.order_by("seq").values_list("seq", flat=True)] == seen


async def test_repeated_client_id_returns_the_original_ack_and_broadcasts_nothing(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="once", client_id="same")
        first = await alice.expect("ack")
        await bob.expect("message", body="once")
        await alice.send("message", body="once", client_id="same")
        again = await alice.expect("ack")
        assert again == first
        await bob.expect_nothing()
    assert await Message.objects.acount() == 1


async def test_the_same_client_id_from_two_connections_at_once_stores_one_message(
    mode, room, token
):
    async with connect(ROOM, token=token) as tab1, connect(ROOM, token=token) as tab2:
        await asyncio.gather(
            tab1.send("message", body="dup", client_id="twin"),
            tab2.send("message", body="dup", client_id="twin"),
        )
        ack1, ack2 = await tab1.expect("ack"), await tab2.expect("ack")
    assert ack1 == ack2
    assert await Message.objects.acount() == 1


async def test_the_same_client_id_from_different_users_is_two_messages(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="x", client_id="c")
        await bob.send("message", body="y", client_id="c")
        assert (await alice.expect("ack"))["seq"] != (await bob.expect("ack"))["seq"]


async def test_history_pages_backwards_with_tombstones(mode, room, user, token):
    messages = await sync_to_async(_post_many)(room, user, 12)
    await sync_to_async(services.delete_message)(message=messages[9], by=user, reason="spam")
    async with connect(ROOM, token=token) as alice:
        page = await _history(alice, before_seq=11, limit=5)
        assert [m["seq"] for m in page["messages"]] == [6, 7, 8, 9, 10]
        assert page["has_more"] is True
        assert page["messages"][4] == {"id": messages[9].pk, "seq": 10, "deleted": True}
        assert page["messages"][0]["body"] == "m5"
        first = await _history(alice, before_seq=3, limit=5)
        assert [m["seq"] for m in first["messages"]] == [1, 2]
        assert first["has_more"] is False


async def test_ready_carries_the_latest_messages(mode, room, user, token, settings):
    settings.CHAT_READY_HISTORY = 4
    await sync_to_async(_post_many)(room, user, 6)
    async with connect(ROOM, token=token) as alice:
        assert [m["seq"] for m in alice.ready["messages"]] == [3, 4, 5, 6]
        assert alice.ready["has_more"] is True


async def test_typing_reaches_the_others_not_the_typist_and_is_throttled(
    mode, room, token, other_token
):
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.expect("join", user="bob")
        await alice.send("typing")
        assert await bob.expect("typing") == {"type": "typing", "user": "alice", "active": True}
        await alice.send("typing", active=True)  # within 2 s: dropped
        await alice.send("typing", active=False)  # stopping is never throttled
        assert (await bob.expect("typing"))["active"] is False
        await alice.send("ping")
        await alice.expect("pong")
        assert not [f for f in alice.seen if f["type"] == "typing"]


async def test_report_puts_the_message_in_the_moderation_queue(
    mode, room, user, other_user, other_token
):
    (message,) = await sync_to_async(_post_many)(room, user, 1)
    async with connect(ROOM, token=other_token) as bob:
        await bob.send("report", id=message.pk, reason="rude")
        assert await bob.expect("reported") == {"type": "reported", "id": message.pk}
        await bob.send("report", id=999999, reason="nothing")
        error = await bob.expect("error")
        assert error["code"] == "bad_request"
    report = await Report.objects.aget()
    assert (report.message_id, report.reporter_id, report.reason) == (
        message.pk,
        other_user.pk,
        "rude",
    )


async def test_ping_gets_pong(mode, room, token):
    async with connect(ROOM, token=token) as alice:
        await alice.send("ping")
        assert await alice.expect("pong") == {"type": "pong"}


async def test_join_and_leave_count_tabs(mode, room, token, other_token):
    async with connect(ROOM, token=token) as alice:
        async with connect(ROOM, token=other_token):
            await alice.expect("join", user="bob")
            async with connect(ROOM, token=other_token):
                pass  # bob's second tab opens and closes: no join, no leave
            await alice.send("ping")
            await alice.expect("pong")
            assert [f["type"] for f in alice.seen].count("join") == 1
            assert "leave" not in [f["type"] for f in alice.seen]
        await alice.expect("leave", user="bob")


def _post_many(room, user, count):
    return [
        services.post_message(room=room, author=user, body=f"m{n}").message for n in range(count)
    ]


async def _history(client, **fields):
    await client.send("history", **fields)
    return await client.expect("history")
