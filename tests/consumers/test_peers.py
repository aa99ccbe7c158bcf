"""A room's events go through Redis only to other processes that listen, a batch at a time."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from chat.events import outbound, peers
from chat.events.outbound import room_group
from chat.events.publisher import Publisher
from chat.realtime.hub import Hub
from tests.helpers.ws import communicator, connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

ROOM = "/ws/rooms/lobby/"


@pytest.fixture
def layer_traffic(monkeypatch):
    """Every layer send and group_send this process makes: (kind, target, message)."""
    calls: list[tuple[str, str, dict]] = []
    layer = get_channel_layer()
    send, group_send = layer.send, layer.group_send

    async def counted_send(channel, message):
        calls.append(("send", channel, message))
        await send(channel, message)

    async def counted_group_send(group, message):
        calls.append(("group_send", group, message))
        await group_send(group, message)

    monkeypatch.setattr(layer, "send", counted_send)
    monkeypatch.setattr(layer, "group_send", counted_group_send)
    return calls


async def _post(sender, receiver, body, client_id):
    await sender.send("message", body=body, client_id=client_id)
    await sender.expect("ack")
    assert (await receiver.expect("message"))["body"] == body
    await Publisher.start().drain()


async def test_alone_in_a_room_nothing_goes_through_redis_until_a_peer_joins(
    redis_mode, room, token, other_token, layer_traffic
):
    group = room_group(room.pk)
    layer = get_channel_layer()
    async with connect(ROOM, token=token) as alice, connect(ROOM, token=other_token) as bob:
        await _post(alice, bob, "one", "c1")
        room_traffic = [call for call in layer_traffic if call[1] != outbound.CONTROL_GROUP]
        assert room_traffic == []  # both connections are in this process

        # Another process joins the room's group and announces it, as its hub does.
        elsewhere = await layer.new_channel("chat.hub.")
        await layer.group_add(group, elsewhere)
        await peers.register([group], elsewhere)
        await Hub.current().dispatch({"kind": "peer", "group": group})
        await _post(alice, bob, "two", "c2")
        event = await asyncio.wait_for(layer.receive(elsewhere), 5)
        assert event["kind"] == "batch"
        assert [(e["kind"], e["seq"]) for e in event["events"]] == [("message", 2)]
        assert not [call for call in layer_traffic if call[0] == "group_send" and call[1] == group]

        # It leaves (and this process reads the group again): sends stop.
        await layer.group_discard(group, elsewhere)
        await peers.unregister(group, elsewhere)
        peers.peers.forget(group)
        before = len(layer_traffic)
        await _post(alice, bob, "three", "c3")
        assert layer_traffic[before:] == []


async def test_a_busy_moment_reaches_a_peer_as_one_layer_message_in_order(
    redis_mode, room, make_room, token, layer_traffic
):
    other_room = await sync_to_async(make_room)("other")
    layer = get_channel_layer()
    elsewhere = await layer.new_channel("chat.hub.")
    for group in (room_group(room.pk), room_group(other_room.pk)):
        await layer.group_add(group, elsewhere)
        await peers.register([group], elsewhere)
    async with (
        connect(ROOM, token=token) as alice,
        connect(f"/ws/rooms/{other_room.slug}/", token=token) as elsewhere_alice,
    ):
        await Publisher.start().drain()
        while True:  # the join announcements of this process's hub
            try:
                await asyncio.wait_for(layer.receive(elsewhere), 0.5)
            except TimeoutError:
                break
        sends = len(layer_traffic)
        # Published together, as one batch of the publisher.
        publisher = Publisher.start()
        publisher.submit(
            *[
                outbound.frame_event(r.pk, f'{{"type":"pong","n":{n}}}')
                for n in range(5)
                for r in (room, other_room)
            ]
        )
        await publisher.drain()
        for connection in (alice, elsewhere_alice):
            for _ in range(5):
                await connection.expect("pong")
        direct = [call for call in layer_traffic[sends:] if call[0] == "send"]

    assert len(direct) == 1 and direct[0][1] == elsewhere
    event = await asyncio.wait_for(layer.receive(elsewhere), 5)
    texts = [(e["room"], e["text"]) for e in event["events"]]
    assert texts == [
        (r.pk, f'{{"type":"pong","n":{n}}}') for n in range(5) for r in (room, other_room)
    ]


async def test_a_peer_notice_reaches_other_processes_through_the_control_group(
    redis_mode, room, token
):
    layer = get_channel_layer()
    other_process = await layer.new_channel("chat.hub.")
    await layer.group_add(outbound.CONTROL_GROUP, other_process)
    async with connect(ROOM, token=token):
        event = await asyncio.wait_for(layer.receive(other_process), 5)
    assert event == {
        "type": "chat.event",
        "kind": "peer",
        "group": room_group(room.pk),
        "room": room.pk,
        "channel": Hub.current().channel,
        "origin": Hub.current().origin,
    }


async def test_a_room_new_to_this_process_is_ready_only_once_its_peers_answered(
    redis_mode, room, token, monkeypatch
):
    monkeypatch.setattr(peers, "PEERS_TTL", 30.0)  # only the answer can end the wait here
    group = room_group(room.pk)
    layer = get_channel_layer()
    other_process = await layer.new_channel("chat.hub.")
    await layer.group_add(outbound.CONTROL_GROUP, other_process)
    await peers.register([group], other_process)  # it serves the room already

    comm = communicator(ROOM, token=token)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    announced = await asyncio.wait_for(layer.receive(other_process), 5)
    assert announced["kind"] == "peer" and announced["group"] == group
    # No ready while the peer may still skip this process.
    assert await comm.receive_nothing(timeout=0.3)

    await peers.send_events(announced["channel"], [outbound.peer_ack_event(group, other_process)])
    assert json.loads((await comm.receive_output(timeout=5))["text"])["type"] == "ready"
    await comm.disconnect()


async def test_a_process_serving_the_room_answers_a_newcomer_after_forgetting_its_peers(
    redis_mode, room, token, make_room
):
    other_room = await sync_to_async(make_room)("elsewhere")
    layer = get_channel_layer()
    newcomer = await layer.new_channel("chat.hub.")
    async with connect(ROOM, token=token):
        hub = Hub.current()
        await Publisher.start().drain()  # alice's join frame: published before the newcomer
        await peers.peers.channels(room_group(room.pk), hub.channel)  # cached: nobody else
        await peers.register([room_group(room.pk)], newcomer)
        await hub.dispatch(outbound.peer_event(room.pk, newcomer).event)
        answer = await asyncio.wait_for(layer.receive(newcomer), 5)
        assert answer["events"] == [outbound.peer_ack_event(room_group(room.pk), hub.channel)]
        assert await peers.peers.channels(room_group(room.pk), hub.channel) == {newcomer}

        # A room this process does not serve: nothing to answer.
        await hub.dispatch(outbound.peer_event(other_room.pk, newcomer).event)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(newcomer), 0.3)
