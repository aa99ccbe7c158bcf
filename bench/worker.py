"""One load generator process: an asyncio (uvloop) loop driving its share of connections.

The parent (``bench.loadgen``) drives every worker through the same phases over a
pipe: ``connect`` at a common instant, ``run`` (send window), ``drain`` (wait for the
expected deliveries), ``close``. Each reply carries this worker's counts; latency
stays in a histogram, so nothing large crosses the pipe.

A message body carries its own send time: ``B<sender>:<n>:<monotonic_ns> xxx...``.
CLOCK_MONOTONIC is system-wide on Linux, so a receiver in another process computes
the latency by subtracting it from its own ``time.monotonic_ns()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import re
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from websockets.exceptions import InvalidStatus

from .stats import Histogram
from .wsclient import ClosedBeforeReady, LeanClient, open_connection

CLOSED_LOOP = -1.0
# A closed-loop sender whose message never comes back moves on after this long, so a
# lost message costs a pause, not the whole run.
CLOSED_LOOP_TIMEOUT = 5.0
PROGRESS_EVERY = 0.5
# The frame type without a full JSON decode: ``message`` frames are the hot path.
_TYPE = re.compile(r'"type"\s*:\s*"([a-z_]+)"')
_MARKER = re.compile(r'"body"\s*:\s*"B(\d+):(\d+):(\d+) ')
_CLIENT_ID = re.compile(r'"client_id"\s*:\s*"[^"-]+-\d+-(\d+)"')


@dataclass(frozen=True, slots=True)
class ConnSpec:
    """One connection: where, which room, which token, how it sends.

    ``rate`` is messages per second; ``CLOSED_LOOP`` sends the next message when the
    previous one came back; 0 never sends.
    """

    url: str
    room: str
    token: str | None = None
    rate: float = 0.0
    source: str | None = None  # local address to bind (several loopback sources: more ports)


@dataclass(frozen=True, slots=True)
class WorkerParams:
    """What every worker needs besides its connections."""

    body_size: int = 100
    connect_concurrency: int = 0  # connections opening at once per worker; 0 = all
    connect_timeout: float = 30.0  # per connection: handshake to ``ready``
    connect_budget: float = 60.0  # the whole connect phase; what is not ready by then fails
    lifetime: float = 600.0  # hard bound: the worker exits after this long whatever happens
    # Prefix of every client_id: unique per run, since a client_id repeated by the same
    # user in the same room is (rightly) acknowledged again but never broadcast again.
    run_id: str = "run"
    drain_acks: bool = False  # the drain also waits for every sent message's ack


class _Conn:
    __slots__ = ("gid", "spec", "ws", "last_seen", "pending", "sent", "origin", "unacked")

    def __init__(self, gid: int, spec: ConnSpec) -> None:
        self.gid = gid
        self.spec = spec
        self.ws: LeanClient | None = None
        self.last_seen: dict[int, int] = {}
        self.pending: tuple[int, asyncio.Future] | None = None
        self.sent = 0
        self.unacked: dict[int, int] = {}  # message number -> send time (ns), until its ack
        host = spec.url.split("://", 1)[1].split("/", 1)[0]
        self.origin = f"http://{host}"


def _failure_name(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"http {exc.response.status_code}"
    if isinstance(exc, ClosedBeforeReady):
        return f"closed {exc.code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return f"os error {exc.errno}"
    return type(exc).__name__


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Worker:
    """State and phases of one worker process."""

    def __init__(self, pipe: Connection, conns: list[tuple[int, ConnSpec]], params: WorkerParams):
        self.pipe = pipe
        self.params = params
        self.conns = [_Conn(gid, spec) for gid, spec in conns]
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.closing = False
        self.ready_times: list[float] = []
        self.failures: Counter[str] = Counter()
        self.members: Counter[str] = Counter()
        self.sent_by_room: Counter[str] = Counter()
        self.refused_by_room: Counter[str] = Counter()
        self.received_by_room: Counter[str] = Counter()
        self.received = 0
        self.last_received_at = 0.0
        self.disorder = 0
        self.acks = 0
        self.timeouts = 0
        self.errors: Counter[str] = Counter()
        self.other: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.histogram = Histogram()
        self.ack_histogram = Histogram()  # send -> ack: the server's store-and-commit time
        self.padding = ""

    # --- plumbing ---------------------------------------------------------------

    def _on_pipe(self) -> None:
        try:
            while self.pipe.poll():
                self.inbox.put_nowait(self.pipe.recv())
        except (EOFError, OSError):
            # The parent is gone: stop at once rather than linger.
            self.inbox.put_nowait(("close",))

    def _reply(self, kind: str, **data: Any) -> None:
        self.pipe.send((kind, data))

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            self._reply(
                "progress",
                connected=len(self.ready_times),
                failed=sum(self.failures.values()),
                sent=sum(self.sent_by_room.values()),
                received=self.received,
            )

    async def main(self) -> None:
        """Obey the parent's commands until ``close`` (or the lifetime bound)."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._on_pipe)
        progress = asyncio.create_task(self._progress())
        try:
            async with asyncio.timeout(self.params.lifetime):
                self._reply("hello")
                while True:
                    command, *args = await self.inbox.get()
                    if command == "close":
                        break
                    await getattr(self, f"_{command}")(*args)
        finally:
            progress.cancel()
            loop.remove_reader(self.pipe.fileno())
            await self._close_all()

    # --- phases -----------------------------------------------------------------

    async def _connect(self, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        cpu = _cpu_seconds()
        limit = self.params.connect_concurrency
        gate = asyncio.Semaphore(limit) if limit else None
        try:
            async with asyncio.timeout(self.params.connect_budget):
                await asyncio.gather(*(self._open(conn, start_at, gate) for conn in self.conns))
        except TimeoutError:
            # A server that slow still gets measured, on the connections it took.
            pending = len(self.conns) - len(self.ready_times) - sum(self.failures.values())
            self.failures[f"not ready within {self.params.connect_budget:g} s"] += pending
        # The connections live until the end: keep the collector from rescanning them,
        # so its pauses do not show up as latency.
        gc.collect()
        gc.freeze()
        self._reply(
            "connected",
            ready_times=self.ready_times,
            failures=dict(self.failures),
            members=dict(self.members),
            cpu=_cpu_seconds() - cpu,
        )

    async def _open(self, conn: _Conn, start_at: float, gate: asyncio.Semaphore | None) -> None:
        spec = conn.spec
        headers = {"Authorization": f"Bearer {spec.token}"} if spec.token else None
        try:
            if gate is not None:
                await gate.acquire()
            try:
                async with asyncio.timeout(self.params.connect_timeout):
                    ws, text = await open_connection(
                        spec.url, origin=conn.origin, headers=headers, local_host=spec.source
                    )
                first = json.loads(text)
            finally:
                if gate is not None:
                    gate.release()
        except Exception as exc:  # every failure is counted, none stops the others
            self.failures[_failure_name(exc)] += 1
            return
        if first.get("type") != "ready":
            code = f" {first.get('code')}" if first.get("type") == "error" else ""
            self.failures[f"first frame {first.get('type')}{code}"] += 1
            await ws.close()
            return
        self.ready_times.append(time.monotonic() - start_at)
        conn.ws = ws
        self.members[spec.room] += 1
        ws.on_text = lambda text: self._on_frame(conn, text)
        ws.closed.add_done_callback(lambda _: self._on_closed(conn))

    async def _run(self, start_at: float, end_at: float) -> None:
        self.padding = "x" * max(0, self.params.body_size - 40)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.run_cpu = _cpu_seconds()
        self.run_started = time.monotonic()
        senders = [
            asyncio.create_task(self._send_loop(conn, start_at, end_at))
            for conn in self.conns
            if conn.ws is not None and conn.spec.rate != 0
        ]
        await asyncio.sleep(max(0.0, end_at - time.monotonic()))
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        self._reply("sent", sent=dict(self.sent_by_room))

    async def _drain(self, expected: int, deadline: float) -> None:
        while (self.received < expected or self._awaiting_acks()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self._reply(
            "result",
            sent=dict(self.sent_by_room),
            refused=dict(self.refused_by_room),
            received=dict(self.received_by_room),
            members=dict(self.members),
            last_received_at=self.last_received_at,
            disorder=self.disorder,
            acks=self.acks,
            timeouts=self.timeouts,
            errors=dict(self.errors),
            other=dict(self.other),
            closes=dict(self.closes),
            histogram=self.histogram,
            ack_histogram=self.ack_histogram,
            cpu=_cpu_seconds() - self.run_cpu,
            wall=time.monotonic() - self.run_started,
        )

    def _awaiting_acks(self) -> bool:
        return self.params.drain_acks and any(conn.unacked for conn in self.conns)

    async def _close_all(self) -> None:
        self.closing = True
        open_ = [conn.ws for conn in self.conns if conn.ws is not None]
        if open_:
            await asyncio.gather(*(ws.close() for ws in open_), return_exceptions=True)

    # --- per connection ---------------------------------------------------------

    async def _send_loop(self, conn: _Conn, start_at: float, end_at: float) -> None:
        rate = conn.spec.rate
        if rate == CLOSED_LOOP:
            loop = asyncio.get_running_loop()
            while time.monotonic() < end_at:
                future = loop.create_future()
                if not self._send(conn, future):
                    return
                try:
                    await asyncio.wait_for(future, CLOSED_LOOP_TIMEOUT)
                except TimeoutError:
                    self.timeouts += 1
            return
        interval = 1.0 / rate
        # A random phase spreads many senders over the interval instead of in bursts.
        next_at = start_at + random.uniform(0, interval)
        while next_at < end_at:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if not self._send(conn):
                return
            next_at += interval

    def _send(self, conn: _Conn, future: asyncio.Future | None = None) -> bool:
        """Send the next message of ``conn``; False once the connection is gone."""
        if conn.ws is None or not conn.ws.is_open:
            return False
        n = conn.sent
        conn.sent += 1
        sent_ns = time.monotonic_ns()
        conn.unacked[n] = sent_ns
        body = f"B{conn.gid}:{n}:{sent_ns} {self.padding}"
        client_id = f"{self.params.run_id}-{conn.gid}-{n}"
        frame = json.dumps({"type": "message", "body": body, "client_id": client_id})
        if future is not None:
            conn.pending = (n, future)
        conn.ws.send_text(frame)
        self.sent_by_room[conn.spec.room] += 1
        return True

    def _on_closed(self, conn: _Conn) -> None:
        if self.closing or conn.ws is None:
            return
        self.closes[f"closed {conn.ws.closed.result()}"] += 1
        self.members[conn.spec.room] -= 1
        conn.ws = None

    def _on_frame(self, conn: _Conn, text: str) -> None:
        now = time.monotonic_ns()
        match = _TYPE.search(text)
        kind = match.group(1) if match else None
        if kind == "message":
            self._on_message(conn, text, now)
        elif kind == "ack":
            self.acks += 1
            match = _CLIENT_ID.search(text)
            sent_ns = conn.unacked.pop(int(match.group(1)), None) if match else None
            if sent_ns is not None:
                self.ack_histogram.record(now - sent_ns)
        elif kind == "error":
            data = json.loads(text)
            self.errors[str(data.get("code"))] += 1
            client_id = data.get("client_id")
            if isinstance(client_id, str) and client_id.startswith(
                f"{self.params.run_id}-{conn.gid}-"
            ):
                self.refused_by_room[conn.spec.room] += 1
                n = int(client_id.rsplit("-", 1)[1])
                conn.unacked.pop(n, None)
                self._resolve(conn, n)
        else:
            self.other[str(kind)] += 1

    def _on_message(self, conn: _Conn, text: str, now: int) -> None:
        match = _MARKER.search(text)
        if match is None:
            self.other["foreign message"] += 1
            return
        sender, n, sent_ns = int(match.group(1)), int(match.group(2)), int(match.group(3))
        self.histogram.record(now - sent_ns)
        self.received += 1
        self.received_by_room[conn.spec.room] += 1
        self.last_received_at = now / 1e9
        if n <= conn.last_seen.get(sender, -1):
            self.disorder += 1
        conn.last_seen[sender] = n
        if sender == conn.gid:
            self._resolve(conn, n)

    def _resolve(self, conn: _Conn, n: int) -> None:
        pending = conn.pending
        if pending is not None and pending[0] == n:
            conn.pending = None
            if not pending[1].done():
                pending[1].set_result(None)


def run_worker(
    pipe: Connection,
    conns: list[tuple[int, ConnSpec]],
    params: WorkerParams,
    inherited: Sequence[int] = (),
) -> None:
    """Process entry point: raise the open-files limit, then run the worker on uvloop.

    ``inherited`` are file descriptors of other workers' pipes this fork copied: closed.
    """
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    async def main() -> None:
        await Worker(pipe, conns, params).main()

    uvloop.run(main())
