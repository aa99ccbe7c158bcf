"""The load generator: N authenticated WebSocket connections over R rooms, over several processes.

``run_load(plan)`` spreads the connections round-robin over worker processes (see
``bench.worker``), opens them all at one instant, sends for ``duration`` seconds
(fixed rate or closed loop), waits up to ``drain`` seconds for the expected
deliveries, and returns a ``LoadResult``: deliveries per second (one message to
1,000 members is 1,000 deliveries), latency percentiles, messages lost (expected
minus received), connect time, and the CPU and RSS of the server processes and of
the load generator itself.

CLI (prints the result as JSON)::

    python -m bench.loadgen --url ws://127.0.0.1:8765 --connections 20 --rooms 2 \
        --mode closed --senders 1 --duration 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from .probe import Probe, Sample, cpu_percent, redis_cpu_percent
from .progress import ProgressBar
from .stats import Histogram, percentile
from .worker import CLOSED_LOOP, ConnSpec, WorkerParams, run_worker

__all__ = ["CLOSED_LOOP", "ConnSpec", "LoadPlan", "LoadResult", "run_load", "build_conns"]


@dataclass
class LoadPlan:
    """What to run: the connections and the timing of each phase (seconds)."""

    conns: list[ConnSpec]
    duration: float = 5.0
    drain: float = 5.0
    settle: float = 0.0  # idle time after everyone is ready (memory readings)
    body_size: int = 100
    connect_concurrency: int = 0  # per worker; 0 opens every connection at once
    connect_timeout: float = 30.0  # per connection
    connect_budget: float = 0.0  # whole connect phase; 0: connect_timeout
    workers: int = 0  # 0: one per CPU, at least 2
    label: str = "load"
    drain_acks: bool = False  # the drain ends when every delivery and every ack arrived


@dataclass
class ServerStats:
    """One server process during a run."""

    pid: int
    cpu_percent: float  # during the send window and drain, of one core
    connect_cpu_percent: float  # during the connect phase
    rss_before: int  # before any connection opened
    rss_ready: int  # all connections ready (after ``settle``)
    rss_end: int
    rss_peak: int


@dataclass
class LoadResult:
    """Everything one run measured; ``None`` where nothing was there to measure."""

    label: str
    connections: int
    connected: int
    connect_failures: dict[str, int]
    connect_all_ready_s: float | None
    connect_p50_s: float | None
    connect_p99_s: float | None
    duration_s: float
    sent: int
    refused: int
    expected: int
    received: int
    lost: int
    disorder: int
    closed_loop_timeouts: int
    deliveries_per_s: float
    messages_per_s: float
    latency_ms: dict[str, float | None]
    ack_latency_ms: dict[str, float | None]  # send -> ack at the sender (stored and committed)
    errors: dict[str, int]
    unexpected_closes: dict[str, int]
    other_frames: dict[str, int]
    servers: list[ServerStats]
    loadgen_cpu_percent: float
    loadgen_workers: int
    redis_cpu_percent: float | None
    connect_phase_s: float  # from the common start to the last worker done connecting
    loadgen_connect_cpu_percent: float
    redis_connect_cpu_percent: float | None
    listen_overflows: int = 0  # during the connect phase (machine-wide kernel counter)
    acked: int = 0  # messages the server acknowledged (stored and committed)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def build_conns(
    urls: list[str],
    rooms: list[str],
    members: int,
    *,
    tokens: list[str] | None = None,
    rate: float = 0.0,
    senders_per_room: int | None = None,
    query: str = "",
) -> list[ConnSpec]:
    """``members`` connections per room, spread round-robin over ``urls`` (server processes).

    ``urls`` are base URLs (``ws://host:port``). The first ``senders_per_room``
    members of each room send at ``rate`` (all of them when None). ``tokens`` are
    used in order, one per connection. ``query`` is appended to every URL (``v=2``).
    """
    suffix = f"?{query}" if query else ""
    conns: list[ConnSpec] = []
    for room in rooms:
        for m in range(members):
            index = len(conns)
            sends = senders_per_room is None or m < senders_per_room
            conns.append(
                ConnSpec(
                    url=f"{urls[index % len(urls)]}/ws/rooms/{room}/{suffix}",
                    room=room,
                    token=tokens[index] if tokens else None,
                    rate=rate if sends else 0.0,
                )
            )
    return conns


class _Workers:
    """The worker processes and their pipes; always cleaned up by ``stop``."""

    def __init__(self, plan: LoadPlan) -> None:
        count = plan.workers or max(2, os.cpu_count() or 2)
        count = max(1, min(count, len(plan.conns)))
        params = WorkerParams(
            body_size=plan.body_size,
            connect_concurrency=plan.connect_concurrency,
            connect_timeout=plan.connect_timeout,
            connect_budget=_budget(plan),
            lifetime=_budget(plan) + plan.settle + plan.duration + plan.drain + 120,
            run_id=secrets.token_hex(4),
            drain_acks=plan.drain_acks,
        )
        # fork, not spawn: nothing to re-import, and no "__main__" guard needed by callers.
        context = multiprocessing.get_context("fork")
        self.pipes: list[Connection] = []
        self.procs = []
        self.progress: dict[int, dict] = {}
        for w in range(count):
            share = [(i, spec) for i, spec in enumerate(plan.conns) if i % count == w]
            parent_end, child_end = context.Pipe()
            # Each child closes its inherited copies of the earlier workers' parent ends, so
            # a worker sees EOF on its pipe as soon as the parent is gone.
            inherited = [p.fileno() for p in self.pipes]
            proc = context.Process(
                target=run_worker, args=(child_end, share, params, inherited), daemon=True
            )
            proc.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.procs.append(proc)

    def send(self, *command: Any, per_worker: list[Any] | None = None) -> None:
        for w, pipe in enumerate(self.pipes):
            pipe.send(
                command if per_worker is None else (*command[:1], per_worker[w], *command[1:])
            )

    def collect(self, kind: str, timeout: float, on_tick=None) -> list[dict]:
        """Wait for one ``kind`` reply from every worker, drawing progress meanwhile."""
        replies: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.pipes):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"load generator workers gave no {kind!r} within {timeout:.0f} s"
                )
            for pipe in wait([p for i, p in enumerate(self.pipes) if i not in replies], 0.25):
                w = self.pipes.index(pipe)
                try:
                    got, data = pipe.recv()
                except EOFError:
                    raise RuntimeError(f"load generator worker {w} died") from None
                if got == "progress":
                    self.progress[w] = data
                elif got == kind:
                    replies[w] = data
            if on_tick is not None:
                on_tick(self.totals())
        return [replies[w] for w in range(len(self.pipes))]

    def totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for data in self.progress.values():
            total.update(data)
        return dict(total)

    def stop(self) -> None:
        """Ask every worker to close its connections and exit; kill any that lingers."""
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # a dead worker's pipe is broken
                pipe.send(("close",))
        deadline = time.monotonic() + 15
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in self.pipes:
            pipe.close()


def _budget(plan: LoadPlan) -> float:
    return plan.connect_budget or plan.connect_timeout


def _sleep_sampling(until: float, probe: Probe | None) -> None:
    while time.monotonic() < until:
        time.sleep(min(0.25, max(0.0, until - time.monotonic())))
        if probe is not None:
            probe.sample()


def run_load(
    plan: LoadPlan,
    probe: Probe | None = None,
    *,
    quiet: bool = False,
    on_phase: Callable[[str], None] | None = None,
) -> LoadResult:
    """Run ``plan`` against the server(s) and measure it.

    ``probe`` watches the server processes; ``on_phase`` is called with ``"connect"``,
    ``"connected"``, ``"send"`` and ``"sent"`` as the phases start and end (e.g. to
    attach a profiler); ``quiet`` hides the progress bar.
    """
    hidden = open(os.devnull, "w") if quiet else None  # noqa: SIM115 - closed below
    bar = ProgressBar(plan.label, stream=hidden)
    workers = _Workers(plan)
    try:
        return _drive(plan, workers, probe, bar, on_phase or (lambda phase: None))
    finally:
        workers.stop()
        if hidden is not None:
            hidden.close()


def _drive(
    plan: LoadPlan,
    workers: _Workers,
    probe: Probe | None,
    bar: ProgressBar,
    on_phase: Callable[[str], None],
) -> LoadResult:
    n = len(plan.conns)
    workers.collect("hello", 60)
    s_before = probe.sample() if probe else None

    start_at = time.monotonic() + 0.2
    workers.send("connect", start_at)
    on_phase("connect")
    connected = workers.collect(
        "connected",
        _budget(plan) + 30,
        lambda t: bar.update(
            (t.get("connected", 0) + t.get("failed", 0)) / n,
            f"connecting {t.get('connected', 0)}/{n}",
        ),
    )
    on_phase("connected")
    s_connected = probe.sample() if probe else None
    connect_phase = time.monotonic() - start_at
    _sleep_sampling(time.monotonic() + plan.settle, probe)
    s_ready = probe.sample() if probe else None

    run_start = time.monotonic() + 0.1
    run_end = run_start + plan.duration
    workers.send("run", run_start, run_end)
    _sleep_sampling(run_start, probe)
    s_run = probe.sample() if probe else None
    on_phase("send")

    def running(t: dict[str, int]) -> None:
        elapsed = time.monotonic() - run_start
        bar.update(
            elapsed / max(plan.duration, 1e-9),
            f"{elapsed:4.1f}/{plan.duration:.0f} s  sent {t.get('sent', 0)}  received {t.get('received', 0)}",
        )
        if probe:
            probe.sample()

    sent_replies = workers.collect("sent", plan.duration + 60, running)
    on_phase("sent")
    sent: Counter[str] = Counter()
    for reply in sent_replies:
        sent.update(reply["sent"])
    members = [Counter(reply["members"]) for reply in connected]
    expected_per_worker = [sum(sent[room] * m[room] for room in m) for m in members]
    expected_total = sum(expected_per_worker)
    drain_deadline = time.monotonic() + plan.drain
    workers.send("drain", drain_deadline, per_worker=expected_per_worker)
    results = workers.collect(
        "result",
        plan.drain + 60,
        lambda t: bar.update(
            t.get("received", 0) / expected_total if expected_total else 1.0,
            f"draining {t.get('received', 0)}/{expected_total}",
        ),
    )
    s_end = probe.sample() if probe else None
    result = _aggregate(plan, connected, results, run_start, len(workers.pipes), connect_phase)
    if probe:
        result.servers = _server_stats(probe, s_before, s_connected, s_ready, s_run, s_end)
        result.redis_cpu_percent = redis_cpu_percent(s_run, s_end)
        result.redis_connect_cpu_percent = redis_cpu_percent(s_before, s_connected)
        result.listen_overflows = s_connected.listen_overflows - s_before.listen_overflows
    bar.close(_one_line(result))
    return result


def _aggregate(
    plan: LoadPlan,
    connected: list[dict],
    results: list[dict],
    run_start: float,
    worker_count: int,
    connect_phase: float,
) -> LoadResult:
    ready_times = [t for reply in connected for t in reply["ready_times"]]
    failures: Counter[str] = Counter()
    for reply in connected:
        failures.update(reply["failures"])
    totals: dict[str, Counter[str]] = {
        k: Counter()
        for k in ("sent", "refused", "received", "members", "errors", "other", "closes")
    }
    histogram = Histogram()
    ack_histogram = Histogram()
    cpu = wall = 0.0
    last_received_at = 0.0
    disorder = acks = timeouts = 0
    for reply in results:
        for key, counter in totals.items():
            counter.update(reply[key])
        histogram.merge(reply["histogram"])
        ack_histogram.merge(reply["ack_histogram"])
        cpu += reply["cpu"]
        wall = max(wall, reply["wall"])
        last_received_at = max(last_received_at, reply["last_received_at"])
        disorder += reply["disorder"]
        acks += reply["acks"]
        timeouts += reply["timeouts"]
    # Members that stayed connected: a connection closed mid-run counts its misses as lost.
    room_members: Counter[str] = Counter()
    for reply in connected:
        room_members.update(reply["members"])
    sent_total = sum(totals["sent"].values())
    refused_total = sum(totals["refused"].values())
    expected = sum(
        (totals["sent"][room] - totals["refused"][room]) * room_members[room]
        for room in totals["sent"]
    )
    received = sum(totals["received"].values())
    span = (last_received_at - run_start) if received else plan.duration
    span = max(span, 1e-3)
    notes = []
    if acks < sent_total - refused_total:
        notes.append(f"{sent_total - refused_total - acks} messages without ack")
    return LoadResult(
        label=plan.label,
        connections=len(plan.conns),
        connected=len(ready_times),
        connect_failures=dict(failures),
        connect_all_ready_s=max(ready_times) if ready_times and not failures else None,
        connect_p50_s=percentile(ready_times, 50),
        connect_p99_s=percentile(ready_times, 99),
        duration_s=plan.duration,
        sent=sent_total,
        refused=refused_total,
        expected=expected,
        received=received,
        lost=max(0, expected - received),
        disorder=disorder,
        closed_loop_timeouts=timeouts,
        deliveries_per_s=received / span,
        messages_per_s=sent_total / plan.duration if plan.duration else 0.0,
        latency_ms=histogram.summary(),
        ack_latency_ms=ack_histogram.summary(),
        errors=dict(totals["errors"]),
        unexpected_closes=dict(totals["closes"]),
        other_frames=dict(totals["other"]),
        servers=[],
        loadgen_cpu_percent=100.0 * cpu / wall if wall else 0.0,
        connect_phase_s=connect_phase,
        loadgen_connect_cpu_percent=100.0
        * sum(reply["cpu"] for reply in connected)
        / connect_phase,
        redis_connect_cpu_percent=None,
        loadgen_workers=worker_count,
        redis_cpu_percent=None,
        acked=acks,
        notes=notes,
    )


def _server_stats(
    probe: Probe, before: Sample, connected: Sample, ready: Sample, run: Sample, end: Sample
) -> list[ServerStats]:
    return [
        ServerStats(
            pid=pid,
            cpu_percent=cpu_percent(run, end, pid),
            connect_cpu_percent=cpu_percent(before, connected, pid),
            rss_before=before.rss[pid],
            rss_ready=ready.rss[pid],
            rss_end=end.rss[pid],
            rss_peak=probe.peak_rss.get(pid, 0),
        )
        for pid in probe.pids
    ]


def _one_line(result: LoadResult) -> str:
    lat = result.latency_ms
    p50 = f"{lat['p50']:.1f}" if lat["p50"] is not None else "-"
    p99 = f"{lat['p99']:.1f}" if lat["p99"] is not None else "-"
    return (
        f"{result.connected}/{result.connections} ready, {result.deliveries_per_s:,.0f} deliveries/s, "
        f"p50 {p50} ms, p99 {p99} ms, lost {result.lost}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="WebSocket chat load generator")
    parser.add_argument(
        "--url",
        action="append",
        required=True,
        help="ws://host:port (repeat for several server processes)",
    )
    parser.add_argument("--connections", type=int, default=100, help="members per room times rooms")
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--room-prefix", default="bench")
    parser.add_argument("--mode", choices=["closed", "rate", "idle"], default="closed")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per sender (rate mode)")
    parser.add_argument("--senders", type=int, default=1, help="senders per room (0: every member)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--token-file", help="file with one token per line, used in order")
    parser.add_argument("--server-pid", type=int, action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: run one load and print its result as JSON."""
    args = parse_args(argv)
    tokens = None
    if args.token_file:
        with open(args.token_file) as fh:
            tokens = [line.strip() for line in fh if line.strip()]
    rate = {"closed": CLOSED_LOOP, "rate": args.rate, "idle": 0.0}[args.mode]
    rooms = [f"{args.room_prefix}-{i:03d}" for i in range(args.rooms)]
    conns = build_conns(
        args.url,
        rooms,
        max(1, args.connections // args.rooms),
        tokens=tokens,
        rate=rate,
        senders_per_room=args.senders or None,
    )
    plan = LoadPlan(conns=conns, duration=args.duration, drain=args.drain, workers=args.workers)
    probe = Probe(args.server_pid) if args.server_pid else None
    result = run_load(plan, probe)
    json.dump(result.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
