"""Fault 7: the database is locked for several seconds (a long migration, a stuck job).

The test holds the write lock itself: ``BEGIN IMMEDIATE`` on SQLite, the room's row
``FOR UPDATE`` on PostgreSQL. Sends wait for it (never vanish); clients that time
out resend with the same ``client_id``, and each message is stored once.
"""

import asyncio
import threading
import time

from django.db import connection

from tests.faults.clients import (
    ACK_TIMEOUT,
    ChatClient,
    assert_consistent,
    burst,
    note,
    start_all,
    stop_all,
)
from tests.faults.probes import log_problems
from tests.helpers.db import hold_write_lock
from tests.helpers.wait import async_wait_until

LOCK_SECONDS = ACK_TIMEOUT + 2  # long enough that waiting clients resend


def test_database_locked_for_seconds(cluster, chatters, make_room):
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
            traffic = asyncio.create_task(burst(clients, 10, pause=0.05))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 12, 10, "acks")
            held = threading.Event()
            locker = asyncio.create_task(
                asyncio.to_thread(hold_write_lock, room.pk, LOCK_SECONDS, held)
            )
            await async_wait_until(held.is_set, 10, "lock held")
            acked_at_lock = sum(len(c.acks) for c in clients)
            locked = time.monotonic()
            await locker
            await traffic
            waited = time.monotonic() - locked
            report = await assert_consistent(room.pk, clients)
            # Clients waited past their ack timeout and resent: still one row each.
            assert report.stats.resends > 0
            note(
                "database locked",
                vendor=connection.vendor,
                lock_s=LOCK_SECONDS,
                acked_at_lock=acked_at_lock,
                burst_done_after_lock_s=round(waited, 1),
                report=report,
            )
        finally:
            await stop_all(clients)

    asyncio.run(scenario())
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
