"""The raw-WebSocket ceiling: a plain ``websockets`` asyncio server with room semantics.

Same minimal protocol as the product: ``ready`` first, then for each client
``message`` an ``ack`` to the sender and one ``message`` frame, encoded once, to
every connection of the room through ``websockets.broadcast()``. No auth, no
storage, no cross-process anything: it is what the wire alone costs.

Run: ``python -m bench.baselines.raw_ws --host 127.0.0.1 --port 8765 [--no-uvloop]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
from collections import defaultdict
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve

PATH_PREFIX = "/ws/rooms/"


class Rooms:
    """Connections per room and a message counter per room (ids and seqs)."""

    def __init__(self) -> None:
        self.members: dict[str, set[ServerConnection]] = defaultdict(set)
        self.seqs: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))
        self.ids = itertools.count(1)

    def publish(self, slug: str, data: dict) -> dict:
        """Build the ``message`` payload for ``data`` sent to room ``slug``."""
        return {
            "type": "message",
            "id": next(self.ids),
            "seq": next(self.seqs[slug]),
            "room": slug,
            "user": "anonymous",
            "body": data.get("body", ""),
            "ts": datetime.now(UTC).isoformat(),
            "client_id": data.get("client_id"),
        }


def room_slug(path: str) -> str | None:
    """The room slug of ``/ws/rooms/<slug>/``, or None for any other path."""
    if not path.startswith(PATH_PREFIX):
        return None
    slug = path[len(PATH_PREFIX) :].split("?", 1)[0].strip("/")
    return slug or None


async def handler(ws: ServerConnection, rooms: Rooms) -> None:
    """Serve one connection: ``ready``, then broadcast each ``message`` to its room."""
    slug = room_slug(ws.request.path)
    if slug is None:
        await ws.close(4404)
        return
    members = rooms.members[slug]
    ready = {
        "type": "ready",
        "room": {"slug": slug, "title": slug, "locked": False, "slow_mode": 0},
    }
    await ws.send(
        json.dumps({**ready, "user": "anonymous", "online": [], "messages": [], "has_more": False})
    )
    members.add(ws)
    try:
        async for text in ws:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if not isinstance(data, dict) or data.get("type") != "message":
                continue
            payload = rooms.publish(slug, data)
            ack = {k: payload[k] for k in ("client_id", "id", "seq", "ts")}
            await ws.send(json.dumps({"type": "ack", **ack}))
            # Encoded once, written to every member without awaiting slow ones.
            broadcast(members, json.dumps(payload))
    finally:
        members.discard(ws)


async def main(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    rooms = Rooms()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        lambda ws: handler(ws, rooms),
        host,
        port,
        compression=None,
        ping_interval=None,
        max_size=65536,
        backlog=4096,
    ):
        await stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.no_uvloop:
        asyncio.run(main(args.host, args.port))
    else:
        import uvloop

        uvloop.run(main(args.host, args.port))
