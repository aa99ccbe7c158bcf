"""Graceful shutdown of a daphne process: close every WebSocket with 1001 first.

On SIGTERM Twisted stops the reactor and daphne cancels every application, so
clients see their TCP connection drop (1006) with no reason, and a batch of
messages being committed may never be published. Instead, ``chat.serve``
runs ``before_kill`` first:

1. stop accepting: close the listening sockets (new clients go to another process,
   or retry), and refuse with 1001 a connection that is still joining (one that
   reaches the hub after ``close_all`` took its list closes itself with 1001);
2. close every open WebSocket with 1001 (``Hub.close_all``): clients reconnect
   with ``since`` elsewhere and resend unacknowledged messages with the same
   ``client_id``;
3. wait for in-flight commits (``writer().idle``), so a message being stored is
   either committed (and found again by the client's retry) or not at all;
4. withdraw this process from presence (``leave`` frames go out now, not after the
   lease) and publish everything committed (``Publisher.drain``);
5. wait, briefly, for clients to answer the close handshake, so the close frames
   are not cut off when the reactor drops the sockets. This wait is the only
   bound: autobahn's own (1 s, then a TCP reset that a busy client's next write
   turns into 1006) is off during shutdown.

Each step has a timeout; the whole is bounded by ``SHUTDOWN_TIMEOUT``, inside the
stop timeout of a process manager (systemd's default is 90 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from chat.events.publisher import Publisher
from chat.realtime import readers
from chat.realtime.hub import Hub
from chat.realtime.writer import writer
from chat.stores import presence
from chat.wire.errors import CloseCode

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0  # seconds for the whole drain
CLOSE_HANDSHAKE_WAIT = 3.0  # seconds for clients to answer our close frames

_stopping = False


def stopping() -> bool:
    """True once shutdown began: a connection still joining is refused with 1001."""
    return _stopping


def reset() -> None:
    """Forget that a shutdown began (tests)."""
    global _stopping
    _stopping = False


async def drain(
    *, open_sockets: Callable[[], int] | None = None, budget: float = SHUTDOWN_TIMEOUT
) -> None:
    """Close this process's connections with 1001, then finish commits and broadcasts.

    ``open_sockets`` counts the WebSockets not yet closed (step 5); without it the
    function returns once the data is safe.
    """
    global _stopping
    _stopping = True

    started = time.monotonic()

    def left() -> float:
        return max(0.1, budget - (time.monotonic() - started))

    hub = Hub.current()
    count = sum(1 for _ in hub.connections())
    logger.warning("shutdown: closing connections=%d with 1001", count)
    await _bounded(hub.close_all(CloseCode.GOING_AWAY), left(), "closing connections")
    await _bounded(writer().idle(timeout=left()), left(), "in-flight commits")
    # Read positions not yet saved (the closes above saved their own).
    await _bounded(readers.flush_all(), min(left(), 3.0), "read positions")
    await _bounded(presence.presence().retire(), min(left(), 3.0), "presence retire")
    publisher = Publisher.current()
    if publisher is not None:
        await _bounded(publisher.drain(timeout=left()), left(), "publishing")
    if open_sockets is not None:
        deadline = time.monotonic() + min(left(), CLOSE_HANDSHAKE_WAIT)
        # Twisted has no event for "every socket closed": poll the count.
        while open_sockets() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        remaining = open_sockets()
        if remaining:
            logger.warning("shutdown: sockets=%d did not finish the close handshake", remaining)
    logger.warning("shutdown: drained in %.2fs", time.monotonic() - started)


async def _bounded(awaitable, seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        logger.error("shutdown: %s did not finish within %.1fs", what, seconds)
    except Exception:
        logger.exception("shutdown: %s failed", what)


# --- daphne glue ----------------------------------------------------------------


def stop_listening() -> None:
    """Close the reactor's listening sockets: nothing new connects to this process."""
    from twisted.internet import reactor
    from twisted.internet.interfaces import IListeningPort

    for reader in list(reactor.getReaders()):
        if IListeningPort.providedBy(reader):
            reader.stopListening()


def before_kill(kill: Callable[[], object]):
    """daphne's ``kill_all_applications``, preceded by ``drain`` (returns a Deferred).

    daphne runs ``kill_all_applications`` as a "before shutdown" trigger; the
    reactor waits for the Deferred, so the event loop keeps running the drain.
    """
    from twisted.internet import defer

    from chat.realtime.internals.protocol import open_websockets, wait_for_close_replies

    stop_listening()
    wait_for_close_replies()  # step 5 bounds the handshake, not autobahn's 1 s reset
    future = asyncio.ensure_future(drain(open_sockets=open_websockets))
    done = defer.Deferred.fromFuture(future)
    done.addErrback(lambda failure: logger.error("shutdown: drain failed: %s", failure.value))
    done.addBoth(lambda _: kill())
    return done
