"""Fault 4: Redis flushed (FLUSHALL) while rooms are busy.

Group memberships, the history cache and presence vanish at once. Memberships are
re-asserted within seconds, receivers fill the gaps from the database, and each
process writes its own presence counts back at its next heartbeat.
"""

import asyncio
import time

from tests.faults.clients import ChatClient, assert_consistent, burst, note, start_all, stop_all
from tests.faults.probes import in_thread, log_lines, log_problems, presence_in_redis
from tests.helpers.wait import async_wait_until


def test_redis_flushed_while_rooms_are_busy(cluster, chatters, make_room, redis_server):
    rooms = [make_room(), make_room()]
    people = chatters(6)
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]

    def flush():
        with redis_server.client() as client:
            client.flushall()

    async def scenario():
        # Everyone in both rooms, spread over both processes.
        clients = [
            ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], room.slug)
            for room in rooms
            for i, p in enumerate(people)
        ]
        await start_all(clients)
        try:
            traffic = asyncio.create_task(burst(clients, 8, pause=0.02))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 30, 10, "acks")
            flushed = time.monotonic()
            await in_thread(flush)
            await traffic
            reports = [
                await assert_consistent(room.pk, [c for c in clients if c.slug == room.slug])
                for room in rooms
            ]
            recovery = time.monotonic() - flushed
            expected = {p.id: 1 for p in people}
            for room in rooms:
                await async_wait_until(
                    lambda room=room: presence_in_redis(redis_server, room.pk) == expected,
                    10,
                    "presence written back",
                )
            gap_fills = sum(
                len(log_lines(s, "gap filled")) + len(log_lines(s, "lost tail")) for s in servers
            )
            note(
                "redis flushed", recovery_s=round(recovery, 1), gap_fills=gap_fills, reports=reports
            )
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
