"""Fault 3: Redis stops answering (CLIENT PAUSE) for longer than the clients' timeouts.

Presence, cache and rate-limit calls time out after 1-2 s and the layer is held up;
sends are still acked (the database does not need Redis), a client joining during
the pause is refused with 1011 and retries, and delivery catches up afterwards.
No sweeper may evict a live process because every lease ran out during the pause.
"""

import asyncio
import time

from tests.faults.clients import ChatClient, assert_consistent, burst, note, start_all, stop_all
from tests.faults.probes import in_thread, log_lines, log_problems, presence_in_redis
from tests.helpers.wait import async_wait_until

PAUSE_SECONDS = 5  # > the 2 s socket timeout of presence and cache, > the 3 s test lease


def test_redis_paused_longer_than_client_timeouts(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(7)
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]

    async def scenario():
        clients = [
            ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], room.slug)
            for i, p in enumerate(people[:6])
        ]
        await start_all(clients)
        late = ChatClient(people[6].name, people[6].token, urls, room.slug)
        try:
            traffic = asyncio.create_task(burst(clients, 12, pause=0.05))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 12, 10, "acks")
            paused = time.monotonic()
            await in_thread(redis_server.pause, PAUSE_SECONDS)
            joining = asyncio.create_task(late.start(timeout=30))
            acked_at_pause = sum(len(c.acks) for c in clients)
            await traffic
            await joining
            report = await assert_consistent(room.pk, clients + [late])
            recovery = time.monotonic() - paused
            expected = {p.id: 1 for p in people}
            await async_wait_until(
                lambda: presence_in_redis(redis_server, room.pk) == expected, 10, "presence"
            )
            # Nobody left: no live process was swept while its lease had run out.
            assert not [e for c in clients for e in c.events if e["type"] == "leave"]
            note(
                "redis paused",
                pause_s=PAUSE_SECONDS,
                recovery_s=round(recovery, 1),
                acked_at_pause=acked_at_pause,
                late_refusals=len(late.closes),
                report=report,
            )
        finally:
            await stop_all(clients + [late])

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
        assert not log_lines(server, "presence swept")
