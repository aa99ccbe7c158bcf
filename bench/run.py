"""Run the benchmark suite against the product and both baselines, then write the report.

    python -m bench.run [--quick] [--scenarios 1,2,3,4,5,6,7,8,9] [--servers raw,daphne,tutorial,product]
                        [--users 1000,10000,100000]
                        [--profile [N]] [--out docs/benchmarks]
                        [--compare-with EARLIER_CHECKOUT [--rounds 2]]

Each scenario starts its server(s) fresh on free ports of 127.0.0.1 and stops them by
pid afterwards; a server that fails to start or dies is noted in the report and the
run goes on with the next. Needs Redis on 127.0.0.1:6379; PostgreSQL on 127.0.0.1:5432 for the
PostgreSQL rows (skipped with a note when it is not there). ``--quick`` runs small
versions of every scenario in about a minute (a smoke test: no targets judged).
``--profile [N]`` adds a pass of scenario N (default 1) against the product with py-spy
attached and puts a flame graph and the top costs in the report. ``--compare-with``
runs the product of an earlier checkout and of this one alternately instead
(``bench.compare``). Scenario 9 (the product only) is the seed's table at 1,000,
10,000 and 100,000 connected users (``bench.users_table``), its own report
``<date>-users.*``; ``--users`` picks other sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import compare, databases, environment, flame, redisdb, report, servers, users_table
from .loadgen import LoadPlan, run_load
from .probe import Probe
from .report import Meta, Record
from .scenarios import (
    FULL,
    QUICK,
    SCENARIO_6,
    SCENARIOS,
    Sizes,
    ramp_plan,
    ramp_step_ok,
    stored_rate,
)
from .servers import Server

DEFAULT_OUT = servers.BASE_DIR / "docs" / "benchmarks"
ORDER = ("4", "1", "5", "2", "3", "8", "7")
# Every scenario gets fresh servers (and an empty Redis database), except 5, which
# connects to the server 1 just used, so its room has history to send in ``ready``.
SHARES_SERVER = {"5": "1"}


@dataclass(frozen=True)
class Group:
    """Servers started together and the scenarios run against them."""

    key: str
    label: str
    kind: str  # raw, daphne, tutorial or product
    db: str | None = None  # sqlite or postgres (product only)
    processes: int = 1
    scenarios: tuple[str, ...] = ORDER
    checkout: Path | None = None  # the product of another checkout (--compare-with)


GROUPS = (
    Group("raw", "raw websockets", "raw"),
    # Only where the wire is the question: fan-out (1, 2) and connecting (5, 7).
    Group("daphne", "bare daphne (floor)", "daphne", scenarios=("1", "2", "5", "7")),
    # The tutorial loses most messages at scenario 3's rate already: no ramp (8) for it.
    Group(
        "tutorial", "Channels tutorial", "tutorial", scenarios=tuple(k for k in ORDER if k != "8")
    ),
    Group("product", "product (SQLite)", "product", "sqlite"),
    Group("product-pg", "product (PostgreSQL)", "product", "postgres", scenarios=("1", "3", "8")),
    Group("product-x2", "product ×2 processes (SQLite)", "product", "sqlite", 2, SCENARIO_6),
)


def selected_groups(scenarios: set[str], kinds: set[str]) -> list[Group]:
    """The groups to run, each with only the selected scenarios (6 selects ``product-x2``)."""
    chosen = []
    for group in GROUPS:
        if group.kind not in kinds:
            continue
        if group.key == "product-x2":
            keep = group.scenarios if "6" in scenarios else ()
        else:
            keep = tuple(k for k in group.scenarios if k in scenarios)
        if keep:
            chosen.append(
                Group(group.key, group.label, group.kind, group.db, group.processes, keep)
            )
    return chosen


def compare_groups(scenarios: set[str], checkout: Path, rounds: int) -> list[Group]:
    """Alternating rounds of the earlier checkout's product and this one's (SQLite)."""
    keep = tuple(k for k in ORDER if k in scenarios)
    sides = (
        (compare.BEFORE, compare.describe(checkout, environment.git_commit(checkout)), checkout),
        (compare.AFTER, environment.git_commit(), None),
    )
    return [
        Group(
            compare.group_key(side, n),
            f"{side} ({name}) #{n}",
            "product",
            "sqlite",
            scenarios=keep,
            checkout=where,
        )
        for n in range(1, rounds + 1)
        for side, name, where in sides
    ]


def next_key(keys: tuple[str, ...], key: str) -> str | None:
    """The scenario after ``key`` in ``keys``, or None."""
    index = keys.index(key)
    return keys[index + 1] if index + 1 < len(keys) else None


class Bench:
    """One invocation: work directory, Redis database, product databases, records."""

    def __init__(self, sizes: Sizes, work: Path, redis_db: int) -> None:
        self.sizes = sizes
        self.work = work
        self.redis_url = redisdb.url(redis_db)
        self.redis_db = redis_db
        self.records: list[Record] = []
        self.notes: list[str] = []
        self.db_urls: dict[str, str] = {}
        self.tokens: dict[str, list[str]] = {}
        self.postgres_url: str | None = None

    def prepare_databases(self, groups: list[Group]) -> None:
        """Create, migrate and seed each product database the groups need."""
        for db in sorted({g.db for g in groups if g.db}):
            keys = {k for g in groups if g.db == db for k in g.scenarios}
            if db == "postgres":
                problem = databases.postgres_available()
                if problem:
                    self.notes.append(f"PostgreSQL rows skipped: {problem}")
                    continue
                self.postgres_url = self.db_urls[db] = databases.create_postgres()
            else:
                self.db_urls[db] = databases.sqlite_url(self.work)
            users = max(SCENARIOS[k].users(self.sizes) for k in keys)
            rooms = sorted({room for k in keys for room in SCENARIOS[k].rooms(self.sizes)})
            env = servers.product_env(self.db_urls[db], self.redis_url)
            tokens, took = databases.prepare(env, users, rooms, self.work / f"tokens-{db}.txt")
            self.tokens[db] = tokens
            print(
                f"bench: {db}: migrated, {users:,} users with tokens, {len(rooms)} rooms ({took:.1f} s)",
                file=sys.stderr,
            )

    def start(self, group: Group) -> list[Server]:
        """Start the group's server processes (the Redis database emptied first)."""
        redisdb.empty(self.redis_db)
        if group.kind == "raw":
            procs = [servers.raw_server(self.work)]
        elif group.kind == "daphne":
            procs = [servers.daphne_server(self.work)]
        elif group.kind == "tutorial":
            procs = [servers.tutorial_server(self.work, self.redis_url)]
        else:
            env = servers.product_env(self.db_urls[group.db], self.redis_url)
            procs = [
                servers.product_server(self.work, env, i, checkout=group.checkout)
                for i in range(group.processes)
            ]
        try:
            # Side by side: two product processes start in the time of one.
            for proc in procs:
                proc.spawn()
            for proc in procs:
                proc.wait_listening()
        except BaseException:
            for proc in procs:
                proc.stop()
            raise
        return procs

    def run_group(self, group: Group) -> None:
        """Run the group's scenarios, each on freshly started servers (5 shares 1's)."""
        if group.db and group.db not in self.db_urls:
            return
        procs: list[Server] = []
        previous = None
        try:
            for key in group.scenarios:
                shares = SHARES_SERVER.get(key) == previous or not self.sizes.fresh_servers
                if not (procs and shares):
                    self.stop(procs)
                    clock = time.monotonic()
                    procs = self.start(group)
                    took = time.monotonic() - clock
                    print(f"bench: {group.label}: started in {took:.1f} s", file=sys.stderr)
                previous = key
                if key == "8":
                    self.records.extend(self.run_ramp(group, procs))
                else:
                    self.records.append(self.run_scenario(group, key, procs))
                dead = [p for p in procs if p.process.poll() is not None]
                if dead:
                    tail = " / ".join(dead[0].log_tail(3).splitlines())
                    self.notes.append(f"{group.label}: exited during scenario {key}: {tail}")
                    self.stop(procs)
                    procs = []
                following = next_key(group.scenarios, key)
                if following and (
                    SHARES_SERVER.get(following) == key or not self.sizes.fresh_servers
                ):
                    time.sleep(self.sizes.pause)  # the closes finish before the next clients come
        finally:
            self.stop(procs)

    def run_scenario(self, group: Group, key: str, procs: list[Server]) -> Record:
        """One scenario against running servers."""
        plan = SCENARIOS[key].plan(
            [p.url for p in procs], self.tokens.get(group.db or ""), self.sizes
        )
        return self._measure(group, key, plan, procs, group.label)

    def run_ramp(self, group: Group, procs: list[Server]) -> list[Record]:
        """Scenario 8: scenario 3's rooms at rising rates on the same servers, one record
        a step, until a step misses (p99 over 100 ms, a loss) or the rates run out."""
        records = []
        for rate in self.sizes.ramp_rates:
            stored = stored_rate(self.sizes, rate)
            plan = ramp_plan(
                [p.url for p in procs], self.tokens.get(group.db or ""), self.sizes, rate
            )
            label = f"{group.label} at {stored:,.0f} msg/s"
            records.append(self._measure(group, "8", plan, procs, label, step=stored))
            if not ramp_step_ok(records[-1].result):
                break
            time.sleep(self.sizes.pause)  # the closes finish before the next step's clients
        return records

    @staticmethod
    def _measure(
        group: Group,
        key: str,
        plan: LoadPlan,
        procs: list[Server],
        label: str,
        step: float | None = None,
    ) -> Record:
        """Run ``plan`` against ``procs`` with a probe attached; the run as a ``Record``."""
        plan.label = f"[{group.label}] {plan.label}"
        probe = Probe([p.pid for p in procs], redisdb.client())
        loadavg, clock = os.getloadavg()[0], time.monotonic()
        result = run_load(plan, probe)
        elapsed = time.monotonic() - clock
        return Record(group.key, label, key, result, loadavg, elapsed, step=step)

    @staticmethod
    def stop(procs: list[Server]) -> None:
        for proc in procs:
            proc.stop()

    def profile(self, key: str, out_dir: Path, stem: str) -> tuple[str, str] | None:
        """Scenario ``key`` against a fresh product process under py-spy; (summary, svg name).

        py-spy records the phase that scenario is about: the send window for 1-3, the
        connect phase for 4 and 5. The run's numbers are not reported (the profiler
        slows the server).
        """
        if "sqlite" not in self.db_urls:
            return None
        window = ("connect", "connected") if key in ("4", "5", "7") else ("send", "sent")
        group = Group("product", "product (SQLite), profiled", "product", "sqlite")
        procs = self.start(group)
        # Collapsed stacks are large: kept only where BENCH_STACKS_DIR asks (for digging).
        raw_path = Path(os.environ.get("BENCH_STACKS_DIR") or self.work) / f"{stem}-profile.txt"
        recorder: flame.Recorder | None = None

        def on_phase(phase: str) -> None:
            nonlocal recorder
            if phase == window[0]:
                recorder = flame.Recorder(procs[0].pid, raw_path)
            elif phase == window[1] and recorder is not None:
                recorder.stop()

        try:
            plan = SCENARIOS[key].plan([procs[0].url], self.tokens["sqlite"], self.sizes)
            plan.label = f"[profile] {plan.label}"
            run_load(plan, Probe([procs[0].pid]), on_phase=on_phase)
        finally:
            if recorder is not None:
                recorder.stop()
            self.stop(procs)
        if not raw_path.exists():
            self.notes.append("profile: py-spy wrote nothing (is ptrace allowed?)")
            return None
        stacks = flame.read_stacks(raw_path)
        svg = out_dir / f"{stem}-profile.svg"
        title = f"product, scenario {key} ({window[0]} phase, {self.sizes.big_room}-member room), py-spy"
        flame.write_svg(stacks, svg, title)
        return flame.summary_markdown(flame.top_costs(stacks)), svg.name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, about a minute, no verdicts"
    )
    parser.add_argument(
        "--scenarios", default="1,2,3,4,5,6,7,8,9", help="comma-separated scenario numbers"
    )
    parser.add_argument(
        "--users",
        metavar="N,N,...",
        help="scenario 9 at these numbers of connected users instead of 1,000,10,000,100,000",
    )
    parser.add_argument(
        "--crowd",
        metavar="N/R",
        help="scenario 7 with N connections over R rooms instead of the full 10,000/100",
    )
    parser.add_argument(
        "--connect-clients",
        type=int,
        metavar="N",
        help="scenario 5 with N clients instead of the full 1,000",
    )
    parser.add_argument(
        "--servers",
        default="raw,daphne,tutorial,product",
        help="comma-separated: raw, daphne, tutorial, product",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="1",
        choices=["1", "2", "3", "4", "5", "7", "8"],
        help="also profile the product under a scenario with py-spy (default 1)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="report directory (default docs/benchmarks)"
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        metavar="CHECKOUT",
        help="run the product of this earlier checkout and of this one alternately "
        "(scenarios default to 1,3,4; writes <date>-compare.*)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of each side with --compare-with (default 2)"
    )
    args = parser.parse_args(argv)
    if args.compare_with is not None:
        args.compare_with = args.compare_with.resolve()
        if not (args.compare_with / "chatsite" / "serve.py").exists():
            parser.error(f"{args.compare_with} is not a checkout of this project")
        if "--scenarios" not in (argv if argv is not None else sys.argv[1:]):
            args.scenarios = "1,3,4"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the report; return the exit status."""
    args = parse_args(argv)
    servers.raise_nofile()
    sizes = QUICK if args.quick else FULL
    if args.crowd:
        count, rooms = (int(n) for n in args.crowd.split("/"))
        sizes = dataclasses.replace(sizes, crowd_connections=count, crowd_rooms=rooms)
    if args.connect_clients:
        sizes = dataclasses.replace(sizes, connect_clients=args.connect_clients)
    scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    kinds = {s.strip() for s in args.servers.split(",") if s.strip()}
    if args.compare_with is not None:
        groups = compare_groups(scenarios, args.compare_with, args.rounds)
    else:
        groups = selected_groups(scenarios, kinds)
    # Scenario 9 (the seed's table) is the product's alone, with a report of its own.
    table = "9" in scenarios and "product" in kinds and args.compare_with is None
    table_sizes = users_table.QUICK if args.quick else users_table.FULL
    if args.users:
        counts = tuple(int(n) for n in args.users.split(",") if n.strip())
        table_sizes = dataclasses.replace(table_sizes, users=counts)
    if not groups and not table:
        print("bench: nothing to run for those --scenarios and --servers", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    clock = time.monotonic()
    date = started.strftime("%Y-%m-%d")
    mode = "compare" if args.compare_with else "quick" if args.quick else "full"
    stem = date if mode == "full" else f"{date}-{mode}"
    args.out.mkdir(parents=True, exist_ok=True)
    profile = None
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp, redisdb.claimed_db() as redis_db:
        bench = Bench(sizes, Path(tmp), redis_db)
        try:
            bench.prepare_databases(groups)
            for group in groups:
                try:
                    bench.run_group(group)
                except (RuntimeError, TimeoutError) as exc:
                    # One broken server (or a hung load) must not cost the others' numbers.
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    bench.notes.append(f"{group.label}: stopped early: {first}")
                    print(f"bench: {group.label}: {exc}", file=sys.stderr)
            if args.profile:
                profile = bench.profile(args.profile, args.out, stem)
        finally:
            if bench.postgres_url:
                databases.drop_postgres(bench.postgres_url)
        command = "python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:])
        meta = Meta(
            date=date,
            mode=mode,
            command=command,
            commit=environment.git_commit(),
            machine=environment.machine(),
            versions=environment.versions(
                redisdb.client(), databases.POSTGRES_ADMIN if bench.postgres_url else None
            ),
            started=started.strftime("%Y-%m-%d %H:%M UTC"),
            elapsed_s=time.monotonic() - clock,
            sizes=asdict(sizes),
            notes=bench.notes,
            profile_md=profile[0] if profile else None,
            profile_svg=profile[1] if profile else None,
        )
        path = report.write(bench.records, meta, args.out) if groups else None
        table_path = (
            users_table.run_and_write(table_sizes, Path(tmp), redis_db, args.out, command)
            if table
            else None
        )
    for written in (path, table_path):
        if written is not None:
            print(f"bench: report written to {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
