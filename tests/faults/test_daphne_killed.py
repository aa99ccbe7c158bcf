"""Fault 5: one daphne process killed with -9 in the middle of a burst.

Its clients reconnect to the other process with ``since`` and miss nothing; their
unacknowledged messages are resent with the same ``client_id`` and stored once.
The dead process's presence lease runs out and a sweeper on the survivor withdraws
its connections: its users leave (``leave`` frames) and stop counting against the
per-user connection cap.
"""

import asyncio
import time

from tests.faults.clients import ChatClient, assert_consistent, burst, note, start_all, stop_all
from tests.faults.conftest import LEASE_SECONDS
from tests.faults.probes import (
    in_thread,
    log_lines,
    log_problems,
    presence_in_redis,
    user_connections_in_redis,
)
from tests.helpers.wait import async_wait_until

CAP = 3


def test_daphne_killed_mid_burst(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(6)
    ghosts = chatters(2, prefix="ghost")  # only ever on the victim; gone with it
    capped = chatters(1, prefix="capped")[0]  # all CAP connections on the victim
    victim, survivor = cluster.start(2, CHAT_MAX_CONNECTIONS_PER_USER=str(CAP))
    a, b = victim.ws_url(""), survivor.ws_url("")

    async def scenario():
        clients = [
            ChatClient(p.name, p.token, [a, b] if i % 2 == 0 else [b, a], room.slug)
            for i, p in enumerate(people)
        ]
        stranded = [ChatClient(g.name, g.token, [a], room.slug) for g in ghosts]
        stranded += [ChatClient(capped.name, capped.token, [a], room.slug) for _ in range(CAP)]
        await start_all(clients + stranded)
        assert user_connections_in_redis(redis_server, capped.id) == CAP
        try:
            traffic = asyncio.create_task(burst(clients, 12, pause=0.02))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 20, 10, "acks")
            for client in stranded:
                client.abandon()
            killed = time.monotonic()
            await in_thread(victim.kill)
            await traffic
            report = await assert_consistent(room.pk, clients)
            caught_up = time.monotonic() - killed

            # The victim's users leave within the lease (3 s here, 30 s by default).
            expected = {p.id: 1 for p in people}
            await async_wait_until(
                lambda: presence_in_redis(redis_server, room.pk) == expected, 20, "presence"
            )
            gone = {g.name for g in ghosts} | {capped.name}
            seen_leaving = lambda: {  # noqa: E731
                e["user"] for e in clients[1].events if e["type"] == "leave"
            }
            await async_wait_until(lambda: seen_leaving() >= gone, 10, "leave frames")
            left_after = time.monotonic() - killed
            assert user_connections_in_redis(redis_server, capped.id) == 0

            # The cap did not leak: the capped user gets all CAP connections back.
            again = [ChatClient(capped.name, capped.token, [b], room.slug) for _ in range(CAP)]
            await start_all(again)
            assert all(4429 not in c.closes for c in again)
            await stop_all(again)
            reconnected = sum(1 for c in clients if c.stats.connects > 1)
            note(
                "daphne killed",
                caught_up_s=round(caught_up, 1),
                users_left_s=round(left_after, 1),
                lease_s=LEASE_SECONDS,
                reconnected=reconnected,
                report=report,
            )
            assert reconnected >= len(clients) // 2
        finally:
            await stop_all(clients + stranded)

    asyncio.run(scenario())
    assert not log_problems(survivor), log_problems(survivor)[:10]
    assert log_lines(survivor, "presence swept processes=1")
