"""Fault 1: Redis restarted (empty) while rooms are busy.

The daphne processes keep running; sends during the outage are acked (the database
does not need Redis) and delivery catches up from history once Redis is back.
"""

import asyncio
import time

from tests.faults.clients import (
    ChatClient,
    Traffic,
    assert_consistent,
    assert_everyone_got,
    note,
    start_all,
    stop_all,
)
from tests.faults.probes import in_thread, log_problems, presence_in_redis
from tests.helpers.wait import async_wait_until


def test_redis_restarted_mid_traffic(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(6)
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]

    async def scenario():
        clients = [
            ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], room.slug)
            for i, p in enumerate(people)
        ]
        await start_all(clients)
        try:
            traffic = Traffic(clients).start()
            await async_wait_until(lambda: len(traffic.sent) >= 20, 10, "acks before")
            down = time.monotonic()
            await in_thread(redis_server.restart)
            back = time.monotonic()
            # Traffic goes on until Redis has been back a while.
            await async_wait_until(lambda: traffic.acked_after(back) >= 20, 30, "acks after")
            await traffic.stop()
            report = await assert_consistent(room.pk, clients)
            caught_up = time.monotonic() - back
            # The fault hit live traffic: messages were on their way while Redis was
            # down, and every client got them (assert_consistent: in order, none lost).
            during = traffic.during(down, back)
            assert during, f"no message was in flight during the {back - down:.2f}s outage"
            assert_everyone_got(clients, during)
            expected = {p.id: 1 for p in people}
            await async_wait_until(
                lambda: presence_in_redis(redis_server, room.pk) == expected, 10, "presence"
            )
            note(
                "redis restart",
                outage_s=round(back - down, 2),
                in_flight_during=len(during),
                recovery_s=round(caught_up, 1),
                report=report,
            )
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
