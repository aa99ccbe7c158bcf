"""One room over WebSocket for the terminal client: reconnects, recovery and acks.

``RoomSession.run()`` keeps a connection open until ``close()``: after a drop it
reconnects with exponential backoff and jitter and ``?since=<last seq>``, so the
messages missed in between arrive in order, each once. Outgoing messages carry a
``client_id`` and go one at a time, each after the previous one's ``ack`` (that
keeps them in input order even when one is rate limited); an unacknowledged one
is sent again with the same ``client_id`` after a reconnect, which the server
stores once. Terminal close codes (``chat.errors.TERMINAL_CLOSE_CODES``) end the
session with ``Exit``. Frame names and codes come from ``chat.protocol`` and
``chat.errors``, shared with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chat.cli.site import Exit, ExitStatus, Site
from chat.wire.errors import CLOSE_EXPLANATIONS, TERMINAL_CLOSE_CODES, CloseCode, ErrorCode
from chat.wire.protocol import ClientType, ServerType

BACKOFF_BASE = 0.5  # seconds before the first reconnect (then doubling)
BACKOFF_CAP = 15.0
READY_TIMEOUT = 15.0  # the first frame must come this soon after the handshake
ACK_TIMEOUT = 30.0  # an unanswered send means a stuck connection: reconnect
SERVER_ERROR_RETRIES = 3
MESSAGE_TOO_BIG = 1009  # the server's frame limit (CHAT_MAX_FRAME_BYTES) dropped us
ABNORMAL = 1006
# A message in flight when the connection drops this soon after sending, MAX_DROPS times
# in a row, is what kills it (too big for the server): it fails instead of looping.
POISON_WINDOW = 2.0
MAX_DROPS = 3
ERROR_HOLD = 0.3  # seconds an error frame waits for the close it may explain


# Change numbers kept above a gap; past this many the cursor jumps to the highest.
MAX_CHANGES_AHEAD = 10_000


def backoff_delay(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before reconnect ``attempt`` (0, 1, ...): doubling, capped, jittered.

    The jitter (half to all of the step) spreads the clients of a restarted server.
    """
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return rng(step / 2, step)


# Standard close codes the chat's own list (``CLOSE_EXPLANATIONS``) does not name.
_OTHER_CLOSES = {1000: "closed", 1006: "connection lost", MESSAGE_TOO_BIG: "message too big"}


def close_explanation(code: int, detail: str | None = None) -> str:
    """``4404 no such room`` (plus the server's detail when it says more)."""
    known = CLOSE_EXPLANATIONS.get(code) or _OTHER_CLOSES.get(code, "connection closed")
    text = f"{code} {known}"
    if detail and detail not in text:
        text += f": {detail}"
    return text


def new_client_id() -> str:
    return f"cli-{uuid.uuid4().hex}"


@dataclass(slots=True)
class Outgoing:
    """A message to send; ``label`` names it in reports (e.g. ``line 3``)."""

    body: str
    label: str = ""
    client_id: str = field(default_factory=new_client_id)
    attempts: int = 0
    server_errors: int = 0
    drops: int = 0  # connections lost right after sending it


class Listener(Protocol):
    """What the session tells its user interface. Every method is called on the loop."""

    def connected(self, ready: dict[str, Any], *, reconnect: bool, new: list[dict]) -> None:
        """``ready`` arrived; ``new`` are its messages not seen before (all on first connect)."""

    def message(self, payload: dict[str, Any]) -> None:
        """A room message (or tombstone) with a seq not seen before, in seq order."""

    def frame(self, frame: dict[str, Any]) -> None:
        """Any other frame: join, leave, history, deleted, room, typing, an error without a send."""

    def status(self, text: str) -> None:
        """Connection news for the user: disconnected, reconnecting, resending."""

    def acked(self, item: Outgoing, ack: dict[str, Any]) -> None:
        """The server stored ``item``."""

    def failed(self, item: Outgoing, code: str, detail: str) -> None:
        """The server refused ``item`` for good."""


class RoomSession:
    """A room connection that survives restarts; see the module docstring."""

    def __init__(
        self,
        *,
        site: Site,
        slug: str,
        token: str,
        listener: Listener,
        since: int | None = None,
        give_up_after: float | None = None,
    ) -> None:
        self.site = site
        self.slug = slug
        self.token = token
        self.listener = listener
        self.last_seq = since  # highest seq seen; None until the first ready
        # Up to which change (edit, deletion, restore) everything was seen: a reconnect
        # asks for the later ones with &changes= (None until a ready says where the
        # room is). Numbers seen above a gap wait in changes_ahead (a frame lost
        # between processes is replayed on the next reconnect).
        self.last_change: int | None = None
        self.changes_ahead: set[int] = set()
        self.give_up_after = give_up_after
        self.ws: ClientConnection | None = None
        self.readies = 0  # ready frames received: connections that got in
        self.ready_seen = False  # the current connection got its ready
        self.queue: deque[Outgoing] = deque()
        self.in_flight: Outgoing | None = None
        self.sent_at = 0.0
        self.closing = False
        self._stopped = asyncio.Event()  # wakes a reconnect wait on close()
        self.idle = asyncio.Event()  # set while nothing waits to be sent
        self.idle.set()
        self._retry: asyncio.TimerHandle | None = None
        self._held_error: asyncio.TimerHandle | None = None
        self._last_error: dict[str, Any] | None = None

    # --- what the user interface calls --------------------------------------------

    def send(self, body: str, label: str = "") -> Outgoing:
        """Queue ``body``; it goes out when the ones before it are acknowledged."""
        item = Outgoing(body=body, label=label)
        self.queue.append(item)
        self.idle.clear()
        self._pump()
        return item

    async def request_history(self, before_seq: int, limit: int) -> bool:
        """Ask for a page of older messages (answered as a ``history`` frame); False if offline."""
        return await self._send_frame(
            {"type": ClientType.HISTORY, "before_seq": before_seq, "limit": limit}
        )

    async def react(self, message_id: int, emoji: str, *, active: bool = True) -> bool:
        """Add (or take back) a reaction; the room answers with ``update``. False if offline."""
        return await self._send_frame(
            {"type": ClientType.REACT, "id": message_id, "emoji": emoji, "active": active}
        )

    async def close(self) -> None:
        """Stop: close the connection normally and return from ``run``."""
        self.closing = True
        self._stopped.set()
        if self.ws is not None:
            await self.ws.close()

    @property
    def connected(self) -> bool:
        """True while a connection is open and past its ``ready``."""
        return self.ws is not None and self.ready_seen

    @property
    def pending(self) -> int:
        """Messages not acknowledged yet."""
        return len(self.queue) + (self.in_flight is not None)

    # --- connection loop -------------------------------------------------------------

    async def run(self) -> None:
        """Connect, reconnect until ``close()``; raise ``Exit`` when the server refuses us."""
        loop = asyncio.get_running_loop()
        attempt = 0
        offline_since: float | None = None
        while not self.closing:
            readies = self.readies
            code, detail = await self._connect_once()
            if self.closing:
                return
            if self.readies > readies:
                attempt, offline_since = 0, None
            if code in TERMINAL_CLOSE_CODES:
                status = (
                    ExitStatus.NOT_AUTHENTICATED
                    if code == CloseCode.NOT_AUTHENTICATED
                    else ExitStatus.REFUSED
                )
                raise Exit(
                    status, f"the server closed the connection: {close_explanation(code, detail)}"
                )
            # "; reconnect with since" is advice for client authors: this is the client doing it.
            reason = close_explanation(code, detail).split("; reconnect")[0] if code else detail
            if not self.readies:
                # Never got in: a wrong --url or a server that is down; retrying would hide it.
                raise Exit(ExitStatus.UNREACHABLE, f"cannot connect to {self._url()}: {reason}")
            offline_since = offline_since or loop.time()
            if self.give_up_after is not None and loop.time() - offline_since > self.give_up_after:
                raise Exit(
                    ExitStatus.UNREACHABLE,
                    f"gave up reconnecting after {self.give_up_after:g} s ({reason})",
                )
            delay = backoff_delay(attempt)
            if code == CloseCode.TOO_MANY_CONNECTIONS:
                delay = max(delay, 5.0)
            attempt += 1
            self.listener.status(f"disconnected ({reason}); reconnecting in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)

    def _url(self) -> str:
        return self.site.room_ws(self.slug, self.last_seq, self.last_change)

    async def _connect_once(self) -> tuple[int | None, str]:
        """One connection, until it ends; return ``(close code or None, why)``."""
        self._last_error = None
        code: int | None = None
        try:
            async with connect(
                self._url(),
                additional_headers={"Authorization": f"Bearer {self.token}"},
                user_agent_header="chat-cli",
                max_size=2**24,
                open_timeout=READY_TIMEOUT,
                close_timeout=2,
            ) as ws:
                self.ws = ws
                watchdog = asyncio.get_running_loop().create_task(self._watch_acks(ws))
                try:
                    await self._serve(ws)
                finally:
                    watchdog.cancel()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else ABNORMAL
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (401, 403, 404):
                raise Exit(
                    ExitStatus.REFUSED, f"{self._url()} answered HTTP {status}; is --url right?"
                ) from None
            reason = f"HTTP {status}"
        except ConnectionRefusedError:
            reason = "connection refused: is the server running?"
        except socket.gaierror as error:
            reason = f"cannot resolve the host name ({error.strerror})"
        except (OSError, TimeoutError, InvalidHandshake) as error:
            reason = str(error) or type(error).__name__
        else:
            # The server closed with 1000/1001 (no exception), or we did.
            code, reason = ws.close_code or ABNORMAL, ws.close_reason or ""
        finally:
            self.ws = None
            self._requeue_in_flight()
        if code is None:
            return None, reason
        return self._closed(code, reason)

    def _closed(self, code: int, reason: str) -> tuple[int, str]:
        if self._held_error is not None:
            self._held_error.cancel()
            self._held_error = None
        detail = (self._last_error or {}).get("detail") or reason
        head = self.queue[0] if self.queue else None
        if head is not None and (code == MESSAGE_TOO_BIG or head.drops >= MAX_DROPS):
            # The message just put back first in line is one the server cannot take:
            # daphne drops a frame over CHAT_MAX_FRAME_BYTES without a close code, so
            # "the connection died right after it, every time" is all a client can see.
            self.queue.popleft()
            self.listener.failed(
                head,
                ErrorCode.TOO_LONG,
                "the server dropped the connection each time this message was sent; "
                "it is probably larger than the server's frame limit",
            )
            self._done_one()
        return code, detail if detail and detail != "connection lost" else ""

    async def _serve(self, ws: ClientConnection) -> None:
        try:
            first = await asyncio.wait_for(ws.recv(), READY_TIMEOUT)
        except TimeoutError:
            await ws.close()
            return
        frame = self._decode(first)
        while frame.get("type") == ServerType.ERROR:
            # A refusal: an error frame with the detail, then the close with the code.
            self._last_error = frame
            frame = self._decode(await ws.recv())
        if frame.get("type") != ServerType.READY:
            return
        self._on_ready(frame)
        async for text in ws:
            self._on_frame(self._decode(text))

    @staticmethod
    def _decode(text: str | bytes) -> dict[str, Any]:
        try:
            frame = json.loads(text)
        except ValueError:
            return {}
        return frame if isinstance(frame, dict) else {}

    # --- frames from the server ------------------------------------------------------

    def _on_ready(self, ready: dict[str, Any]) -> None:
        reconnect = self.readies > 0
        new = self._unseen(ready.get("messages") or [])
        if self.last_seq is None:
            self.last_seq = max((m["seq"] for m in new), default=0)
        self._ready_changes(ready.get("changes"), fresh=ready.get("recovered") is False)
        self.readies += 1
        self.ready_seen = True
        self.listener.connected(ready, reconnect=reconnect, new=new)
        resend = sum(1 for item in self.queue if item.attempts)
        if reconnect and resend:
            waiting = len(self.queue) - resend
            more = f"; {waiting} more waiting" if waiting else ""
            self.listener.status(f"resending {resend} unacknowledged message(s){more}")
        self._pump()

    def _unseen(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = [m for m in messages if self.last_seq is None or m.get("seq", 0) > self.last_seq]
        if fresh and self.last_seq is not None:
            self.last_seq = max(self.last_seq, fresh[-1]["seq"])
        return fresh

    def _ready_changes(self, changes: Any, *, fresh: bool) -> None:
        """Every change up to ``changes`` is in what ``ready`` showed or replayed next."""
        if fresh:
            self.last_change = None
            self.changes_ahead.clear()
        if type(changes) is int and (self.last_change is None or changes > self.last_change):
            self.last_change = changes
        if self.last_change is not None:
            self.changes_ahead = {n for n in self.changes_ahead if n > self.last_change}
            self._advance_changes()

    def _track_change(self, change: Any) -> None:
        if type(change) is not int or self.last_change is None or change <= self.last_change:
            return
        self.changes_ahead.add(change)
        self._advance_changes()
        if len(self.changes_ahead) > MAX_CHANGES_AHEAD:
            self.last_change = max(self.changes_ahead)
            self.changes_ahead.clear()

    def _advance_changes(self) -> None:
        while self.last_change + 1 in self.changes_ahead:
            self.last_change += 1
            self.changes_ahead.discard(self.last_change)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in (ServerType.UPDATE, ServerType.DELETED):
            self._track_change(frame.get("change"))
        if kind == ServerType.MESSAGE:
            if self.last_seq is None or frame.get("seq", 0) > self.last_seq:
                self.last_seq = frame["seq"]
                self.listener.message(frame)
        elif kind == ServerType.ACK:
            self._on_ack(frame)
        elif kind == ServerType.ERROR:
            self._last_error = frame
            if not self._on_send_error(frame):
                # Shown a moment later unless a close follows: then it is the close's
                # detail, said once with the close code.
                self._held_error = asyncio.get_running_loop().call_later(
                    ERROR_HOLD, self.listener.frame, frame
                )
        elif kind != ServerType.PONG:
            self.listener.frame(frame)

    def _on_ack(self, ack: dict[str, Any]) -> None:
        item = self.in_flight
        if item is None or ack.get("client_id") != item.client_id:
            return  # an ack for a send we already gave up on, or a stray repeat
        self.in_flight = None
        self.listener.acked(item, ack)
        self._done_one()

    def _on_send_error(self, error: dict[str, Any]) -> bool:
        """Handle an error about the message in flight; False when it is about something else."""
        item = self.in_flight
        if item is None or error.get("client_id") != item.client_id:
            return False
        code = error.get("code", "")
        loop = asyncio.get_running_loop()
        if code == ErrorCode.RATE_LIMITED:
            wait = float(error.get("retry_after") or 1.0)
            self._retry = loop.call_later(wait, self._resend, item)
            return True
        if code == ErrorCode.SERVER_ERROR and item.server_errors < SERVER_ERROR_RETRIES:
            item.server_errors += 1
            self._retry = loop.call_later(backoff_delay(item.server_errors), self._resend, item)
            return True
        self.in_flight = None
        self.listener.failed(item, code, error.get("detail", ""))
        self._done_one()
        return True

    # --- sending -----------------------------------------------------------------------

    def _done_one(self) -> None:
        if self.in_flight is None and not self.queue:
            self.idle.set()
        self._pump()

    def _pump(self) -> None:
        """Send the next message if the connection is ready and nothing is in flight."""
        if self.in_flight is not None or not self.queue or not self.connected:
            return
        self.in_flight = self.queue.popleft()
        self._transmit(self.in_flight)

    def _resend(self, item: Outgoing) -> None:
        self._retry = None
        if self.in_flight is item and self.connected:
            self._transmit(item)

    def _transmit(self, item: Outgoing) -> None:
        item.attempts += 1
        self.sent_at = asyncio.get_running_loop().time()
        frame = {"type": ClientType.MESSAGE, "body": item.body, "client_id": item.client_id}
        # ASCII-escaped JSON: a line with undecodable bytes (kept as lone surrogates)
        # still makes a valid frame, and the server refuses it with a clear error.
        asyncio.get_running_loop().create_task(self._send_frame(frame))

    async def _send_frame(self, frame: dict[str, Any]) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False  # the connection loop notices and reconnects
        return True

    def _requeue_in_flight(self) -> None:
        """After a drop, the message in flight goes first again, with the same client_id."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.in_flight is not None:
            item, self.in_flight = self.in_flight, None
            if asyncio.get_running_loop().time() - self.sent_at < POISON_WINDOW:
                item.drops += 1
            self.queue.appendleft(item)
        self.ready_seen = False

    async def _watch_acks(self, ws: ClientConnection) -> None:
        """Reconnect when the server stops answering sends (a stuck connection)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            waiting = self.in_flight is not None and self._retry is None
            if waiting and loop.time() - self.sent_at > ACK_TIMEOUT:
                self.listener.status(f"no answer for {ACK_TIMEOUT:g} s; reconnecting")
                await ws.close(code=1001)
                return
