"""A process sends a room's events through Redis only while another process listens."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from chat import broadcast
from chat.broadcast import room_group
from chat.fanout import Hub
from tests.helpers.ws import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

ROOM = "/ws/rooms/lobby/"


@pytest.fixture
def counted_sends(monkeypatch):
    sent: list[str] = []
    layer = get_channel_layer()
    real = layer.group_send

    async def group_send(group, message):
        sent.append(group)
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    return sent


async def test_alone_in_a_room_nothing_goes_through_redis_until_a_peer_joins(
    redis_mode, room, token, other_token, counted_sends
):
    group = room_group(room.pk)
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await alice.send("message", body="one", client_id="c1")
        await alice.expect("ack")
        assert (await bob.expect("message"))["body"] == "one"
        await broadcast.Publisher.start().drain()
        assert group not in counted_sends  # both connections are in this process

        # Another process joins the room's group and announces it, as its hub does.
        layer = get_channel_layer()
        elsewhere = await layer.new_channel("chat.hub.")
        await layer.group_add(group, elsewhere)
        await Hub.current().dispatch({"kind": "peer", "group": group})

        await alice.send("message", body="two", client_id="c2")
        await alice.expect("ack")
        assert (await bob.expect("message"))["body"] == "two"
        await broadcast.Publisher.start().drain()
        assert counted_sends.count(group) == 1
        event = await asyncio.wait_for(layer.receive(elsewhere), 5)
        assert event["kind"] == "message" and event["seq"] == 2

        # It leaves: after a while (no notice is sent for leaving) sends stop again.
        await layer.group_discard(group, elsewhere)
        broadcast.peers_changed(group)
        await alice.send("message", body="three", client_id="c3")
        await alice.expect("ack")
        await bob.expect("message")
        await broadcast.Publisher.start().drain()
        assert counted_sends.count(group) == 1


async def test_a_peer_notice_reaches_other_processes_through_the_control_group(
    redis_mode, room, token
):
    layer = get_channel_layer()
    other_process = await layer.new_channel("chat.hub.")
    await layer.group_add(broadcast.CONTROL_GROUP, other_process)
    async with connect(ROOM, token=token):
        event = await asyncio.wait_for(layer.receive(other_process), 5)
    assert event == {
        "type": "chat.event",
        "kind": "peer",
        "group": room_group(room.pk),
        "origin": Hub.current().origin,
    }
