"""Fault 8: a client that never reads while its room is busy.

Daphne would buffer everything for it (ASGI has no back-pressure): the consumer
watches the socket's send buffer and closes the connection with 4408 past
``MAX_SOCKET_BUFFER``, so the server's memory stays bounded and the room goes on
at full speed for everyone else. The stalled client recovers with ``since``.
"""

import asyncio

import psutil

from chat.realtime.consumer import MAX_SOCKET_BUFFER
from tests.faults.clients import (
    ChatClient,
    assert_consistent,
    note,
    silent_socket,
    start_all,
    stop_all,
)
from tests.faults.probes import log_lines, log_problems, metrics, presence_in_redis
from tests.helpers.wait import async_wait_until

BODY = "x" * 4000  # CHAT_MAX_MESSAGE_LENGTH: few messages fill the buffers
MAX_MESSAGES = 3000  # ~13 MB: well past the kernel's send buffer (4 MB) and ours (2 MB)
MEMORY_GROWTH_LIMIT = 80 * 1024 * 1024


def closes_4408(server) -> float:
    return metrics(server).get('chat_closes_total{code="4408"}', 0.0)


def test_client_that_never_reads(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(6)
    stalled_user = chatters(1, prefix="stalled")[0]
    (server,) = cluster.start(1)
    process = psutil.Process(server.pid)

    async def scenario():
        clients = [ChatClient(p.name, p.token, [server.ws_url("")], room.slug) for p in people]
        await start_all(clients)
        stalled = silent_socket(
            server.host, server.port, f"/ws/rooms/{room.slug}/", stalled_user.token
        )
        try:
            await async_wait_until(
                lambda: stalled_user.id in presence_in_redis(redis_server, room.pk),
                10,
                "the stalled client joined",
            )
            rss_before = process.memory_info().rss
            sent = 0
            peak = rss_before
            while closes_4408(server) < 1:
                assert sent < MAX_MESSAGES, "the stalled client was never closed"
                await asyncio.gather(*(c.send(BODY) for c in clients))
                sent += len(clients)
                if sent % 120 == 0:
                    peak = max(peak, process.memory_info().rss)
            peak = max(peak, process.memory_info().rss)
            # The others were never held back and saw everything.
            report = await assert_consistent(room.pk, clients)
            assert all(not c.closes for c in clients)
            assert peak - rss_before < MEMORY_GROWTH_LIMIT, (peak - rss_before) // 2**20
            # The stalled client comes back with since and gets what it missed.
            stalled.close()
            since = report.stored - 100
            back = ChatClient(stalled_user.name, stalled_user.token, [server.ws_url("")], room.slug)
            back.last_seq = since
            await back.start()
            await async_wait_until(lambda: back.last_seq == report.stored, 10, "recovered")
            assert back.readies[0]["recovered"] is True and not back.violations
            await back.stop()
            note(
                "slow consumer",
                closed_after_messages=sent,
                closed_after_mb=round(sent * len(BODY) / 2**20, 1),
                rss_growth_mb=round((peak - rss_before) / 2**20, 1),
                buffer_limit_mb=MAX_SOCKET_BUFFER // 2**20,
                report=report,
            )
        finally:
            stalled.close()
            await stop_all(clients)

    asyncio.run(scenario())
    # Closed by the socket-buffer probe (not the catch-up queue limit).
    assert [line for line in log_lines(server, "slow client closed") if "buffered=" in line]
    assert not log_problems(server), log_problems(server)[:10]
