"""Reconnecting with ``since``: exactly the missed messages, in order, within the frame limit."""

import pytest
from asgiref.sync import sync_to_async

from chat import history, services
from chat.events.publisher import Publisher
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


def _post(room, user, count, body="m{n}"):
    return [
        services.post_message(room=room, author=user, body=body.format(n=n)).message
        for n in range(count)
    ]


async def _all_messages_after_ready(client, last_seq):
    """ready.messages plus any continuation frames up to ``last_seq``."""
    messages = list(client.ready["messages"])
    while not messages or messages[-1]["seq"] < last_seq:
        messages.append(await client.expect("message"))
    return messages


async def test_since_recovers_exactly_the_missed_messages(mode, room, user, token):
    await sync_to_async(_post)(room, user, 10)
    async with connect("/ws/rooms/lobby/?since=6", token=token) as alice:
        assert alice.ready["recovered"] is True
        assert [m["seq"] for m in alice.ready["messages"]] == [7, 8, 9, 10]
        await alice.send("message", body="next", client_id="n")
        assert (await alice.expect("message"))["seq"] == 11


async def test_since_at_the_latest_seq_recovers_nothing(mode, room, user, token):
    await sync_to_async(_post)(room, user, 3)
    async with connect("/ws/rooms/lobby/?since=3", token=token) as alice:
        assert alice.ready["recovered"] is True and alice.ready["messages"] == []


async def test_more_missed_than_the_recovery_limit_gives_the_latest_instead(
    mode, room, user, token, settings
):
    settings.CHAT_RECOVERY_LIMIT = 5
    settings.CHAT_READY_HISTORY = 3
    await sync_to_async(_post)(room, user, 10)
    async with connect("/ws/rooms/lobby/?since=2", token=token) as alice:
        assert alice.ready["recovered"] is False
        assert [m["seq"] for m in alice.ready["messages"]] == [8, 9, 10]
        assert alice.ready["has_more"] is True


async def test_since_beyond_the_latest_seq_is_not_recovered(mode, room, user, token):
    await sync_to_async(_post)(room, user, 2)
    async with connect("/ws/rooms/lobby/?since=50", token=token) as alice:
        assert alice.ready["recovered"] is False
        assert [m["seq"] for m in alice.ready["messages"]] == [1, 2]


async def test_recovery_includes_tombstones(mode, room, user, token):
    messages = await sync_to_async(_post)(room, user, 4)
    await sync_to_async(services.delete_message)(message=messages[2], by=user)
    async with connect("/ws/rooms/lobby/?since=1", token=token) as alice:
        assert alice.ready["messages"][1] == {"id": messages[2].pk, "seq": 3, "deleted": True}


async def test_ready_is_cut_to_the_frame_limit_with_has_more(mode, room, user, token, settings):
    settings.CHAT_MAX_FRAME_BYTES = 4096
    await sync_to_async(_post)(room, user, 50, body="{n}" + "x" * 200)
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        seqs = [m["seq"] for m in alice.ready["messages"]]
        assert 0 < len(seqs) < 50 and seqs[-1] == 50 and seqs == list(range(seqs[0], 51))
        assert alice.ready["has_more"] is True


async def test_a_long_recovery_continues_as_message_frames_in_order(
    mode, room, user, token, settings
):
    settings.CHAT_MAX_FRAME_BYTES = 4096
    await sync_to_async(_post)(room, user, 40, body="{n}" + "y" * 200)
    async with connect("/ws/rooms/lobby/?since=5", token=token) as alice:
        assert alice.ready["recovered"] is True
        assert 0 < len(alice.ready["messages"]) < 35
        assert alice.ready["messages"][0]["seq"] == 6
        messages = await _all_messages_after_ready(alice, 40)
        assert [m["seq"] for m in messages] == list(range(6, 41))
        await alice.send("message", body="live", client_id="l")
        assert (await alice.expect("message"))["seq"] == 41


async def test_history_page_is_cut_to_the_frame_limit(mode, room, user, token, settings):
    settings.CHAT_MAX_FRAME_BYTES = 4096
    await sync_to_async(_post)(room, user, 30, body="{n}" + "z" * 300)
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await alice.send("history", before_seq=31, limit=30)
        page = await alice.expect("history")
        seqs = [m["seq"] for m in page["messages"]]
        assert 0 < len(seqs) < 30 and seqs[-1] == 30 and page["has_more"] is True


@pytest.mark.parametrize("when", ["before_history_read", "after_history_read"])
async def test_a_message_committed_while_connecting_is_not_lost_or_doubled(
    mode, room, user, other_user, token, make_token, monkeypatch, when
):
    """Two messages commit while alice joins: after she subscribed, before ``ready`` went out.

    Committed before her history read, they are in ``ready`` and queued as events too
    (she must get them once); committed after it, only the queued events bring them
    (she must get them at all).
    """
    bob_token = await sync_to_async(make_token)(other_user)
    read_latest = history.latest
    posted = []

    async def latest_while_alice_joins(**kwargs):
        if when == "after_history_read":
            entries = await read_latest(**kwargs)
        if not posted:
            posted.extend(await sync_to_async(_post)(room, user, 2, body="meanwhile {n}"))
            # Published to this process's hub (alice is subscribed and not yet ready).
            await Publisher.start().drain()
        if when == "before_history_read":
            entries = await read_latest(**kwargs)
        return entries

    async with connect("/ws/rooms/lobby/", token=bob_token) as bob:
        await sync_to_async(_post)(room, user, 3)
        monkeypatch.setattr(history, "latest", latest_while_alice_joins)
        async with connect("/ws/rooms/lobby/", token=token) as alice:
            assert [m.seq for m in posted] == [4, 5]
            seen = [m["seq"] for m in alice.ready["messages"]]
            assert seen and seen[0] <= 3
            # The newest messages of ready may start later than seq 1 (it was sized
            # for three); has_more says so, and the rest follows live, once, in order.
            assert alice.ready["has_more"] is (seen[0] > 1)
            await alice.send("message", body="after", client_id="a6")
            await alice.expect("message", client_id="a6")
            # Every message frame she received, in order (expect() skips others).
            seen += [f["seq"] for f in alice.seen if f["type"] == "message"]
            assert seen == list(range(seen[0], 7))
        assert [(await bob.expect("message"))["seq"] for _ in range(6)] == [1, 2, 3, 4, 5, 6]
