"""Fault 4: Redis flushed (FLUSHALL) while rooms are busy.

Group memberships, the history cache and presence vanish at once. Memberships are
re-asserted within seconds, receivers fill the gaps from the database, and each
process writes its own presence counts back at its next heartbeat.
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
from tests.faults.probes import in_thread, log_lines, log_problems, presence_in_redis
from tests.helpers.wait import async_wait_until

# Memberships come back at the hub's next refresh (every 3 s): messages sent in this
# long after the flush are the ones a process without its group memberships must fill.
AFTER_FLUSH = 1.0


def test_redis_flushed_while_rooms_are_busy(cluster, chatters, make_room, redis_server):
    rooms = [make_room(), make_room()]
    people = chatters(6)
    servers = cluster.start(2)
    urls = [server.ws_url("") for server in servers]

    def flush() -> int:
        # FLUSHALL and DBSIZE in one transaction: the live traffic writes keys again at
        # once, so a DBSIZE sent after the flush may already count one.
        with redis_server.client() as client:
            pipe = client.pipeline(transaction=True)
            pipe.flushall()
            pipe.dbsize()
            return pipe.execute()[1]

    async def scenario():
        # Everyone in both rooms, spread over both processes.
        clients = [
            ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], room.slug)
            for room in rooms
            for i, p in enumerate(people)
        ]
        await start_all(clients)
        try:
            traffic = Traffic(clients).start()
            await async_wait_until(lambda: len(traffic.sent) >= 30, 10, "acks before")
            # Flush while sends are on their way, not between two of them.
            await async_wait_until(lambda: traffic.in_flight >= 3, 10, "sends in flight")
            flushed = time.monotonic()
            assert await in_thread(flush) == 0
            done = time.monotonic()
            await async_wait_until(
                lambda: traffic.acked_after(flushed + AFTER_FLUSH) >= 30, 30, "acks after"
            )
            await traffic.stop()
            reports = []
            for room in rooms:
                in_room = [c for c in clients if c.slug == room.slug]
                reports.append(await assert_consistent(room.pk, in_room))
                # Live traffic crossed the flush: messages on their way at that moment
                # and sent soon after it reached everyone in the room, in order.
                across = [
                    sent
                    for sent in traffic.during(flushed, done + AFTER_FLUSH)
                    if sent.slug == room.slug
                ]
                assert across, f"no message of room {room.slug} crossed the flush"
                assert_everyone_got(in_room, across)
            assert traffic.during(flushed, done), "no send was in flight at the flush"
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
                "redis flushed",
                in_flight_at_flush=len(traffic.during(flushed, done)),
                recovery_s=round(recovery, 1),
                gap_fills=gap_fills,
                reports=reports,
            )
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
