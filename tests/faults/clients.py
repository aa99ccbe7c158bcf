"""Chat clients for fault tests: real WebSockets that reconnect, resend and check as they go.

A ``ChatClient`` behaves like a careful production client: it always connects with
``?since=`` (0 the first time), rotates through the cluster's processes when a
connection drops, and sends every message with a ``client_id``, resending it until
an ``ack`` arrives. While it runs it checks the delivery guarantees frame by
frame: within one connection room messages arrive in ``seq`` order with no gap
and no repeat, and a recovery starts right after ``since``. What it saw is kept for
the final check against the database (``assert_consistent``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.wire.errors import TERMINAL_CLOSE_CODES

logger = logging.getLogger("faults")

ACK_TIMEOUT = 3.0  # without an ack by then, resend with the same client_id


# Answer to a send whose connection closed before the ack came: resend after reconnecting.
DROPPED = {"type": "dropped"}


@dataclass
class Stats:
    connects: int = 0
    resends: int = 0  # a message sent again with the same client_id
    server_errors: int = 0  # error frames answered to a send (then resent)
    connect_failures: int = 0  # refused handshakes or refused TCP connections


class ChatClient:
    """One user's connection to one room, across reconnects."""

    def __init__(self, name: str, token: str, urls: list[str], slug: str) -> None:
        self.name = name
        self.token = token
        self.urls = list(urls)
        self.slug = slug
        self.url_index = 0
        self.last_seq = 0  # every seq up to this one has been seen (contiguous)
        self.messages: dict[int, dict[str, Any]] = {}  # seq -> message frame
        self.acks: dict[str, dict[str, Any]] = {}  # client_id -> ack
        self.closes: list[int | None] = []  # close code of each ended connection
        # How each connection ended, for failure messages: (time.monotonic(), url, detail).
        self.endings: list[tuple[float, str, str]] = []
        self.events: list[dict[str, Any]] = []  # join / leave / typing frames
        self.readies: list[dict[str, Any]] = []
        self.violations: list[str] = []  # broken guarantees, with details
        self.stats = Stats()
        self.connected = asyncio.Event()
        self.ws = None
        self._conn_last: int | None = None  # last seq delivered on the current connection
        self._since: int | None = None
        self._waiting: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._ids = itertools.count(1)

    # --- lifecycle -------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> ChatClient:
        """Connect (in the background from now on) and wait for the first ``ready``."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self.wait_connected(timeout)
        return self

    async def wait_connected(self, timeout: float = 15.0) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} not connected within {timeout}s; closes={self.closes[-5:]}"
            ) from None

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stopping = True
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def abandon(self) -> None:
        """Stop reconnecting without closing (the client vanished with its process)."""
        self._stopping = True

    def url(self) -> str:
        base = self.urls[self.url_index % len(self.urls)]
        return f"{base}/ws/rooms/{self.slug}/?since={self.last_seq}"

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            code: int | None = None
            detail = ""
            self._since = self.last_seq
            try:
                async with connect(
                    self.url(),
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=5,
                    close_timeout=2,
                    ping_interval=None,
                    max_size=2**22,
                    max_queue=None,
                ) as ws:
                    self.ws = ws
                    self.stats.connects += 1
                    async for raw in ws:
                        self._on_frame(json.loads(raw))
                        if self.connected.is_set():
                            backoff = 0.05
                    code = ws.close_code
                    detail = repr(ws.protocol.close_exc)
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                detail = f"{exc!r} cause={exc.__cause__!r}"
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                self.stats.connect_failures += 1
                code = None
            except asyncio.CancelledError:
                raise
            finally:
                self.ws = None
                self.connected.clear()
                self._conn_last = None
                for future in self._waiting.values():
                    if not future.done():
                        future.set_result(DROPPED)
            if code is not None:
                self.closes.append(code)
                self.endings.append((time.monotonic(), self.url(), detail))
            if code in TERMINAL_CLOSE_CODES:
                self.violations.append(f"terminal close {code}")
                return
            self.url_index += 1  # another process, if there is one
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    # --- frames ----------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ready":
            self.readies.append(frame)
            if frame.get("recovered") is not True:
                self.violations.append(
                    f"since={self._since} not recovered: {frame.get('recovered')}"
                )
            self._conn_last = self._since
            for message in frame["messages"]:
                self._on_message(message)
            self.connected.set()
        elif kind == "message":
            self._on_message(frame)
        elif kind == "ack":
            self.acks[frame["client_id"]] = frame
            self._resolve(frame["client_id"], frame)
        elif kind == "error":
            if frame.get("client_id") in self._waiting:
                self._resolve(frame["client_id"], frame)
        elif kind in ("join", "leave", "typing"):
            self.events.append(frame)

    def _on_message(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if self._conn_last is None:
            self.violations.append(f"message seq={seq} before ready")
        elif seq != self._conn_last + 1:
            self.violations.append(f"seq {seq} after {self._conn_last} on one connection")
        self._conn_last = seq
        known = self.messages.get(seq)
        if known is not None and known["id"] != message["id"]:
            self.violations.append(f"seq {seq} was id {known['id']}, now {message['id']}")
        self.messages[seq] = message
        while self.last_seq + 1 in self.messages:
            self.last_seq += 1

    def _resolve(self, client_id: str, frame: dict[str, Any]) -> None:
        future = self._waiting.get(client_id)
        if future is not None and not future.done():
            future.set_result(frame)

    # --- sending ---------------------------------------------------------------

    async def send(
        self, body: str | None = None, client_id: str | None = None, deadline: float = 60.0
    ) -> dict:
        """Send one message and resend it (same ``client_id``) until acked; return the ack."""
        client_id = client_id or f"{self.name}-{next(self._ids)}"
        body = body or f"{client_id} says hi"
        give_up = time.monotonic() + deadline
        attempt = 0
        while True:
            if time.monotonic() > give_up:
                raise AssertionError(f"{client_id} not acked within {deadline}s")
            await self.wait_connected(max(0.1, give_up - time.monotonic()))
            ws = self.ws
            future = asyncio.get_running_loop().create_future()
            self._waiting[client_id] = future
            attempt += 1
            if attempt > 1:
                self.stats.resends += 1
            try:
                await ws.send(json.dumps({"type": "message", "body": body, "client_id": client_id}))
                frame = await asyncio.wait_for(future, ACK_TIMEOUT)
            except (TimeoutError, websockets.ConnectionClosed, AttributeError):
                continue
            finally:
                self._waiting.pop(client_id, None)
            if frame["type"] == "ack":
                return frame
            if frame is DROPPED:
                continue
            if frame.get("code") in ("server_error", "rate_limited"):
                self.stats.server_errors += 1
                await asyncio.sleep(frame.get("retry_after") or 0.5)
                continue
            raise AssertionError(f"{client_id} refused: {frame}")

    async def send_many(self, count: int, pause: float = 0.0) -> list[dict]:
        acks = []
        for _ in range(count):
            acks.append(await self.send())
            if pause:
                await asyncio.sleep(pause)
        return acks

    async def send_typing(self) -> None:
        await self.ws.send(json.dumps({"type": "typing", "active": True}))


# --- groups of clients ---------------------------------------------------------


async def start_all(clients: list[ChatClient], timeout: float = 20.0) -> list[ChatClient]:
    """Start every client concurrently; return them once all are ready."""
    await asyncio.gather(*(client.start(timeout) for client in clients))
    return clients


async def stop_all(clients: list[ChatClient]) -> None:
    await asyncio.gather(*(client.stop() for client in clients), return_exceptions=True)


async def burst(clients: list[ChatClient], per_client: int, pause: float = 0.0) -> int:
    """Every client sends ``per_client`` messages, all at once; return how many were acked."""
    results = await asyncio.gather(*(client.send_many(per_client, pause) for client in clients))
    return sum(len(acks) for acks in results)


async def wait_all_caught_up(
    clients: list[ChatClient], last_seq: int, timeout: float = 20.0
) -> None:
    """Wait until every client has seen every seq up to ``last_seq``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        behind = [c for c in clients if c.last_seq < last_seq]
        if not behind:
            return
        if loop.time() > deadline:
            detail = ", ".join(f"{c.name}@{c.last_seq} closes={c.closes[-3:]}" for c in behind[:5])
            raise AssertionError(f"{len(behind)} clients behind seq {last_seq}: {detail}")
        await asyncio.sleep(0.05)


def totals(clients: list[ChatClient]) -> Stats:
    out = Stats()
    for client in clients:
        for name in vars(out):
            setattr(out, name, getattr(out, name) + getattr(client.stats, name))
    return out


def note(fault: str, **facts: Any) -> None:
    """Log what a fault test observed (``pytest -o log_cli=true --log-cli-level=WARNING``)."""
    logger.warning("%s: %s", fault, " ".join(f"{key}={value}" for key, value in facts.items()))


@dataclass(frozen=True)
class Sent:
    """One acked message of ``Traffic``: when it was first sent and when its ack came."""

    client: str
    slug: str  # the room
    client_id: str
    seq: int
    started: float  # time.monotonic()
    acked: float


class Traffic:
    """Every client sends, one message after another, until ``stop()``: live traffic.

    A fault test starts it, waits for some acks, injects the fault, and keeps it running
    until messages are acked after the fault too; ``during`` then shows which messages
    were on their way while the fault happened.
    """

    def __init__(self, clients: list[ChatClient], pause: float = 0.02) -> None:
        self.clients = clients
        self.pause = pause
        self.sent: list[Sent] = []
        self.in_flight = 0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> Traffic:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._talk(client)) for client in self.clients]
        return self

    async def _talk(self, client: ChatClient) -> None:
        while not self._stopping.is_set():
            client_id = f"{client.name}-t{len(self.sent)}-{next(client._ids)}"
            started = time.monotonic()
            self.in_flight += 1
            try:
                ack = await client.send(client_id=client_id)
            finally:
                self.in_flight -= 1
            self.sent.append(
                Sent(client.name, client.slug, client_id, ack["seq"], started, time.monotonic())
            )
            await asyncio.sleep(self.pause)

    async def stop(self) -> None:
        """Let each client finish the message it is sending, then stop; raise what failed."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    def acked_after(self, moment: float) -> int:
        return sum(1 for sent in self.sent if sent.acked > moment)

    def during(self, start: float, end: float) -> list[Sent]:
        """Messages sent before ``end`` and acked after ``start``: on their way across a fault."""
        return [sent for sent in self.sent if sent.started <= end and sent.acked >= start]


def assert_everyone_got(clients: list[ChatClient], sent: list[Sent]) -> None:
    """Each client saw each of ``sent`` (by seq, with its client_id)."""
    for client in clients:
        for message in sent:
            got = client.messages.get(message.seq)
            assert got is not None and got.get("client_id") == message.client_id, (
                f"{client.name} did not get {message}: {got}"
            )


# --- the final check -----------------------------------------------------------


@dataclass
class Report:
    stored: int
    acked: int
    stats: Stats = field(default_factory=Stats)

    def __str__(self) -> str:
        return f"stored={self.stored} acked={self.acked} {self.stats}"


def _rows(room_id: int) -> list[tuple[int, int, str, str | None, int]]:
    from chat.models import Message

    return list(
        Message.objects.filter(room_id=room_id)
        .order_by("seq")
        .values_list("seq", "id", "body", "client_id", "author_id")
    )


async def stored_rows(room_id: int):
    return await sync_to_async(_rows, thread_sensitive=False)(room_id)


async def assert_consistent(
    room_id: int, clients: list[ChatClient], *, catch_up: float = 20.0, all_acked: bool = True
) -> Report:
    """The database and what the clients saw agree with every guarantee.

    Every acked message is stored once (same id and seq as its ack); no client saw
    a message that is not stored; the room's seqs are 1..N; every client ends with
    all of 1..N; nobody saw an order violation.
    """
    rows = await stored_rows(room_id)
    seqs = [row[0] for row in rows]
    assert seqs == list(range(1, len(rows) + 1)), f"seqs are not 1..N: {seqs[:20]}..."
    by_seq = {row[0]: row for row in rows}
    by_client_id: dict[str, list] = {}
    for row in rows:
        if row[3] is not None:
            by_client_id.setdefault(row[3], []).append(row)
    acked = 0
    for client in clients:
        for client_id, ack in client.acks.items():
            stored = by_client_id.get(client_id, [])
            assert len(stored) == 1, f"{client_id} stored {len(stored)} times"
            assert (stored[0][0], stored[0][1]) == (ack["seq"], ack["id"]), (
                f"{client_id}: {ack} vs {stored[0]}"
            )
            acked += 1
    if all_acked:
        # Every send was retried until acked, so nothing stored is unaccounted for.
        assert acked == len(rows), f"{len(rows)} stored but {acked} acked"
    await wait_all_caught_up(clients, len(rows), timeout=catch_up)
    for client in clients:
        assert not client.violations, f"{client.name}: {client.violations[:5]}"
        for seq, message in client.messages.items():
            row = by_seq.get(seq)
            assert row is not None, f"{client.name} saw seq {seq}, which is not stored"
            assert (message["id"], message["body"]) == (row[1], row[2]), (
                f"{client.name} seq {seq} differs"
            )
    return Report(stored=len(rows), acked=acked, stats=totals(clients))


# --- a client that never reads ------------------------------------------------------


def silent_socket(host: str, port: int, path: str, token: str, receive_buffer: int = 4096):
    """Open a WebSocket by hand and never read from it again (a stalled client).

    Only the handshake response is read; after that the kernel's small receive
    buffer fills, then the server's send buffers. Close it with ``.close()``.
    """
    import base64
    import os
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"handshake failed: {response!r}")
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock
