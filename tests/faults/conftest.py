"""Fault tests: real daphne processes on a private redis-server, real WebSocket clients.

Every test here is marked ``processes`` and ``slow`` (and ``redis`` unless it runs in
embedded mode) and runs on a transactional test database that the daphne children share (``live_env``).
Redis is always the test's own ``redis-server`` on a free port (``redis_server``),
never the shared 6379 instance: these tests restart, pause and flush it.

Small timings come from the environment (``FAULT_ENV``): a 3 s presence lease
instead of 30 s, and no message rate limit (bursts are the point).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.processes import DaphneServer, RedisServer

FAULTS_DIR = Path(__file__).resolve().parent
LEASE_SECONDS = 3
FAULT_ENV = {
    "CHAT_RATE_LIMIT": "",
    "CHAT_MAX_CONNECTIONS_PER_IP": "100000",  # every client is 127.0.0.1
    "CHAT_PRESENCE_LEASE_SECONDS": str(LEASE_SECONDS),
    "LOG_LEVEL": "INFO",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if FAULTS_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.processes)
            if "redis_server" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.redis)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.django_db(transaction=True))
            item.add_marker(pytest.mark.timeout(90))


@pytest.fixture
def fault_env(live_env, redis_server: RedisServer) -> dict[str, str]:
    """Environment of the daphne children: shared test database, the private Redis."""
    return live_env | FAULT_ENV | {"REDIS_URL": redis_server.url()}


class Cluster:
    """Daphne processes started by one test (all killed by pid at its end)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.servers: list[DaphneServer] = []

    def start(
        self, count: int = 2, *, extra_args: tuple[str, ...] = (), **env: str
    ) -> list[DaphneServer]:
        """Start ``count`` processes in parallel and wait until each answers /healthz."""
        servers = [DaphneServer(self.env | env, extra_args=extra_args) for _ in range(count)]
        self.servers += servers
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda server: server.start(), servers))
        return servers

    def kill_all(self) -> None:
        for server in self.servers:
            server.kill()


@pytest.fixture
def cluster(fault_env):
    cluster = Cluster(fault_env)
    yield cluster
    cluster.kill_all()


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    token: str


@pytest.fixture
def chatters(make_user):
    """Factory: ``chatters(n, prefix)`` makes ``n`` users with an API token each."""
    from chat import services

    def make(count: int, prefix: str = "u") -> list[Person]:
        users = [make_user(f"{prefix}{i}") for i in range(count)]
        tokens = services.issue_tokens(users=users)
        return [Person(u.pk, u.username, t) for u, t in zip(users, tokens, strict=True)]

    return make
