"""``chat.realtime.writer``: group commit, and what a sender gets when the database fails.

The database really refuses the inserts (a trigger, ``tests/helpers/db.py``): the
batch rolls back, every sender gets ``server_error`` with its ``client_id``, nothing
is stored, and a resend with the same ``client_id`` stores the message exactly once.
"""

import asyncio

import pytest

from chat import services
from chat.models import Message, Room
from chat.realtime.writer import writer
from chat.wire.errors import ChatError, ErrorCode
from tests.helpers.db import failing_message_inserts_async as failing_message_inserts
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def _stored(room) -> list[tuple[int, str | None]]:
    return [
        (seq, client_id)
        async for seq, client_id in Message.objects.filter(room=room)
        .order_by("seq")
        .values_list("seq", "client_id")
    ]


async def test_a_database_error_answers_every_sender_of_the_batch_with_server_error(
    embedded, room, user, other_user
):
    requests = [
        services.PostRequest(room_id=room.pk, author=user, body="one", client_id="a1"),
        services.PostRequest(room_id=room.pk, author=other_user, body="two", client_id="b1"),
        services.PostRequest(room_id=room.pk, author=user, body="three"),
    ]
    async with failing_message_inserts():
        # Submitted together: one batch, one failed transaction.
        errors = await asyncio.gather(
            *(writer().submit(request) for request in requests), return_exceptions=True
        )
    assert all(isinstance(e, ChatError) for e in errors), errors
    assert [(e.code, e.client_id) for e in errors] == [
        (ErrorCode.SERVER_ERROR, "a1"),
        (ErrorCode.SERVER_ERROR, "b1"),
        (ErrorCode.SERVER_ERROR, None),
    ]
    assert all(e.retry_after and e.retry_after > 0 for e in errors)
    assert await _stored(room) == []
    assert (await Room.objects.aget(pk=room.pk)).last_seq == 0  # no seq was used up

    first = await writer().submit(requests[0])
    again = await writer().submit(requests[0])
    assert first.created and not again.created
    assert (
        (again.message.pk, again.message.seq)
        == (first.message.pk, first.message.seq)
        == (
            first.message.pk,
            1,
        )
    )
    assert await _stored(room) == [(1, "a1")]


async def test_the_sender_gets_server_error_and_a_resend_is_stored_once(
    mode, room, token, other_token
):
    async with (
        connect("/ws/rooms/lobby/", token=token) as alice,
        connect("/ws/rooms/lobby/", token=other_token) as bob,
    ):
        async with failing_message_inserts():
            await alice.send("message", body="hello", client_id="c1")
            error = await alice.expect("error", timeout=5)
        assert error["code"] == "server_error" and error["client_id"] == "c1", error
        assert error["retry_after"] > 0
        assert await _stored(room) == []

        # The connection lives on; the client resends with the same client_id, twice
        # (its first retry's ack was lost, say): one message, one broadcast.
        await alice.send("message", body="hello", client_id="c1")
        ack = await alice.expect("ack", client_id="c1")
        await alice.send("message", body="hello", client_id="c1")
        repeat = await alice.expect("ack", client_id="c1")
        assert (repeat["id"], repeat["seq"]) == (ack["id"], ack["seq"]) and ack["seq"] == 1

        await bob.send("ping")
        await bob.expect("pong")
        message = await bob.expect("message")
        assert (message["seq"], message["client_id"]) == (1, "c1")
        await bob.send("ping")
        await bob.expect("pong")
        assert [f["seq"] for f in bob.seen if f["type"] == "message"] == [1]
        assert not [f for f in bob.seen if f["type"] == "error"]
    assert await _stored(room) == [(1, "c1")]
