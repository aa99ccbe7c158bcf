"""A real daphne process keeps its Redis connections bounded through a connection storm.

Hundreds of WebSockets open at once over many rooms (so the hub's ``group_add``
calls, presence, the history cache and rate limits all run side by side). Redis's
own ``CLIENT LIST``, filtered by the process's client name ``chat:<pid>:...`` (the
shared Redis has other users), shows at most the bound during the storm and after
it, and the process's ``/metrics`` and its own sockets to Redis agree. Before the bound, the
same storm left one connection per room in the layer's pool plus up to 100 per store.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

import psutil
import pytest
import redis as sync_redis

from bench.redis_connections import metric_connections
from bench.wsclient import open_connection
from chat import services
from chat.stores import redis_clients
from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

CLIENTS = 300
ROOMS = 60
USERS = 30
LAYER_MAX = 32  # chatsite/settings.py: the layer's max_connections
# The shared pool, the layer's pool, and /healthz's client.
BOUND = redis_clients.POOL_SIZE + LAYER_MAX + 1


def named_connections(url: str, pid: int) -> dict[str, int]:
    """This process's connections in ``CLIENT LIST``, by pool."""
    prefix = f"chat:{pid}:"
    found: dict[str, int] = {}
    with sync_redis.Redis.from_url(url) as client:
        for entry in client.client_list():
            name = entry.get("name", "")
            if name.startswith(prefix):
                found[name[len(prefix) :]] = found.get(name[len(prefix) :], 0) + 1
    return found


def reported(server: DaphneServer) -> dict[str, float]:
    """``chat_redis_connections`` in the process's /metrics, by ``pool/state``."""
    return metric_connections(server.url)


def sockets_to_redis(pid: int, redis_url: str) -> int:
    """The TCP connections process ``pid`` holds to Redis, named or not."""
    port = urlparse(redis_url).port or 6379
    return sum(
        1
        for conn in psutil.Process(pid).net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def agree(server: DaphneServer, redis_url: str) -> tuple[int, dict] | None:
    """``(count, by pool)`` once CLIENT LIST, /metrics and the process's sockets agree."""
    seen = named_connections(redis_url, server.pid)
    total = sum(seen.values())
    same = sum(reported(server).values()) == total == sockets_to_redis(server.pid, redis_url)
    return (total, seen) if same else None


async def storm(server: DaphneServer, tokens: list[str], slugs: list[str]) -> list:
    async def one(n: int):
        url = server.ws_url(f"/ws/rooms/{slugs[n % len(slugs)]}/")
        token = tokens[n % len(tokens)]
        client, first = await open_connection(url, headers={"Authorization": f"Bearer {token}"})
        assert json.loads(first)["type"] == "ready", first
        return client

    async with asyncio.timeout(60):
        return await asyncio.gather(*(one(n) for n in range(CLIENTS)))


def test_a_storm_keeps_redis_connections_within_the_bound(
    live_env, redis_url, make_user, make_room
):
    users = [make_user(f"storm{n}") for n in range(USERS)]
    tokens = services.issue_tokens(users=users)
    slugs = [make_room(f"storm-{n}").slug for n in range(ROOMS)]
    env = live_env | {
        "REDIS_URL": redis_url,
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONNECTIONS_PER_IP": "100000",  # every client is 127.0.0.1
        "CHAT_MAX_CONNECTIONS_PER_USER": "1000",
        "LOG_LEVEL": "WARNING",
    }

    async def scenario(server: DaphneServer) -> tuple[int, int]:
        clients = await storm(server, tokens, slugs)
        for n, client in enumerate(clients[:ROOMS]):
            client.send_text(json.dumps({"type": "message", "body": "hi", "client_id": f"c{n}"}))
        during = sum(named_connections(redis_url, server.pid).values())
        await asyncio.gather(*(client.close() for client in clients))
        return during, len(clients)

    with DaphneServer(env) as server:
        during, connected = asyncio.run(scenario(server))
        total, by_pool = wait_until(lambda: agree(server, redis_url), 10, "metrics = CLIENT LIST")
        problems = [
            line
            for line in server.output().splitlines()
            if "WARNING" in line or "ERROR" in line or "Traceback" in line
        ]

    assert connected == CLIENTS
    # Every connection of the process is named, so the counts above are all of them.
    assert by_pool.get("chat", 0) >= 1 and by_pool.get("layer", 0) >= 1, by_pool
    assert during <= BOUND, during
    assert total <= BOUND, by_pool
    assert by_pool.get("layer", 0) <= LAYER_MAX, by_pool
    assert by_pool.get("chat", 0) <= redis_clients.POOL_SIZE, by_pool
    assert not problems, problems[:5]
