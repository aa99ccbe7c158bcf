"""Fault 2: Redis down when the daphne processes start.

They start anyway (``--start-without-redis``), /healthz answers 503, every WebSocket
is refused cleanly (an error frame, close 1011, one log line, no traceback), and
the service comes back by itself when Redis does.
"""

import asyncio
import json
import time

import websockets
from websockets.asyncio.client import connect

from tests.faults.clients import ChatClient, assert_consistent, burst, note, stop_all
from tests.faults.probes import healthz_status, in_thread, log_lines, log_problems
from tests.helpers.wait import async_wait_until, wait_until


async def refused_frame(url: str, token: str) -> tuple[dict, int]:
    """Connect once; return the error frame and the close code."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return frame, closed.rcvd.code
    raise AssertionError("the connection stayed open")


def test_redis_down_at_start(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(4)
    redis_server.stop()
    servers = cluster.start(2, extra_args=("--start-without-redis",))
    urls = [server.ws_url("") for server in servers]
    assert [healthz_status(server) for server in servers] == [503, 503]

    async def scenario():
        frame, code = await refused_frame(f"{urls[0]}/ws/rooms/{room.slug}/", people[0].token)
        assert code == 1011
        assert frame["type"] == "error" and frame["code"] == "server_error"
        # Clients keep retrying with backoff while Redis is down...
        clients = [
            ChatClient(p.name, p.token, urls[i % 2 :] + urls[: i % 2], room.slug)
            for i, p in enumerate(people)
        ]
        starting = asyncio.gather(*(client.start(timeout=40) for client in clients))
        await async_wait_until(lambda: all(c.closes for c in clients), 10, "refusals")
        # ...and get in once it is back.
        started = time.monotonic()
        await in_thread(redis_server.start)
        await starting
        back = time.monotonic() - started
        await burst(clients, 5)
        report = await assert_consistent(room.pk, clients)
        refusals = sum(len(c.closes) for c in clients)
        note("redis down at start", back_s=round(back, 1), refusals=refusals, report=report)
        await stop_all(clients)

    asyncio.run(scenario())
    wait_until(lambda: all(healthz_status(s) == 200 for s in servers), 10, "healthz 200")
    for server in servers:
        assert not log_problems(server), log_problems(server)[:10]
    refused = sum(len(log_lines(s, "refused code=1011")) for s in servers)
    assert refused >= len(people)
