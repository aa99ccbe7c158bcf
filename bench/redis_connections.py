"""Redis connections of one daphne process before, during and after a connection storm.

Starts one product process (Redis mode, a fresh SQLite file, this run's own number
on the shared Redis), opens ``--clients`` WebSockets at once over ``--rooms`` rooms,
sends a few messages, closes them all, waits ``--idle`` seconds and reports the
process's Redis connections at each step, counted three ways: the TCP sockets the
process holds to Redis (psutil), the ``CLIENT LIST`` entries named
``chat:<pid>:...`` (every pool of the process names its connections), and the
process's own ``chat_redis_connections`` in ``/metrics``::

    python -m bench.redis_connections --clients 1000 --rooms 10 --idle 40

Bounded in time: every step has a deadline, and the process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import redis

from bench import databases, redisdb
from bench.servers import HOST, product_env, product_server, raise_nofile
from bench.wsclient import open_connection

STEP_TIMEOUT = 60.0


def sockets_to_redis(pid: int, port: int = redisdb.PORT) -> int:
    """TCP connections of process ``pid`` to the Redis port (whatever their name)."""
    return sum(
        1
        for conn in psutil.Process(pid).net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def named_clients(client: redis.Redis, pid: int) -> Counter[str]:
    """``CLIENT LIST`` entries named ``chat:<pid>:<pool>``, counted by pool."""
    prefix = f"chat:{pid}:"
    return Counter(
        entry["name"][len(prefix) :]
        for entry in client.client_list()
        if entry.get("name", "").startswith(prefix)
    )


def metric_connections(base_url: str) -> dict[str, float]:
    """``chat_redis_connections`` of the process's ``/metrics``, by ``pool/state``."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("chat_redis_connections{"):
            labels, _, value = line.rpartition(" ")
            inside = labels[labels.index("{") + 1 : -1].replace('"', "")
            fields = dict(part.split("=", 1) for part in inside.split(","))
            found[f"{fields['pool']}/{fields['state']}"] = float(value)
    return found


async def storm(url: str, tokens: list[str], rooms: list[str]) -> tuple[list, float]:
    """Open one connection per token at once; return them and the seconds until all were ready."""
    started = time.monotonic()

    async def one(n: int, token: str):
        path = f"/ws/rooms/{rooms[n % len(rooms)]}/"
        client, first = await open_connection(
            url + path, headers={"Authorization": f"Bearer {token}"}
        )
        assert json.loads(first)["type"] == "ready", first
        return client

    async with asyncio.timeout(STEP_TIMEOUT):
        clients = await asyncio.gather(*(one(n, token) for n, token in enumerate(tokens)))
    return clients, time.monotonic() - started


async def talk(clients: list, count: int) -> None:
    """``count`` messages from the first clients, so the write path's Redis work runs too."""
    for n, client in enumerate(clients[:count]):
        client.send_text(json.dumps({"type": "message", "body": f"m{n}", "client_id": f"c{n}"}))


def snapshot(step: str, pid: int, base: str, client: redis.Redis) -> dict:
    named = named_clients(client, pid)
    row = {
        "step": step,
        "sockets": sockets_to_redis(pid),
        "client_list": sum(named.values()),
        "by_pool": dict(sorted(named.items())),
    }
    try:
        row["metrics"] = metric_connections(base)
    except OSError as exc:
        row["metrics"] = repr(exc)
    print(json.dumps(row), flush=True)  # noqa: T201 - the script's report
    return row


async def measure(args: argparse.Namespace, work: Path, redis_db: int) -> list[dict]:
    rooms = [f"storm-{n}" for n in range(args.rooms)]
    env = product_env(databases.sqlite_url(work), redisdb.url(redis_db)) | {
        "CHAT_METRICS_ADDRESSES": "127.0.0.1"
    }
    tokens, _ = databases.prepare(env, args.clients, rooms, work / "tokens.txt")
    server = product_server(work, env).start()
    base = f"http://{HOST}:{server.port}"
    client = redis.Redis(host=redisdb.HOST, port=redisdb.PORT, socket_timeout=5)
    rows = []
    try:
        rows.append(snapshot("started", server.pid, base, client))
        clients, seconds = await storm(server.url, tokens, rooms)
        print(json.dumps({"all_ready_seconds": round(seconds, 2)}), flush=True)  # noqa: T201
        await talk(clients, min(100, len(clients)))
        await asyncio.sleep(1)
        rows.append(snapshot(f"{len(clients)} connected", server.pid, base, client))
        await asyncio.gather(*(c.close() for c in clients))
        await asyncio.sleep(1)
        rows.append(snapshot("all closed", server.pid, base, client))
        await asyncio.sleep(args.idle)
        rows.append(snapshot(f"idle {args.idle:g}s", server.pid, base, client))
    finally:
        client.close()
        server.stop()
    problems = [
        line
        for line in server.log_tail(10**6).splitlines()
        if " WARNING " in line or "ERROR" in line or "Traceback" in line
    ]
    print(json.dumps({"server_log_problems": len(problems), "first": problems[:5]}), flush=True)  # noqa: T201
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--idle", type=float, default=40.0, help="seconds to wait after closing")
    args = parser.parse_args(argv)
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="chat-redisconn-") as tmp, redisdb.claimed_db() as db:
        asyncio.run(measure(args, Path(tmp), db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
