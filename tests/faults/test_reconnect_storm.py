"""Fault 9: a reconnect storm — every process restarts under several hundred clients.

All clients are closed with 1001, retry with backoff while nothing listens, and
reconnect at once when the processes are back, each with ``since``. Meanwhile
someone on a third process (not restarted) keeps posting, so every client has
something to recover. They all recover it, the recoveries are served from the Redis
cache (which outlives the processes), and nothing lands in the error log.
"""

import asyncio
import re
import signal
import time
from collections import Counter

from tests.faults.clients import ChatClient, assert_consistent, burst, note, start_all, stop_all
from tests.faults.probes import in_thread, log_problems, metrics, presence_in_redis
from tests.helpers.processes import tail
from tests.helpers.wait import async_wait_until

USERS = 60
TABS = 5  # connections per user: 300 clients
POSTED_WHILE_AWAY = 5


def test_reconnect_storm_after_a_restart(cluster, chatters, make_room, redis_server):
    room = make_room()
    people = chatters(USERS)
    (outsider,) = chatters(1, prefix="outsider")
    servers = cluster.start(2)
    (elsewhere,) = cluster.start(1)
    urls = [server.ws_url("") for server in servers]

    async def scenario():
        clients = [
            ChatClient(f"{p.name}.{tab}", p.token, urls[n % 2 :] + urls[: n % 2], room.slug)
            for n, (p, tab) in enumerate((p, tab) for p in people for tab in range(TABS))
        ]
        senders = clients[:: TABS * 6]  # one tab of every sixth user
        poster = ChatClient(outsider.name, outsider.token, [elsewhere.ws_url("")], room.slug)
        await start_all([*clients, poster], timeout=60)
        try:
            await burst(senders, 5)
            # Everyone goes away together; the senders keep sending through the restart.
            restarted = time.monotonic()
            during = asyncio.create_task(burst(senders, 5))
            await asyncio.gather(*(in_thread(server.stop, signal.SIGTERM) for server in servers))
            # While nothing the clients know listens, messages they must recover.
            await poster.send_many(POSTED_WHILE_AWAY)
            await asyncio.gather(*(in_thread(server.start) for server in servers))
            await during
            report = await assert_consistent(room.pk, [*clients, poster], catch_up=60)
            recovery = time.monotonic() - restarted
            first_closes = Counter(c.closes[0] if c.closes else None for c in clients)
            odd = [c for c in clients if c.closes[:1] != [1001]]
            assert not odd, (first_closes, *closing_story(odd, restarted, servers))
            expected = {p.id: TABS for p in people} | {outsider.id: 1}
            await async_wait_until(
                lambda: presence_in_redis(redis_server, room.pk) == expected, 15, "presence"
            )
            # The restarted processes count from zero: what they served is the storm.
            hits = sum(metrics(s).get('chat_history_cache_total{result="hit"}', 0) for s in servers)
            misses = sum(
                metrics(s).get('chat_history_cache_total{result="miss"}', 0) for s in servers
            )
            note(
                "reconnect storm",
                clients=len(clients),
                recovery_s=round(recovery, 1),
                cache_hits=int(hits),
                cache_misses=int(misses),
                report=report,
            )
            # Each client was behind when it came back, so each recovery read history.
            assert hits + misses >= len(clients), (hits, misses)
            assert hits >= 0.9 * (hits + misses), (hits, misses)
        finally:
            await stop_all([*clients, poster])

    asyncio.run(scenario())
    for server in (*servers, elsewhere):
        assert not log_problems(server), log_problems(server)[:10]
        before = tail(server.log_dir / "stderr-1.log", 10**6)
        assert "Traceback" not in before and " ERROR " not in before


def closing_story(clients: list[ChatClient], restarted: float, servers) -> list[str]:
    """How the odd clients' connections ended (seconds after the SIGTERM), and the servers' view."""
    lines = [
        f"{c.name}: "
        + "; ".join(
            f"{when - restarted:+.2f}s {url} {detail}" for when, url, detail in c.endings[:3]
        )
        for c in clients[:5]
    ]
    for server in servers:  # the run that was stopped: its log files end in -1
        before = (
            tail(server.log_dir / "stdout-1.log", 10**6)
            + "\n"
            + tail(server.log_dir / "stderr-1.log", 10**6)
        )
        lines += [
            line for line in before.splitlines() if re.search(r"shutdown|refused|slow|ERROR", line)
        ][:20]
    return lines
