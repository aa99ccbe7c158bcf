"""Scenario 9, the seed's table: our row at 1,000, 10,000 and 100,000 connected users.

The design this product replaces claims 45 MB / 220 MB / 1.8 GB of memory, 8 / 15 /
35 ms of latency and 12k / 85k / 320k msg/s at 1k / 10k / 100k users. For each size
this module starts as many product processes as the open-files limit needs (at most
``per_process`` connections each: a process may hold 20,000 files), Redis mode on one
shared ``REDIS_URL`` and one SQLite file, and connects every user:

- one room of ``big_room`` (1,000) members, the rest in rooms of ``room_members`` (100);
- **rooms placed on processes**: every member of a room connects to the same process
  (the big room to process 0, each other room to the least-filled process), so a
  message is fanned out by one process and Redis only carries what crosses processes;
- several load generator processes (at most ``per_worker`` sockets each) and several
  loopback source addresses (127.0.0.2, 127.0.0.3, ...: at most ``per_source``
  connections each), so neither open files nor ephemeral ports run out.

Once everyone is ``ready`` and the servers have idled ``settle`` seconds, the total RSS
of the server processes is read; then one member of the big room sends in a closed loop
(its next message when its previous one came back) for ``duration`` seconds: latency
(send → each member) and deliveries/s. Every message is checked: acknowledged by the
server (stored and committed), a row in the database, delivered to every member.

``python -m bench.run --scenarios 9 --servers product [--users 1000,10000]`` runs it;
it writes ``<date>-users.md``, ``.json`` and ``.png`` next to the other reports.
``python -m bench.users_table <date>-users.json`` renders a report again from its JSON.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import databases, environment, redisdb, servers
from .loadgen import CLOSED_LOOP, LoadPlan, LoadResult, ServerStats, run_load
from .probe import Probe
from .report import Meta, machine_section, result_notes
from .scenarios import CLIENT_QUERY, IDLE_CONNECT_CONCURRENCY, fmt_ms
from .worker import ConnSpec

# The design we replace, as its README states it: users -> (RSS MB, latency ms, msg/s).
SEED_CLAIMS = {
    1_000: (45, 8, 12_000),
    10_000: (220, 15, 85_000),
    100_000: (1_800, 35, 320_000),
}
RSS_GOAL_USERS = 100_000
RSS_GOAL_BYTES = 1.8e9  # ≤ 1.8 GB at 100k (decimal, as the seed writes it)


@dataclass(frozen=True)
class TableSizes:
    """Which sizes, and how the connections are spread."""

    users: tuple[int, ...]
    big_room: int  # members of the room the messages go to
    room_members: int  # every other user sits in rooms of this many
    per_process: int  # connections per server process (open files: 20,000 at most)
    per_worker: int  # sockets per load generator process
    per_source: int  # connections per loopback source address (~28,000 ports each)
    duration: float  # send window, seconds
    drain: float
    settle: float  # idle seconds between the last ready and the RSS reading
    quick: bool = False


FULL = TableSizes(
    users=(1_000, 10_000, 100_000),
    big_room=1000,
    room_members=100,
    per_process=17_000,
    per_worker=15_000,
    per_source=10_000,
    duration=20.0,
    drain=10.0,
    settle=5.0,
)
QUICK = TableSizes(
    users=(50, 200),
    big_room=50,
    room_members=25,
    per_process=17_000,
    per_worker=15_000,
    per_source=10_000,
    duration=1.0,
    drain=3.0,
    settle=0.5,
    quick=True,
)


def big_room_slug(users: int) -> str:
    """The big room of one size: its own room, so its stored rows are that size's only."""
    return f"users-big-{users}"


def small_room_slug(index: int) -> str:
    return f"users-r{index:04d}"


@dataclass(frozen=True)
class Layout:
    """Rooms, their sizes and the process each is placed on; processes, workers, sources."""

    users: int
    processes: int
    workers: int
    sources: list[str]
    rooms: list[tuple[str, int, int]]  # (slug, members, process index)

    def members_per_process(self) -> list[int]:
        counts = [0] * self.processes
        for _, members, process in self.rooms:
            counts[process] += members
        return counts


def layout(users: int, sizes: TableSizes) -> Layout:
    """The big room on process 0, every other room on the least-filled process."""
    big = min(sizes.big_room, users)
    processes = max(1, math.ceil(users / sizes.per_process))
    rooms = [(big_room_slug(users), big, 0)]
    load = [0] * processes
    load[0] = big
    rest, index = users - big, 0
    while rest > 0:
        members = min(sizes.room_members, rest)
        target = min(range(processes), key=lambda p: (load[p], p))
        rooms.append((small_room_slug(index), members, target))
        load[target] += members
        rest -= members
        index += 1
    workers = max(2, math.ceil(users / sizes.per_worker))
    count = max(1, math.ceil(users / sizes.per_source))
    sources = [f"127.0.0.{2 + i}" for i in range(count)]
    return Layout(users, processes, workers, sources, rooms)


def all_rooms(sizes: TableSizes) -> list[str]:
    """Every room any size uses (to create them once, when seeding)."""
    slugs: set[str] = set()
    for users in sizes.users:
        slugs.update(slug for slug, _, _ in layout(users, sizes).rooms)
    return sorted(slugs)


def build_conns(lay: Layout, urls: list[str], tokens: list[str]) -> list[ConnSpec]:
    """One connection per user, to its room's process; the processes interleaved in order.

    Interleaving makes every process busy from the start of the connect phase (each
    load generator worker takes every n-th connection). The first member of the big
    room is the one sender (closed loop); every token is a different user.
    """
    per_process: list[list[ConnSpec]] = [[] for _ in range(lay.processes)]
    user = 0
    for slug, members, process in lay.rooms:
        for m in range(members):
            sender = slug == lay.rooms[0][0] and m == 0
            per_process[process].append(
                ConnSpec(
                    url=f"{urls[process]}/ws/rooms/{slug}/?{CLIENT_QUERY}",
                    room=slug,
                    token=tokens[user],
                    rate=CLOSED_LOOP if sender else 0.0,
                    source=lay.sources[user % len(lay.sources)],
                )
            )
            user += 1
    conns: list[ConnSpec] = []
    longest = max(len(queue) for queue in per_process)
    for i in range(longest):
        conns.extend(queue[i] for queue in per_process if i < len(queue))
    return conns


@dataclass
class Row:
    """One size measured."""

    users: int
    processes: int
    workers: int
    sources: list[str]
    members_per_process: list[int]
    big_room: str
    big_room_members: int
    result: LoadResult
    stored_rows: int | None  # rows of the big room in the database after the run
    redis_memory_before: int | None = None
    redis_memory_ready: int | None = None
    loadavg: float = 0.0  # the machine's 1-minute load average before the size started
    loadavg_send: float | None = None  # ... when the send window started (after connecting)
    notes: list[str] = field(default_factory=list)

    @property
    def total_rss(self) -> int:
        """Sum over the server processes, after everyone was ready and ``settle`` passed."""
        return sum(s.rss_ready for s in self.result.servers)

    @property
    def all_connected(self) -> bool:
        return self.result.connected == self.result.connections == self.users

    @property
    def every_message_stored(self) -> bool:
        """Acked = rows = sent, none refused, every connected member got every message, in order.

        Whether everyone connected is ``all_connected``'s question, shown separately.
        """
        r = self.result
        return (
            r.sent > 0
            and r.refused == 0
            and r.acked == r.sent
            and self.stored_rows == r.acked
            and r.lost == 0
            and r.received == r.expected > 0
            and r.disorder == 0
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["total_rss"] = self.total_rss
        data["every_message_stored"] = self.every_message_stored
        return data


def stored_messages(env: dict[str, str], slug: str) -> int | None:
    """Rows of room ``slug`` in the product's database (``DATABASE_URL`` of ``env``)."""
    code = (
        "from chat.models import Message; "
        f"print(Message.objects.filter(room__slug={slug!r}).count())"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=servers.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        return int(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None


def server_errors(procs: list[servers.Server], per_process: int = 2) -> list[str]:
    """The last error lines of each server's log (the logs go with the run's directory)."""
    notes = []
    for proc in procs:
        lines = [
            line.strip()[:300]
            for line in proc.log_tail(2000).splitlines()
            if "ERROR" in line or "Error" in line or "Traceback" in line
        ]
        if lines:
            notes.append(f"{proc.name} log, last error lines: " + " / ".join(lines[-per_process:]))
    return notes


def _redis_memory(client) -> int | None:
    try:
        return int(client.info("memory")["used_memory"])
    except Exception:  # a reading must never fail a run
        return None


def measure(
    users: int,
    sizes: TableSizes,
    env: dict[str, str],
    tokens: list[str],
    work: Path,
    redis_db: int,
) -> Row:
    """Start the size's server processes, connect everyone, send, check; stop them all."""
    lay = layout(users, sizes)
    loadavg = os.getloadavg()[0]
    redisdb.empty(redis_db)
    procs = [servers.product_server(work, env, i) for i in range(lay.processes)]
    notes: list[str] = []
    try:
        for proc in procs:
            proc.spawn()
        for proc in procs:
            proc.wait_listening()
        conns = build_conns(lay, [p.url for p in procs], tokens)
        plan = LoadPlan(
            conns=conns,
            duration=sizes.duration,
            drain=sizes.drain,
            settle=sizes.settle,
            connect_concurrency=IDLE_CONNECT_CONCURRENCY,
            connect_timeout=60.0,
            # Generous: a slow connect phase is measured, not cut short.
            connect_budget=max(120.0, users * 0.015),
            workers=lay.workers,
            label=f"s9 {users:,} users",
            drain_acks=True,  # "every message stored" counts acks: wait for the last one
        )
        redis = redisdb.client()
        memory = {"before": _redis_memory(redis)}

        def on_phase(phase: str) -> None:
            if phase == "send":  # everyone ready and settled
                memory["ready"] = _redis_memory(redis)
                memory["loadavg"] = os.getloadavg()[0]

        result = run_load(plan, Probe([p.pid for p in procs], redis), on_phase=on_phase)
        for proc in procs:
            if proc.process.poll() is not None:
                tail = " / ".join(proc.log_tail(3).splitlines())
                notes.append(f"{proc.name} exited during the run: {tail}")
        if result.connect_failures or result.errors:
            notes += server_errors(procs)
    finally:
        for proc in procs:
            proc.stop()
    big_slug, big_members, _ = lay.rooms[0]
    return Row(
        users=users,
        processes=lay.processes,
        workers=lay.workers,
        sources=lay.sources,
        members_per_process=lay.members_per_process(),
        big_room=big_slug,
        big_room_members=big_members,
        result=result,
        stored_rows=stored_messages(env, big_slug),
        redis_memory_before=memory.get("before"),
        redis_memory_ready=memory.get("ready"),
        loadavg=loadavg,
        loadavg_send=memory.get("loadavg"),
        notes=notes,
    )


def run(sizes: TableSizes, work: Path, redis_db: int, log=print) -> tuple[list[Row], list[str]]:
    """Seed one SQLite database for the largest size, then measure every size in turn."""
    work = work / "users-table"
    work.mkdir(parents=True, exist_ok=True)
    env = servers.product_env(databases.sqlite_url(work), redisdb.url(redis_db))
    tokens, took = databases.prepare(env, max(sizes.users), all_rooms(sizes), work / "tokens.txt")
    log(f"bench: users table: {max(sizes.users):,} users with tokens seeded ({took:.1f} s)")
    rows, notes = [], [f"seeding {max(sizes.users):,} users and tokens took {took:.1f} s"]
    for users in sizes.users:
        try:
            row = measure(users, sizes, env, tokens, work, redis_db)
        except (RuntimeError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            notes.append(f"{users:,} users: stopped early: {first}")
            log(f"bench: users table: {users:,} users: {exc}")
            break  # a larger size would fail the same way, only slower
        rows.append(row)
        r = row.result
        log(
            f"bench: users table: {users:,} users on {row.processes} process(es): "
            f"{r.connected:,} ready in {r.connect_all_ready_s or 0:.1f} s, "
            f"RSS {row.total_rss / 2**20:,.0f} MB, p50 {fmt_ms(r.latency_ms['p50'])}, "
            f"p99 {fmt_ms(r.latency_ms['p99'])}, {r.deliveries_per_s:,.0f} deliveries/s, "
            f"acked {r.acked:,}, rows {row.stored_rows}, lost {r.lost:,}"
        )
    return rows, notes


# --- the report ----------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def _pct(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}" for v in values) + " %"


def goal_line(rows: list[Row]) -> str:
    """The issue's one memory target, met or missed with the amount."""
    row = next((r for r in rows if r.users == RSS_GOAL_USERS), None)
    if row is None:
        reached = max((r.users for r in rows if r.all_connected), default=0)
        return (
            f"RSS ≤ 1.8 GB at 100,000 users: **not measured** (largest size reached with "
            f"everyone connected: {reached:,})."
        )
    gb = row.total_rss / 1e9
    if not row.all_connected and row.total_rss > RSS_GOAL_BYTES:
        # More connections only add memory: the goal is missed whatever the rest would add.
        return (
            f"RSS ≤ 1.8 GB at 100,000 users: **missed** by at least "
            f"{(row.total_rss - RSS_GOAL_BYTES) / 1e6:,.0f} MB: {gb:.2f} GB "
            f"({row.total_rss / 2**30:.2f} GiB) with {row.result.connected:,} of 100,000 "
            f"connected, over {row.processes} processes (GB = 10⁹ bytes; read as 1.8 GiB, "
            f"missed by {(row.total_rss - 1.8 * 2**30) / 2**20:,.0f} MiB)."
        )
    if not row.all_connected:
        return (
            f"RSS ≤ 1.8 GB at 100,000 users: **not answered**: only {row.result.connected:,} "
            f"of 100,000 connected ({gb:.2f} GB with those)."
        )
    met = row.total_rss <= RSS_GOAL_BYTES
    amount = abs(row.total_rss - RSS_GOAL_BYTES) / 1e6
    verdict = (
        f"**met** with {amount:,.0f} MB to spare" if met else f"**missed** by {amount:,.0f} MB"
    )
    return (
        f"RSS ≤ 1.8 GB at 100,000 users: {verdict} ({row.total_rss / 1e9:.2f} GB = "
        f"{row.total_rss / 2**30:.2f} GiB over {row.processes} processes)."
    )


def table_lines(rows: list[Row]) -> list[str]:
    """The seed's claims beside our measured row, size by size."""
    lines = [
        "| users | server RSS, seed → **ours** (MiB = 2²⁰ bytes) | latency, seed → **ours p50 / p99** "
        "| msg/s, seed → **our deliveries/s** | every message stored | connect, all ready |",
        "|---:|---|---|---|---|---:|",
    ]
    for row in rows:
        r = row.result
        claim = SEED_CLAIMS.get(row.users)
        seed_rss, seed_ms, seed_rate = (
            (f"{claim[0]:,} MB", f"{claim[1]} ms", f"{claim[2]:,}") if claim else ("-",) * 3
        )
        stored = (
            f"yes: {r.acked:,} acked = {row.stored_rows:,} rows, 0 lost"
            if row.every_message_stored
            else f"**no**: sent {r.sent:,}, acked {r.acked:,}, rows {row.stored_rows}, "
            f"lost {r.lost:,}"
        )
        ready = (
            f"{r.connect_all_ready_s:.1f} s"
            if r.connect_all_ready_s is not None
            else f"incomplete: {r.connected:,} in {r.connect_phase_s:.0f} s"
        )
        lines.append(
            f"| {row.users:,}{'' if row.all_connected else f' ({r.connected:,} ready)'} "
            f"| {seed_rss} → **{_mb(row.total_rss)}** ({row.processes} proc.) "
            f"| {seed_ms} → **{fmt_ms(r.latency_ms['p50'])} / {fmt_ms(r.latency_ms['p99'])}** "
            f"| {seed_rate} → **{r.deliveries_per_s:,.0f}** | {stored} | {ready} |"
        )
    return lines


def detail_lines(rows: list[Row]) -> list[str]:
    lines = [
        "| users | processes (members each) | RSS per process, before → ready | RSS growth per connection "
        "| Redis used_memory change (shared server) | load generator | connect phase: server / loadgen / Redis CPU "
        "| send window: server / loadgen / Redis CPU | p90 / max | ack p50 / p99 "
        "| load avg, before → sending |",
        "|---:|---|---|---:|---:|---|---|---|---|---|---:|",
    ]
    for row in rows:
        r = row.result
        before = sum(s.rss_before for s in r.servers)
        growth = (row.total_rss - before) / max(1, r.connected) / 1024
        redis_growth = (
            _mb(row.redis_memory_ready - row.redis_memory_before)
            if row.redis_memory_ready is not None and row.redis_memory_before is not None
            else "-"
        )
        rss = "; ".join(f"{_mb(s.rss_before)} → {_mb(s.rss_ready)}" for s in r.servers)
        lat, ack = r.latency_ms, r.ack_latency_ms
        connect_cpu = (
            f"{_pct([s.connect_cpu_percent for s in r.servers])} / "
            f"{r.loadgen_connect_cpu_percent:.0f} % / {r.redis_connect_cpu_percent or 0:.0f} %"
        )
        send_cpu = (
            f"{_pct([s.cpu_percent for s in r.servers])} / {r.loadgen_cpu_percent:.0f} % / "
            f"{r.redis_cpu_percent or 0:.0f} %"
        )
        lines.append(
            f"| {row.users:,} | {row.processes} ({', '.join(f'{m:,}' for m in row.members_per_process)}) "
            f"| {rss} | {growth:.1f} KB | {redis_growth} "
            f"| {row.workers} processes, {len(row.sources)} source address(es) "
            f"| {connect_cpu} over {r.connect_phase_s:.1f} s | {send_cpu} "
            f"| {fmt_ms(lat['p90'])} / {fmt_ms(lat['max'])} | {fmt_ms(ack['p50'])} / {fmt_ms(ack['p99'])} "
            f"| {row.loadavg:.1f}{'' if row.loadavg_send is None else f' → {row.loadavg_send:.1f}'} |"
        )
    notes = []
    for row in rows:
        r = row.result
        extra = list(row.notes) + result_notes(r)
        if extra:
            notes.append(f"- {row.users:,} users: " + "; ".join(extra))
    return lines + ([""] + notes if notes else [])


def cpu_lines(rows: list[Row], cores: int) -> list[str]:
    """How the cores were shared, per size and phase (nothing is pinned)."""
    lines = []
    for row in rows:
        r = row.result
        con = sum(s.connect_cpu_percent for s in r.servers)
        run = sum(s.cpu_percent for s in r.servers)
        big = r.servers[0].cpu_percent if r.servers else 0.0
        lines.append(
            f"- {row.users:,} users: connecting, servers {con:.0f} % + load generator "
            f"{r.loadgen_connect_cpu_percent:.0f} % + Redis {r.redis_connect_cpu_percent or 0:.0f} % "
            f"of {100 * cores} %; sending, servers {run:.0f} % (the big room's process {big:.0f} %) "
            f"+ load generator {r.loadgen_cpu_percent:.0f} % + Redis {r.redis_cpu_percent or 0:.0f} %."
        )
    return lines


METHOD = """\
- **Layout**: per size, {per_process:,} connections at most per daphne process (`python -m
  chatsite.serve`, Redis mode, one shared `REDIS_URL`, one SQLite file for all, WAL as the
  product configures it); a process may hold 20,000 open files, so 100,000 users need 6.
  **Rooms are placed on processes**: one room of {big_room:,} members on process 0 (the
  room the messages go to), every other user in rooms of {room_members} members, each room
  wholly on the least-filled process. Every user has its own account and token
  (`bench/seed.py`, in bulk) and connects with `?v=2` (batched presence).
- **Load generator**: `bench/loadgen.py` with {per_worker:,} sockets at most per worker
  process (fork, uvloop, the lean client of `bench/wsclient.py`), {concurrency} handshakes
  in flight per worker, and one loopback source address (127.0.0.2, ...) per
  {per_source:,} connections: each source address has its own ephemeral ports.
- **Memory**: RSS of every server process (with its children) {settle:g} s after the last
  `ready`, summed. Redis's own memory (`used_memory`, growth shown in the details) is not
  in it: the seed's figure is its server's only too.
- **Latency and deliveries/s**: one member of the big room sends in a closed loop (the
  next message when its previous one came back to it) for {duration:g} s while everyone
  stays connected; latency is send → delivery to each of the room's members (sender
  included, clock shared by all processes); deliveries/s counts message frames received by
  all members over the window. The seed's *msg/s* is a figure of its own (not said
  how it was made); ours is the fan-out of one room on one process.
- **Every message stored**: messages acknowledged by the server (an `ack` follows the
  commit) = rows of the room in the database (counted through the ORM after the run)
  = messages sent, and every member received every one (lost 0, in order).
- **CPU**: server processes from psutil, load generator from its workers' `getrusage`,
  Redis from `INFO cpu`, in % of one core, for the connect phase and for the send window.
  Nothing is pinned: servers, load generator and Redis share the machine's cores.
"""


def render(rows: list[Row], meta: Meta, sizes: TableSizes, chart_name: str) -> str:
    cores = int(meta.machine.get("nproc", "2"))
    out = [
        f"# The seed's table, measured: {meta.date}{' (quick)' if sizes.quick else ''}",
        "",
        f"`{meta.command}` at commit `{meta.commit}`, started {meta.started}, took "
        f"{meta.elapsed_s / 60:.1f} min. Machine: {meta.machine.get('nproc')} × "
        f"{meta.machine.get('cpu')}, {meta.machine.get('memory')}. Database: SQLite.",
        "",
    ]
    if sizes.quick:
        out += ["**Quick run**: tiny sizes, a smoke test; the seed's sizes are not answered.", ""]
    out += [
        "Issue 17, item 4. The seed's claims (the design this product replaces) beside our "
        "measured row:",
        "",
        *table_lines(rows),
        "",
        goal_line(rows),
        "",
        f"![chart]({chart_name})",
        "",
    ]
    if meta.notes:
        out += ["Notes:", "", *[f"- {n}" for n in meta.notes], ""]
    out += [
        "## Details",
        "",
        *detail_lines(rows),
        "",
        f"How the {cores} cores were shared:",
        "",
        *cpu_lines(rows, cores),
        "",
        "## Method",
        "",
        METHOD.format(
            per_process=sizes.per_process,
            big_room=sizes.big_room,
            room_members=sizes.room_members,
            per_worker=sizes.per_worker,
            per_source=sizes.per_source,
            concurrency=IDLE_CONNECT_CONCURRENCY,
            settle=sizes.settle,
            duration=sizes.duration,
        ),
        *machine_section(meta),
    ]
    return "\n".join(out)


def chart(rows: list[Row], path: Path, title: str, big_room: int = 1000) -> None:
    """Seed against ours per size: memory, latency, throughput, connect time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.8))
    fig.suptitle(title)
    labels = [f"{r.users:,}" for r in rows]
    xs = list(range(len(rows)))

    def seed(i: int) -> list[float]:
        return [SEED_CLAIMS.get(r.users, (0, 0, 0))[i] for r in rows]

    def pair(ax, ours, theirs, ylabel, name, log=True) -> None:
        ax.bar([x - 0.2 for x in xs], theirs, width=0.4, color="#bbbbbb", label="seed's claim")
        ax.bar([x + 0.2 for x in xs], ours, width=0.4, color="#1f77b4", label="ours, measured")
        for x, v in zip(xs, ours, strict=True):
            ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.2g}", (x + 0.2, v), ha="center",
                        va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(xs, labels)
        ax.set_xlabel("connected users")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        if log and any(ours):
            ax.set_yscale("log")
        ax.legend(fontsize=8)

    pair(axes[0], [r.total_rss / 2**20 for r in rows], seed(0), "MiB (log)", "server RSS, total")
    ax = axes[1]
    ax.bar([x - 0.27 for x in xs], seed(1), width=0.27, color="#bbbbbb", label="seed's claim")
    p50 = [r.result.latency_ms["p50"] or 0 for r in rows]
    p99 = [r.result.latency_ms["p99"] or 0 for r in rows]
    ax.bar(xs, p50, width=0.27, color="#1f77b4", label="ours p50")
    ax.bar([x + 0.27 for x in xs], p99, width=0.27, color="#ff7f0e", label="ours p99")
    ax.set_xticks(xs, labels)
    ax.set_xlabel("connected users")
    ax.set_ylabel("ms (log)")
    if any(p99):
        ax.set_yscale("log")
    ax.set_title(f"latency into the {big_room:,}-member room", fontsize=10)
    ax.legend(fontsize=8)
    pair(
        axes[2],
        [r.result.deliveries_per_s for r in rows],
        seed(2),
        "per second (log)",
        "seed msg/s vs our deliveries/s",
    )
    ax = axes[3]
    seconds = [r.result.connect_all_ready_s or r.result.connect_phase_s for r in rows]
    ax.bar(xs, seconds, color=["#2ca02c" if r.all_connected else "#d62728" for r in rows])
    for x, v, r in zip(xs, seconds, rows, strict=True):
        text = f"{v:,.0f} s" if r.all_connected else f"{v:,.0f} s, {r.result.connected:,} ready"
        ax.annotate(text, (x, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, labels)
    ax.set_xlabel("connected users")
    ax.set_ylabel("seconds")
    ax.set_title("time until all ready (seed: no claim)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(rows: list[Row], meta: Meta, sizes: TableSizes, out_dir: Path) -> Path:
    """Write ``<date>-users.md``, ``.png`` and ``.json`` (``-users-quick`` for quick sizes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{meta.date}-users{'-quick' if sizes.quick else ''}"
    chart_path = out_dir / f"{stem}.png"
    title = f"the seed's table, measured: {meta.date} (commit {meta.commit})"
    chart(rows, chart_path, title, sizes.big_room)
    path = out_dir / f"{stem}.md"
    path.write_text(render(rows, meta, sizes, chart_path.name))
    raw = {
        "meta": meta.__dict__,
        "sizes": asdict(sizes),
        "seed_claims": {str(k): v for k, v in SEED_CLAIMS.items()},
        "rows": [row.to_dict() for row in rows],
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(raw, indent=1, default=str))
    return path


def load(path: Path) -> tuple[list[Row], Meta, TableSizes]:
    """Read back a ``<date>-users.json`` written by ``write`` (to render it again)."""
    raw = json.loads(path.read_text())
    rows = []
    for item in raw["rows"]:
        item = dict(item)
        item.pop("total_rss", None)
        item.pop("every_message_stored", None)
        result = dict(item.pop("result"))
        result["servers"] = [ServerStats(**s) for s in result["servers"]]
        rows.append(Row(**item, result=LoadResult(**result)))
    sizes = raw["sizes"]
    sizes["users"] = tuple(sizes["users"])
    return rows, Meta(**raw["meta"]), TableSizes(**sizes)


def run_and_write(
    sizes: TableSizes, work: Path, redis_db: int, out_dir: Path, command: str
) -> Path:
    """Measure every size and write the report; return its path."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    rows, notes = run(sizes, work, redis_db, log=lambda text: print(text, file=sys.stderr))
    meta = Meta(
        date=started.strftime("%Y-%m-%d"),
        mode="quick" if sizes.quick else "full",
        command=command,
        commit=environment.git_commit(),
        machine=environment.machine(),
        versions=environment.versions(redisdb.client()),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        elapsed_s=time.monotonic() - clock,
        sizes=asdict(sizes),
        notes=notes,
    )
    return write(rows, meta, sizes, out_dir)


if __name__ == "__main__":
    # Render a report again from its JSON, e.g. after changing the layout:
    #     python -m bench.users_table docs/benchmarks/2026-12-07-users.json
    for name in sys.argv[1:]:
        rows, meta, sizes = load(Path(name))
        print(write(rows, meta, sizes, Path(name).parent))
