"""Looking inside a running cluster: logs, /metrics, /healthz and presence in Redis."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request

from tests.helpers.processes import DaphneServer, RedisServer

# Log lines that mean something went wrong inside a server (not a fault it handled).
PROBLEM_RE = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")
# Django logs every 5xx response at ERROR; a 503 from /healthz is the probe doing its job.
EXPECTED_RE = re.compile(r"django\.request .*Service Unavailable: /healthz")


def log_problems(server: DaphneServer) -> list[str]:
    """Lines of the server's log that report an error or a traceback."""
    return [
        line
        for line in server.output().splitlines()
        if PROBLEM_RE.search(line) and not EXPECTED_RE.search(line)
    ]


def log_lines(server: DaphneServer, needle: str) -> list[str]:
    return [line for line in server.output().splitlines() if needle in line]


def metrics(server: DaphneServer) -> dict[str, float]:
    """The server's /metrics as ``{"name{labels}": value}``."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def healthz_status(server: DaphneServer) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def presence_in_redis(redis_server: RedisServer, room_id: int) -> dict[int, int]:
    """``{user_id: connections}`` of a room as Redis holds it."""
    with redis_server.client() as client:
        raw = client.hgetall(f"chat:v1:presence:room:{room_id}")
    return {int(user): int(count) for user, count in raw.items()}


def user_connections_in_redis(redis_server: RedisServer, user_id: int) -> int:
    with redis_server.client() as client:
        return int(client.get(f"chat:v1:presence:user:{user_id}") or 0)


async def in_thread(function, *args):
    """Run a blocking call (start a process, restart Redis) without stalling the clients."""
    return await asyncio.to_thread(function, *args)
