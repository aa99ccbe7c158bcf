"""The scenarios of issue 7, as load plans, in full and ``--quick`` sizes, with their targets.

A scenario only says what load to apply and which number answers it; which servers
it runs against is ``bench.run``'s business, and judging is ``verdict``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .loadgen import CLOSED_LOOP, LoadPlan, LoadResult, build_conns


@dataclass(frozen=True)
class Sizes:
    """How big and how long: the full run, or the quick smoke version."""

    big_room: int  # members of the one big room (scenarios 1, 2, 5)
    duration: float  # send window, seconds
    drain: float  # longest wait for the last deliveries, seconds
    small_rooms: int  # scenario 3
    small_members: int
    idle_connections: int  # scenario 4
    idle_rooms: int
    settle: float  # idle seconds before reading RSS (scenario 4)
    idle_budget: float  # longest connect phase of scenario 4: a slow server is measured on fewer
    member_budget: float  # longest connect phase of scenarios 1-3
    member_settle: float  # idle seconds between the last ready and the first message
    connect_clients: int  # scenario 5
    crowd_connections: int  # scenario 7
    crowd_rooms: int
    ramp_rates: tuple[float, ...]  # scenario 8: messages/s per member, one step each
    ramp_duration: float  # scenario 8: send window of one step, seconds
    pause: float  # between two scenarios on one server: leaves and closes finish
    fresh_servers: bool  # restart the servers for every scenario (quick: once per group)


FULL = Sizes(
    big_room=1000,
    duration=20.0,
    drain=10.0,
    small_rooms=100,
    small_members=10,
    idle_connections=10_000,
    idle_rooms=100,
    settle=5.0,
    idle_budget=240.0,
    member_budget=120.0,
    member_settle=2.0,
    connect_clients=1000,
    crowd_connections=10_000,
    crowd_rooms=100,
    ramp_rates=(1.0, 2.0, 3.0, 4.0, 5.0),
    ramp_duration=10.0,
    pause=2.0,
    fresh_servers=True,
)
QUICK = Sizes(
    big_room=100,
    duration=1.0,
    drain=3.0,
    small_rooms=10,
    small_members=10,
    idle_connections=200,
    idle_rooms=10,
    settle=0.5,
    idle_budget=30.0,
    member_budget=30.0,
    member_settle=0.3,
    connect_clients=100,
    crowd_connections=200,
    crowd_rooms=10,
    ramp_rates=(1.0, 2.0),
    ramp_duration=1.0,
    pause=0.3,
    fresh_servers=False,
)

IDLE_CONNECT_CONCURRENCY = 25  # per load generator worker, scenarios 4 and 7
MEMBER_CONNECT_CONCURRENCY = 25  # per load generator worker, scenarios 1-3
BIG_ROOM = "big-1"  # scenarios 1 and 5 (5 connects where 1 left history)
RATE_ROOM = "big-2"
# The product's own clients (the page, the terminal client) ask for protocol 2
# (batched presence frames); the baselines ignore the query string.
CLIENT_QUERY = "v=2"
RAMP_P99_MS = 100.0  # scenario 8: the latency a rate must hold to count
RAMP_TARGET = 3000.0  # scenario 8: stored messages/s per process


def small_rooms(sizes: Sizes) -> list[str]:
    return [f"small-{i:03d}" for i in range(sizes.small_rooms)]


def idle_rooms(sizes: Sizes) -> list[str]:
    return [f"idle-{i:03d}" for i in range(sizes.idle_rooms)]


def crowd_rooms(sizes: Sizes) -> list[str]:
    return [f"crowd-{i:03d}" for i in range(sizes.crowd_rooms)]


@dataclass(frozen=True)
class Scenario:
    """One scenario: its number, what it measures, and how to build its load."""

    key: str
    title: str
    target: str
    plan: Callable[[list[str], list[str] | None, Sizes], LoadPlan]
    users: Callable[[Sizes], int]
    rooms: Callable[[Sizes], list[str]]


def _members(conns: list, sizes: Sizes, label: str) -> LoadPlan:
    # Members join a few at a time and the room settles before the first message:
    # scenarios 1-3 are about messages; the connect storm is scenario 5's.
    return LoadPlan(
        conns=conns,
        duration=sizes.duration,
        drain=sizes.drain,
        settle=sizes.member_settle,
        connect_concurrency=MEMBER_CONNECT_CONCURRENCY,
        connect_timeout=60.0,
        connect_budget=sizes.member_budget,
        label=label,
    )


def _s1(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    conns = build_conns(
        urls, [BIG_ROOM], sizes.big_room, tokens=tokens, rate=CLOSED_LOOP, senders_per_room=1
    )
    return _members(conns, sizes, "s1 closed loop")


def _s2(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    conns = build_conns(
        urls, [RATE_ROOM], sizes.big_room, tokens=tokens, rate=10.0, senders_per_room=1
    )
    return _members(conns, sizes, "s2 10 msg/s")


def _s3(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    conns = build_conns(urls, small_rooms(sizes), sizes.small_members, tokens=tokens, rate=1.0)
    return _members(conns, sizes, "s3 small rooms")


def ramp_plan(urls: list[str], tokens: list[str] | None, sizes: Sizes, rate: float) -> LoadPlan:
    """One step of scenario 8: scenario 3's rooms with every member sending ``rate`` a second."""
    conns = build_conns(urls, small_rooms(sizes), sizes.small_members, tokens=tokens, rate=rate)
    plan = _members(conns, sizes, f"s8 {stored_rate(sizes, rate):,.0f} stored msg/s")
    plan.duration = sizes.ramp_duration
    return plan


def stored_rate(sizes: Sizes, rate: float) -> float:
    """Scenario 8: the stored messages a second one step asks for (every member sends)."""
    return sizes.small_rooms * sizes.small_members * rate


def ramp_step_ok(result: LoadResult) -> bool:
    """A scenario 8 step holds when everyone was there, nothing was lost and p99 ≤ 100 ms."""
    p99 = result.latency_ms.get("p99")
    return (
        result.connected == result.connections
        and result.lost == 0
        and result.sent > 0
        and p99 is not None
        and p99 <= RAMP_P99_MS
    )


def highest_rate(steps: list[tuple[float, LoadResult]]) -> float | None:
    """Scenario 8's number: the highest stored rate whose step held (and every slower one)."""
    best = None
    for rate, result in sorted(steps, key=lambda step: step[0]):
        if not ramp_step_ok(result):
            break
        best = rate
    return best


def _s8_at_target(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    # The one-plan form of scenario 8 (``--profile 8``): the step at the target rate.
    return ramp_plan(urls, tokens, sizes, RAMP_TARGET / (sizes.small_rooms * sizes.small_members))


def _s4(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    per_room = sizes.idle_connections // sizes.idle_rooms
    conns = build_conns(urls, idle_rooms(sizes), per_room, tokens=tokens)
    # Opened a few at a time per worker: this scenario is about memory, not a storm
    # (daphne drops a handshake the application has not accepted within 5 s).
    return LoadPlan(
        conns=conns,
        duration=0.0,
        drain=0.0,
        settle=sizes.settle,
        connect_concurrency=IDLE_CONNECT_CONCURRENCY,
        connect_timeout=60.0,
        connect_budget=sizes.idle_budget,
        label="s4 idle memory",
    )


def _s5(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    conns = build_conns(urls, [BIG_ROOM], sizes.connect_clients, tokens=tokens, query=CLIENT_QUERY)
    return LoadPlan(
        conns=conns, duration=0.0, drain=0.0, connect_timeout=60.0, label="s5 connect storm"
    )


def _s7(urls: list[str], tokens: list[str] | None, sizes: Sizes) -> LoadPlan:
    per_room = sizes.crowd_connections // sizes.crowd_rooms
    conns = build_conns(urls, crowd_rooms(sizes), per_room, tokens=tokens, query=CLIENT_QUERY)
    # Scenario 4's pace (a few handshakes in flight per worker: daphne drops one the
    # application has not accepted within 5 s), but timed: connected and ready.
    return LoadPlan(
        conns=conns,
        duration=0.0,
        drain=0.0,
        connect_concurrency=IDLE_CONNECT_CONCURRENCY,
        connect_timeout=60.0,
        connect_budget=sizes.idle_budget,
        label="s7 crowds connecting",
    )


SCENARIOS: dict[str, Scenario] = {
    "1": Scenario(
        "1",
        "One room of 1,000 members, one sender, closed loop",
        "deliveries/s ≥ 15× tutorial and ≥ 0.5× raw",
        _s1,
        lambda s: s.big_room,
        lambda s: [BIG_ROOM],
    ),
    "2": Scenario(
        "2",
        "One room of 1,000 members at 10 messages/s",
        "p50 ≤ 10 ms, p99 ≤ 50 ms, nothing lost",
        _s2,
        lambda s: s.big_room,
        lambda s: [RATE_ROOM],
    ),
    "3": Scenario(
        "3",
        "100 rooms of 10 members, every member sending 1 message/s",
        "nothing lost, p99 ≤ 100 ms (SQLite and PostgreSQL)",
        _s3,
        lambda s: s.small_rooms * s.small_members,
        small_rooms,
    ),
    "4": Scenario(
        "4",
        "Idle memory at 10,000 connections over 100 rooms",
        "≤ 25 KB per connection (RSS growth / connections)",
        _s4,
        lambda s: s.idle_connections,
        idle_rooms,
    ),
    "5": Scenario(
        "5",
        "1,000 clients connecting at once (handshake, auth, ready with history)",
        "all ready within 2 s",
        _s5,
        lambda s: s.connect_clients,
        lambda s: [BIG_ROOM],
    ),
    "7": Scenario(
        "7",
        "10,000 connections over 100 rooms, connected and ready",
        "time to all ready ≤ 1.5× raw",
        _s7,
        lambda s: s.crowd_connections,
        crowd_rooms,
    ),
    "8": Scenario(
        "8",
        "Highest stored-message rate with p99 ≤ 100 ms (100 rooms of 10, rate raised)",
        "≥ 3,000 stored messages/s per process (SQLite and PostgreSQL)",
        _s8_at_target,
        lambda s: s.small_rooms * s.small_members,
        small_rooms,
    ),
}

# Scenario 6 runs scenarios 1 and 3 on two product processes sharing Redis.
SCENARIO_6 = ("1", "3")


def kb_per_connection(result: LoadResult) -> float | None:
    """Scenario 4's number: server RSS growth per ready connection, in KB (1,024 bytes)."""
    if not result.servers or not result.connected:
        return None
    growth = sum(s.rss_ready - s.rss_before for s in result.servers)
    return growth / result.connected / 1024


def headline(key: str, result: LoadResult) -> str:
    """The scenario's main number as text."""
    lat = result.latency_ms
    if key == "1":
        return f"{result.deliveries_per_s:,.0f} deliveries/s"
    if key in ("2", "3"):
        return f"p50 {fmt_ms(lat['p50'])}, p99 {fmt_ms(lat['p99'])}, lost {result.lost:,}"
    if key == "4":
        kb = kb_per_connection(result)
        return f"{kb:.1f} KB/connection" if kb is not None else "-"
    if key in ("5", "7"):
        ready = result.connect_all_ready_s
        return (
            f"all ready in {ready:.2f} s"
            if ready is not None
            else f"{result.connected}/{result.connections} ready"
        )
    return ""


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms")


def verdict(
    key: str, product: LoadResult, baselines: dict[str, LoadResult]
) -> tuple[bool | None, str]:
    """Whether the product met scenario ``key``'s target (None: cannot tell) and why."""
    lat = product.latency_ms
    complete = product.connected == product.connections
    if key == "1":
        tut, raw = baselines.get("tutorial"), baselines.get("raw")
        if tut is None or raw is None or not tut.deliveries_per_s or not raw.deliveries_per_s:
            return None, "needs both baselines"
        vs_tut = product.deliveries_per_s / tut.deliveries_per_s
        vs_raw = product.deliveries_per_s / raw.deliveries_per_s
        return (
            vs_tut >= 15 and vs_raw >= 0.5 and complete,
            f"{vs_tut:.1f}× tutorial, {vs_raw:.2f}× raw",
        )
    if key == "2":
        ok = (
            complete
            and lat["p50"] is not None
            and lat["p50"] <= 10
            and lat["p99"] <= 50
            and product.lost == 0
        )
        return ok, headline(key, product)
    if key == "3":
        ok = complete and lat["p99"] is not None and lat["p99"] <= 100 and product.lost == 0
        return ok, headline(key, product)
    if key == "4":
        kb = kb_per_connection(product)
        return (kb is not None and kb <= 25 and complete), headline(key, product)
    if key == "5":
        ready = product.connect_all_ready_s
        return (ready is not None and ready <= 2.0), headline(key, product)
    if key == "7":
        raw = baselines.get("raw")
        ready = product.connect_all_ready_s
        if raw is None or not raw.connect_all_ready_s or ready is None:
            return None, "needs the raw baseline, all ready"
        ratio = ready / raw.connect_all_ready_s
        return ratio <= 1.5, f"{ratio:.2f}× raw"
    return None, ""


def compared_value(key: str, result: LoadResult | None) -> float | None:
    """The number a scenario's ratios compare."""
    if result is None:
        return None
    if key == "1":
        return result.deliveries_per_s
    if key in ("2", "3"):
        return result.latency_ms["p99"]
    if key == "4":
        return kb_per_connection(result)
    if key in ("5", "7"):
        return result.connect_all_ready_s
    return None
