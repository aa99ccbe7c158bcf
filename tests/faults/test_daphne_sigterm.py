"""Fault 6: SIGTERM to a daphne process during a burst (a deploy, a scale-down).

The process stops accepting, closes every WebSocket with 1001 (not a dropped TCP
connection, 1006), finishes the commits in flight, withdraws its presence and
publishes what it committed, then exits 0. Its clients reconnect elsewhere with
``since``; nothing acked is lost and nothing is stored twice.
"""

import asyncio
import contextlib
import json
import os
import signal
import time

import websockets
from websockets.asyncio.client import connect

from tests.faults.clients import ChatClient, assert_consistent, burst, note, start_all, stop_all
from tests.faults.probes import (
    PROBLEM_RE,
    in_thread,
    log_lines,
    log_problems,
    presence_in_redis,
)
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import async_wait_until, wait_until


def test_sigterm_during_a_burst(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(6)
    ghosts = chatters(2, prefix="ghost")
    victim, survivor = cluster.start(2)
    a, b = victim.ws_url(""), survivor.ws_url("")

    async def scenario():
        clients = [
            ChatClient(p.name, p.token, [a, b] if i % 2 == 0 else [b, a], room.slug)
            for i, p in enumerate(people)
        ]
        on_victim = clients[::2]
        stranded = [ChatClient(g.name, g.token, [a], room.slug) for g in ghosts]
        await start_all(clients + stranded)
        try:
            traffic = asyncio.create_task(burst(clients, 12, pause=0.02))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 20, 10, "acks")
            for client in stranded:
                client.abandon()
            stopped = time.monotonic()
            status = await in_thread(victim.stop, signal.SIGTERM)
            stop_s = time.monotonic() - stopped
            await traffic
            report = await assert_consistent(room.pk, clients)
            assert status == 0
            for client in on_victim + stranded:
                assert client.closes[:1] == [1001], (client.name, client.closes)
            assert all(1006 not in c.closes for c in clients + stranded)
            # Its users left at once (presence withdrawn on the way out, no lease wait).
            expected = {p.id: 1 for p in people}
            await async_wait_until(
                lambda: presence_in_redis(redis_server, room.pk) == expected, 10, "presence"
            )
            left = {e["user"] for e in clients[1].events if e["type"] == "leave"}
            assert {g.name for g in ghosts} <= left
            note(
                "sigterm",
                stop_s=round(stop_s, 1),
                resends=report.stats.resends,
                closes=sorted({code for c in on_victim for code in c.closes}),
                report=report,
            )
        finally:
            await stop_all(clients + stranded)

    asyncio.run(scenario())
    assert log_lines(victim, "shutdown: drained")
    for server in (victim, survivor):
        assert not log_problems(server), log_problems(server)[:10]


def test_sigterm_in_embedded_mode(live_env, chatters, make_room):
    """One process, no Redis (``make run``): a restart closes with 1001 and loses nothing."""
    room = make_room()
    people = chatters(4)
    server = DaphneServer(live_env | {"CHAT_RATE_LIMIT": ""}).start()
    url = server.ws_url("")

    async def scenario():
        clients = [ChatClient(p.name, p.token, [url], room.slug) for p in people]
        await start_all(clients)
        try:
            traffic = asyncio.create_task(burst(clients, 10, pause=0.02))
            await async_wait_until(lambda: sum(len(c.acks) for c in clients) >= 10, 10, "acks")
            status = await in_thread(server.stop, signal.SIGTERM)
            assert status == 0
            assert all(c.closes[:1] == [1001] for c in clients), [c.closes for c in clients]
            # The stopped run's log, read before start() begins a new one.
            first_run.extend(server.output().splitlines())
            await in_thread(server.start)
            await traffic
            report = await assert_consistent(room.pk, clients)
            note("sigterm embedded", resends=report.stats.resends, report=report)
        finally:
            await stop_all(clients)

    first_run: list[str] = []
    try:
        asyncio.run(scenario())
    finally:
        server.kill()
    assert [line for line in first_run if "shutdown: drained" in line]
    problems = [line for line in first_run if PROBLEM_RE.search(line)]
    assert not problems, problems[:10]
    assert not log_problems(server), log_problems(server)[:10]


# How long the busy client below does not read: past autobahn's default 1 s close
# handshake timeout, inside the drain's own wait (shutdown.CLOSE_HANDSHAKE_WAIT, 3 s).
BUSY_SECONDS = 1.8


def test_a_client_too_busy_to_answer_the_close_at_once_still_gets_1001(
    cluster, chatters, make_room, redis_server
):
    """Under load a client may read the server's close frame seconds late.

    It must still find the 1001 there. autobahn alone resets the TCP connection
    1 s after its close frame; a client whose next action is a write (asyncio's
    transports) then loses the close frame it had received and sees 1006. Seen as
    one of 300 clients of the reconnect storm beside a second test worker.
    """
    room = make_room()
    (person,) = chatters(1)
    (server,) = cluster.start(1)
    url = f"{server.ws_url('')}/ws/rooms/{room.slug}/?since=0"

    async def scenario():
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {person.token}"}, ping_interval=None
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            os.kill(server.pid, signal.SIGTERM)
            # This client is busy (its loop blocked): the server's close frame waits
            # in the socket's buffer, unread, from the moment it is sent...
            wait_until(lambda: log_lines(server, "shutdown: closing connections=1 "), 10, "close")
            time.sleep(BUSY_SECONDS)  # noqa: ASYNC251 - ...and for this long (the fault)
            # ...and then it writes before it reads.
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(json.dumps({"type": "message", "body": "late", "client_id": "b-1"}))
            with contextlib.suppress(websockets.ConnectionClosed):
                async for _ in ws:
                    pass
            return ws.close_code

    assert asyncio.run(scenario()) == 1001
    assert server.process.wait(15) == 0
    assert not log_problems(server), log_problems(server)[:10]
