"""Bad input gets a clear error, stores nothing, and never hurts the connection or its neighbours."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from tests.helpers.wait import async_wait_until
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 100_000 + "]" * 100_000

BAD_FRAMES = [
    ("not json", "bad_request"),
    ("[1, 2]", "bad_request"),
    ('"message"', "bad_request"),
    ("{}", "bad_request"),
    ('{"type": 5}', "bad_request"),
    ('{"type": "shout"}', "unknown_type"),
    ('{"type": "message"}', "bad_request"),
    ('{"type": "message", "body": 5}', "bad_request"),
    ('{"type": "message", "body": ["x"]}', "bad_request"),
    ('{"type": "message", "body": ""}', "empty"),
    ('{"type": "message", "body": "   \\n\\t "}', "empty"),
    ('{"type": "message", "body": "x", "client_id": 7}', "bad_request"),
    ('{"type": "message", "body": "x", "client_id": ""}', "bad_request"),
    (json.dumps({"type": "message", "body": "x", "client_id": "c" * 65}), "bad_request"),
    ('{"type": "message", "body": "nul \\u0000 here"}', "bad_request"),
    ('{"type": "message", "body": "lone \\ud800 surrogate"}', "bad_request"),
    ('{"type": "message", "body": NaN}', "bad_request"),
    ('{"type": "history", "before_seq": Infinity, "limit": 5}', "bad_request"),
    ('{"type": "history", "before_seq": "5", "limit": 5}', "bad_request"),
    ('{"type": "history", "before_seq": true, "limit": 5}', "bad_request"),
    ('{"type": "history", "before_seq": 5, "limit": 0}', "bad_request"),
    ('{"type": "history", "before_seq": 5, "limit": 101}', "bad_request"),
    ('{"type": "typing", "active": "yes"}', "bad_request"),
    ('{"type": "report", "id": "x"}', "bad_request"),
    (json.dumps({"type": "report", "id": 1, "reason": "r" * 501}), "bad_request"),
    (DEEP, "bad_request"),
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES, ids=[f"{i}" for i in range(len(BAD_FRAMES))])
async def test_bad_frame_gets_an_error_and_the_connection_lives_on(
    embedded, room, token, text, code
):
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await alice.send_raw(text=text)
        error = await alice.expect("error")
        assert error["code"] == code, error
        assert error["detail"]
        await alice.send("ping")
        await alice.expect("pong")
    assert await Message.objects.acount() == 0


async def test_binary_frame_is_bad_request(embedded, room, token):
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await alice.send_raw(data=b"\x00\x01")
        assert (await alice.expect("error"))["code"] == "bad_request"


async def test_too_long_body_counts_characters(embedded, room, token, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 10
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await alice.send("message", body="é" * 10, client_id="ok")
        await alice.expect("ack", client_id="ok")
        await alice.send("message", body="x" * 11, client_id="long")
        error = await alice.expect("error")
        assert error["code"] == "too_long" and error["client_id"] == "long"
    assert await Message.objects.acount() == 1


async def test_a_neighbour_is_unaffected_by_bad_input(mode, room, token, other_token):
    async with (
        connect("/ws/rooms/lobby/", token=token) as alice,
        connect("/ws/rooms/lobby/", token=other_token) as bob,
    ):
        for text, _ in BAD_FRAMES[:-1]:
            await alice.send_raw(text=text)
        await alice.send_raw(data=b"\xff")
        # Frames are answered in order: every error is in before the pong.
        await alice.send("ping")
        await alice.expect("pong", timeout=10)
        errors = [f["code"] for f in alice.seen if f["type"] == "error"]
        assert errors == [code for _, code in BAD_FRAMES[:-1]] + ["bad_request"]
        await bob.send("message", body="still here", client_id="b1")
        await bob.expect("ack", client_id="b1")
        assert (await alice.expect("message"))["body"] == "still here"
        assert not [f for f in bob.seen if f["type"] == "error"]


async def test_rate_limit_gives_retry_after_and_stores_nothing_more(
    embedded, room, token, settings
):
    settings.CHAT_RATE_LIMIT = "3/10s"
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        for n in range(3):
            await alice.send("message", body=f"m{n}", client_id=f"m{n}")
            await alice.expect("ack", client_id=f"m{n}")
        await alice.send("message", body="m3", client_id="m3")
        error = await alice.expect("error", client_id="m3")
        assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 10
    assert await Message.objects.acount() == 3


async def test_rate_limit_can_be_disabled(embedded, room, token, settings):
    settings.CHAT_RATE_LIMIT = ""
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        for n in range(15):
            await alice.send("message", body=f"m{n}", client_id=f"m{n}")
        for n in range(15):
            await alice.expect("ack", client_id=f"m{n}")


async def test_sends_arriving_together_share_one_rate_limit_check(
    embedded, room, user, token, make_user, make_token, settings, monkeypatch
):
    """While one check is in flight the next senders' checks gather, then go as one
    call; each is still counted on its own (the fourth of one user is refused)."""
    from chat.realtime import consumer
    from chat.realtime.batching import loop_batcher
    from chat.stores import ratelimit

    settings.CHAT_RATE_LIMIT = "3/10s"
    calls: list[list[tuple[int, int]]] = []
    first_in_flight, release = asyncio.Event(), asyncio.Event()
    check_messages = ratelimit.check_messages

    async def held(senders):
        calls.append(list(senders))
        if len(calls) == 1:
            first_in_flight.set()
            await release.wait()
        return await check_messages(senders)

    monkeypatch.setattr(ratelimit, "check_messages", held)
    bob, carol = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    tokens = [await sync_to_async(make_token)(someone) for someone in (bob, carol)]
    batcher = loop_batcher("rate_checks", consumer._check_rates, max_batch=500)
    async with (
        connect("/ws/rooms/lobby/", token=token) as alice,
        connect("/ws/rooms/lobby/", token=tokens[0]) as bob_ws,
        connect("/ws/rooms/lobby/", token=tokens[1]) as carol_ws,
    ):
        await alice.send("message", body="a1", client_id="a1")
        await asyncio.wait_for(first_in_flight.wait(), 5)
        await bob_ws.send("message", body="b1", client_id="b1")
        await carol_ws.send("message", body="c1", client_id="c1")
        await async_wait_until(lambda: len(batcher.pending) == 2, 5, "both checks queued")
        release.set()
        for client, client_id in ((alice, "a1"), (bob_ws, "b1"), (carol_ws, "c1")):
            await client.expect("ack", client_id=client_id)

    assert calls == [[(room.pk, user.pk)], [(room.pk, bob.pk), (room.pk, carol.pk)]]
    assert await Message.objects.acount() == 3
