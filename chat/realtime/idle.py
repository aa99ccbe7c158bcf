"""Close WebSockets whose client sent no frame for ``CHAT_IDLE_TIMEOUT`` seconds.

A frame means a whole WebSocket message: a client that trickles a frame byte by
byte, or only answers the server's keepalive pings, is idle. The room page pings
after 25 s of quiet, so an open page never idles out; a closed laptop or a
forgotten script does. One sweep per process and event loop walks the hub's
connections, rather than a timer per connection (idle connections stay small).
The client hears why, then gets close code 1000, and may reconnect with ``since``.
"""

from __future__ import annotations

import asyncio
import logging

from chat.conf import chat_settings
from chat.realtime.hub import Hub
from chat.wire import protocol
from chat.wire.errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)

IDLE_CLOSE_CODE = 1000
_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def sweep_interval(timeout: int) -> float:
    """How often to look: a tenth of the timeout, between 0.2 s and 30 s."""
    return min(30.0, max(0.2, timeout / 10))


def ensure_sweeper() -> None:
    """Start this loop's sweeper once (no-op when ``CHAT_IDLE_TIMEOUT`` is 0)."""
    if not chat_settings().idle_timeout:
        return
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        task = _sweepers[loop] = loop.create_task(_sweep_forever(), name="chat-idle-sweeper")
        task.add_done_callback(lambda _: _sweepers.pop(loop, None))


async def sweep_once(timeout: float) -> int:
    """Close the connections idle for ``timeout`` seconds or more; return how many."""
    closed = 0
    hub = Hub.existing()
    if hub is None:
        return 0
    for connection in list(hub.connections()):
        limits = getattr(connection, "limits", None)
        if limits is None or limits.idle_for() < timeout:
            continue
        detail = f"no frame from the client for {int(timeout)} s; reconnect with since"
        text = protocol.error_frame(ChatError(ErrorCode.BAD_REQUEST, detail))
        logger.info("idle closed user=%s idle=%.0fs", connection.user_id, limits.idle_for())
        await connection.close(IDLE_CLOSE_CODE, text)
        closed += 1
    return closed


async def _sweep_forever() -> None:
    while True:
        timeout = chat_settings().idle_timeout
        if not timeout:
            return
        await asyncio.sleep(sweep_interval(timeout))
        try:
            await sweep_once(timeout)
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the sweeps
            logger.warning("idle sweep failed: %r", exc)
