"""permessage-deflate against none: bytes on the wire, memory per connection, deliveries/s.

One product process per mode (``CHAT_WEBSOCKET_COMPRESSION`` off, then on), Redis
mode, one SQLite file for both. Every client offers permessage-deflate as browsers
do. Per mode: a sender posts ``--history`` messages of chat-like text; ``--clients``
clients connect to the room (each gets a ``ready`` page of the latest 50), then one
more (its ``ready`` bytes are measured: nothing else reaches it meanwhile); one asks
for a ``history`` page of 50; then the sender posts ``--messages`` more, each
delivered to every client. Reported: the bytes of that ``ready`` (text, and on the
wire with the handshake response) and for the ``history`` page, the server's RSS growth per connection,
deliveries/s and bytes per delivery::

    python -m bench.compression --clients 300 --messages 100

Bounded: every wait has a deadline; the processes are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import tracemalloc
import uuid
import zlib
from pathlib import Path

import psutil

from bench import databases, redisdb
from bench.servers import product_env, product_server, raise_nofile
from bench.wsclient import open_connection

STEP_TIMEOUT = 20.0
ROOM = "deflate"
WORDS = [
    "the",
    "a",
    "to",
    "and",
    "of",
    "in",
    "it",
    "is",
    "you",
    "that",
    "for",
    "on",
    "we",
    "this",
    "be",
    "with",
    "are",
    "have",
    "not",
    "can",
    "deploy",
    "review",
    "lunch",
    "ticket",
    "merge",
    "build",
    "friday",
    "meeting",
    "customer",
    "release",
    "staging",
    "tests",
    "passed",
    "broken",
    "fixed",
    "rollback",
    "hotfix",
    "standup",
    "later",
    "thanks",
    "sure",
    "ok",
]


def chat_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20)))


async def post(sender, count: int, rng: random.Random, acks: asyncio.Queue) -> None:
    for _ in range(count):
        body = chat_text(rng)
        client_id = uuid.uuid4().hex
        sender.send_text(json.dumps({"type": "message", "body": body, "client_id": client_id}))
        async with asyncio.timeout(STEP_TIMEOUT):
            await acks.get()


async def measure(url: str, pid: int, tokens: list[str], args) -> dict:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {tokens[0]}"}
    sender, _ = await open_connection(f"{url}/ws/rooms/{ROOM}/", headers=headers, compress=True)
    acks: asyncio.Queue = asyncio.Queue()
    sender.on_text = lambda text: acks.put_nowait(1) if '"type":"ack"' in text else None
    await post(sender, args.history, rng, acks)

    server = psutil.Process(pid)
    rss_before = server.memory_info().rss

    async def one(token: str):
        return await open_connection(
            f"{url}/ws/rooms/{ROOM}/", headers={"Authorization": f"Bearer {token}"}, compress=True
        )

    async with asyncio.timeout(STEP_TIMEOUT):
        opened = await asyncio.gather(*(one(token) for token in tokens[1 : args.clients + 1]))
    clients = [client for client, _ in opened]
    await asyncio.sleep(1)  # let the server settle before reading its memory
    rss_per_conn = (server.memory_info().rss - rss_before) / len(clients)
    # A late joiner's ready page (the full online list): nothing else has come yet.
    late, ready_text = await one(tokens[args.clients + 1])
    ready_bytes = late.received_bytes
    await late.close()

    # One history page of 50.
    reader = clients[0]
    page: asyncio.Future = asyncio.get_running_loop().create_future()
    before = reader.received_bytes
    reader.on_text = lambda text: page.done() or page.set_result(text)
    reader.send_text(json.dumps({"type": "history", "before_seq": args.history, "limit": 50}))
    async with asyncio.timeout(STEP_TIMEOUT):
        history_text = await page
    history_bytes = reader.received_bytes - before

    # Deliveries: every client counts the message frames it gets.
    expected = args.messages * len(clients)
    got = 0
    done = asyncio.get_running_loop().create_future()

    def on_text(text: str) -> None:
        nonlocal got
        if text.startswith('{"type":"message"'):
            got += 1
            if got == expected and not done.done():
                done.set_result(None)

    for client in clients:
        client.on_text = on_text
    before = sum(client.received_bytes for client in clients)
    started = time.monotonic()
    for _ in range(args.messages):  # a burst: the fan-out is measured, not the sender
        body = json.dumps(
            {"type": "message", "body": chat_text(rng), "client_id": uuid.uuid4().hex}
        )
        sender.send_text(body)
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            await done
    except TimeoutError:
        raise RuntimeError(f"{got} of {expected} deliveries arrived") from None
    seconds = time.monotonic() - started
    delivered_bytes = sum(client.received_bytes for client in clients) - before
    await asyncio.gather(*(client.close() for client in clients), sender.close())
    return {
        "ready_text_bytes": len(ready_text.encode()),
        "ready_wire_bytes_with_handshake": ready_bytes,
        "history_text_bytes": len(history_text.encode()),
        "history_wire_bytes": history_bytes,
        "rss_per_connection_kb": round(rss_per_conn / 1024, 1),
        "deliveries_per_s": round(expected / seconds),
        "wire_bytes_per_delivery": round(delivered_bytes / expected, 1),
    }


def frame_costs(count: int = 200) -> list[dict]:
    """Chat-sized message frames through zlib as autobahn would: bytes, time, memory.

    In process, no server: what compressing every broadcast per receiver would cost
    and save, with and without a compressor kept per connection (context takeover).
    """
    rng = random.Random(7)
    frames = [
        json.dumps(
            {"type": "message", "id": n, "seq": n, "room": ROOM, "user": f"user{n % 40}",
             "body": chat_text(rng), "ts": "2026-12-07T08:30:01.123Z", "client_id": f"{n:08x}"},
            separators=(",", ":"),
        ).encode()
        for n in range(count)
    ]  # fmt: skip
    plain = sum(map(len, frames))
    rows = []
    for bits, mem in ((15, 8), (10, 4)):
        for takeover in (True, False):
            compressor = zlib.compressobj(-1, zlib.DEFLATED, -bits, mem)
            size, started = 0, time.perf_counter()
            for frame in frames:
                if not takeover:
                    compressor = zlib.compressobj(-1, zlib.DEFLATED, -bits, mem)
                size += len(compressor.compress(frame) + compressor.flush(zlib.Z_SYNC_FLUSH)) - 4
            micros = (time.perf_counter() - started) / count * 1e6
            tracemalloc.start()
            kept = [zlib.compressobj(-1, zlib.DEFLATED, -bits, mem) for _ in range(50)]
            for each in kept:
                each.compress(frames[0])
            per_connection = tracemalloc.get_traced_memory()[0] / len(kept)
            tracemalloc.stop()
            rows.append(
                {
                    "window_bits": bits,
                    "mem_level": mem,
                    "context_takeover": takeover,
                    "frame_bytes": round(plain / count),
                    "compressed_bytes": round(size / count),
                    "us_per_frame": round(micros, 1),
                    "compressor_kb": round(per_connection / 1024),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--history", type=int, default=60)
    parser.add_argument("--modes", default="off,on")
    args = parser.parse_args(argv)
    for row in frame_costs():
        print(json.dumps({"zlib": row}), flush=True)  # noqa: T201
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="chat-deflate-") as tmp, redisdb.claimed_db() as db:
        work = Path(tmp)
        env = product_env(databases.sqlite_url(work), redisdb.url(db))
        tokens, _ = databases.prepare(env, args.clients + 2, [ROOM], work / "tokens.txt")
        for mode in args.modes.split(","):
            redisdb.empty(db)
            flag = "true" if mode == "on" else "false"
            server = product_server(work, env | {"CHAT_WEBSOCKET_COMPRESSION": flag}).start()
            try:
                result = asyncio.run(measure(server.url, server.pid, tokens, args))
            finally:
                server.stop()
            print(json.dumps({"compression": mode, **result}), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
