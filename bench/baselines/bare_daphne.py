"""The daphne floor: ``raw_ws``'s room semantics as a bare ASGI app under stock daphne.

The contract fixes the server (daphne, with autobahn and Twisted underneath), so this
baseline answers what that server costs by itself: the same ``ready``, ``ack`` and one
``message`` frame, encoded once, to every connection of the room, through the public
ASGI ``send`` of each connection. No Django, no Channels, no auth, no storage. Where the
product is near this floor, what is left of a gap to raw ``websockets`` is daphne's.

Run: ``python -m daphne -b 127.0.0.1 -p 8766 bench.baselines.bare_daphne:application``
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bench.baselines.raw_ws import room_slug

Send = Callable[[dict], Awaitable[None]]

_members: dict[str, set[Send]] = defaultdict(set)
_seqs: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))
_ids = itertools.count(1)


def ready_text(slug: str) -> str:
    """The ``ready`` frame raw_ws sends, byte for byte in meaning."""
    room = {"slug": slug, "title": slug, "locked": False, "slow_mode": 0}
    return json.dumps(
        {
            "type": "ready",
            "room": room,
            "user": "anonymous",
            "online": [],
            "messages": [],
            "has_more": False,
        }
    )


def message_payload(slug: str, data: dict) -> dict:
    """The ``message`` payload for ``data`` sent to room ``slug`` (as raw_ws builds it)."""
    return {
        "type": "message",
        "id": next(_ids),
        "seq": next(_seqs[slug]),
        "room": slug,
        "user": "anonymous",
        "body": data.get("body", ""),
        "ts": datetime.now(UTC).isoformat(),
        "client_id": data.get("client_id"),
    }


async def application(scope: dict, receive: Callable, send: Send) -> None:
    """Serve one connection: ``ready``, then broadcast each ``message`` to its room."""
    if scope["type"] != "websocket":
        return  # daphne sends no lifespan; plain HTTP gets nothing here
    slug = room_slug(scope["path"])
    await receive()  # websocket.connect
    if slug is None:
        await send({"type": "websocket.close", "code": 4404})
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": ready_text(slug)})
    members = _members[slug]
    members.add(send)
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            try:
                data = json.loads(event.get("text") or "")
            except ValueError:
                continue
            if not isinstance(data, dict) or data.get("type") != "message":
                continue
            payload = message_payload(slug, data)
            ack = {k: payload[k] for k in ("client_id", "id", "seq", "ts")}
            await send({"type": "websocket.send", "text": json.dumps({"type": "ack", **ack})})
            # Encoded once; daphne's send writes to the transport without waiting.
            frame = {"type": "websocket.send", "text": json.dumps(payload)}
            for member in list(members):
                await member(frame)
    finally:
        members.discard(send)
