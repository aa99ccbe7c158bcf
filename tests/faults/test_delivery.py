"""Issue 3 end to end: two daphne processes, one Redis, one database, concurrent senders.

No fault here but the ones the protocol must absorb by design: concurrent writers on
two processes, a repeated client_id sent through both processes at once, reconnects
with ``since``, and a channel layer that loses broadcasts (group membership wiped).
"""

import asyncio
import json

from websockets.asyncio.client import connect

from chat.models import Message
from tests.faults.clients import ChatClient, assert_consistent, burst, start_all, stop_all
from tests.faults.probes import in_thread, log_problems, metrics


def _clients(people, urls, slug):
    # Alternate the processes so both write to the room at once.
    return [
        ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], slug)
        for i, p in enumerate(people)
    ]


def test_two_processes_concurrent_senders_gapless_complete_ordered(cluster, chatters, make_room):
    room = make_room()
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]
    clients = _clients(chatters(6), urls, room.slug)

    async def scenario():
        await start_all(clients)
        try:
            acked = await burst(clients, 20)
            report = await assert_consistent(room.pk, clients)
            assert report.stored == acked == 120
            # Reconnect with since after missing some: exactly the missed ones.
            late = clients[0]
            await late.stop()
            await burst(clients[1:], 3)
            rejoined = ChatClient(late.name, late.token, urls, room.slug)
            rejoined.last_seq = late.last_seq
            rejoined.messages = dict(late.messages)
            rejoined.acks = dict(late.acks)
            await rejoined.start()
            assert rejoined.readies[0]["recovered"] is True
            assert [m["seq"] for m in rejoined.readies[0]["messages"]] == list(range(121, 136))
            await assert_consistent(room.pk, [*clients[1:], rejoined])
            await stop_all([rejoined])
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]


def test_one_client_id_through_two_processes_at_once_stores_one_row(cluster, chatters, make_room):
    room = make_room()
    (person,) = chatters(1)
    servers = cluster.start(2)

    async def one(server):
        async with connect(
            server.ws_url(f"/ws/rooms/{room.slug}/"),
            additional_headers={"Authorization": f"Bearer {person.token}"},
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "message", "body": "twin", "client_id": "same-id"}))
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack":
                    return frame

    async def scenario():
        return await asyncio.gather(*(one(server) for server in servers * 3))

    acks = asyncio.run(scenario())
    assert len({(a["id"], a["seq"]) for a in acks}) == 1
    assert Message.objects.filter(room=room).count() == 1


def test_recovery_past_the_limit_says_recovered_false(cluster, chatters, make_room):
    room = make_room()
    servers = cluster.start(1, CHAT_RECOVERY_LIMIT="5", CHAT_READY_HISTORY="3")
    sender, reader = chatters(2)

    async def scenario():
        writer = ChatClient(sender.name, sender.token, [servers[0].ws_url("")], room.slug)
        await writer.start()
        await writer.send_many(10)
        await writer.stop()
        async with connect(
            servers[0].ws_url(f"/ws/rooms/{room.slug}/?since=2"),
            additional_headers={"Authorization": f"Bearer {reader.token}"},
        ) as ws:
            return json.loads(await ws.recv())

    ready = asyncio.run(scenario())
    assert ready["recovered"] is False
    assert [m["seq"] for m in ready["messages"]] == [8, 9, 10]


def test_broadcasts_lost_by_the_layer_are_filled_from_history(
    cluster, chatters, make_room, redis_server
):
    """Redis forgets who listens to the room mid-burst (as a flush or an eviction would).

    Both the layer's groups and the chat's peer registry (``chat.events.peers``) are
    wiped. A process trusts what it read of a room's peers for a second, so the burst
    lasts past that: sends stop reaching the other process until its hub registers
    the room again (every 3 s), and those messages come from history.
    """
    room = make_room()
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]
    clients = _clients(chatters(4), urls, room.slug)

    def wipe_groups():
        with redis_server.client() as client:
            for pattern in ("asgi:group:*", "chat:v1:peers:*"):
                for key in client.scan_iter(match=pattern):
                    client.delete(key)

    async def scenario():
        await start_all(clients)
        try:
            traffic = asyncio.create_task(burst(clients, 25, pause=0.12))
            for _ in range(3):
                await asyncio.sleep(0.6)
                await in_thread(wipe_groups)
            await traffic
            report = await assert_consistent(room.pk, clients, catch_up=15)
            assert report.stored == 100
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    filled = sum(metrics(server).get("chat_gap_fills_total", 0) for server in servers)
    assert filled > 0, "the test did not make the layer lose anything"
