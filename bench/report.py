"""The benchmark report: ``docs/benchmarks/<date>.md``, its chart ``<date>.png`` and raw ``<date>.json``.

Rendering only: every number comes from the ``Record`` list that ``bench.run``
measured in one invocation, so ratios always compare runs of the same moment.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .compare import chart as comparison_chart
from .compare import table as comparison_table
from .loadgen import LoadResult, ServerStats
from .scenarios import (
    IDLE_CONNECT_CONCURRENCY,
    MEMBER_CONNECT_CONCURRENCY,
    RAMP_TARGET,
    SCENARIO_6,
    SCENARIOS,
    compared_value,
    fmt_ms,
    headline,
    highest_rate,
    kb_per_connection,
    ramp_step_ok,
    verdict,
)

# The product group whose numbers answer scenarios 1-5 (scenario 3 also uses product-pg).
PRODUCT = "product"
PRODUCT_PG = "product-pg"
PRODUCT_X2 = "product-x2"


@dataclass
class Record:
    """One scenario run against one server group."""

    group: str
    label: str
    scenario: str
    result: LoadResult
    loadavg: float = 0.0  # the machine's 1-minute load average just before the run
    elapsed_s: float = 0.0
    step: float | None = None  # scenario 8: the stored messages/s this run asked for


@dataclass
class Meta:
    """Everything the report says besides the measurements."""

    date: str
    mode: str  # "full" or "quick"
    command: str
    commit: str
    machine: dict[str, str]
    versions: dict[str, str]
    started: str
    elapsed_s: float
    sizes: dict
    notes: list[str] = field(default_factory=list)
    profile_md: str | None = None
    profile_svg: str | None = None


def _record(records: list[Record], group: str, scenario: str) -> Record | None:
    for record in records:
        if record.group == group and record.scenario == scenario:
            return record
    return None


def _find(records: list[Record], group: str, scenario: str) -> LoadResult | None:
    record = _record(records, group, scenario)
    return record.result if record else None


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b:
        return "-"
    return f"{a / b:.2f}×" if a / b < 10 else f"{a / b:.1f}×"


_RATIO_OF = {
    "1": "deliveries/s",
    "2": "p99",
    "3": "p99",
    "4": "KB/conn",
    "5": "time to all ready",
    "7": "time to all ready",
    "8": "highest rate held",
}


def summary_table(records: list[Record], quick: bool) -> list[str]:
    """Scenario by scenario: target, product, baselines, ratios, verdict."""
    lines = [
        "| # | target | product | tutorial | raw | ratio compared | product / tutorial | product / raw | met? |",
        "|---|---|---|---|---|---|---:|---:|---|",
    ]
    rows = [(k, PRODUCT, "") for k in ("1", "2", "3")] + [("3", PRODUCT_PG, " (PostgreSQL)")]
    rows += [(k, PRODUCT, "") for k in ("4", "5", "7")]
    for key, group, suffix in rows:
        product = _find(records, group, key)
        if product is None:
            continue
        tut, raw = _find(records, "tutorial", key), _find(records, "raw", key)
        baselines = {name: r for name, r in (("tutorial", tut), ("raw", raw)) if r is not None}
        met, _ = verdict(key, product, baselines)
        shown = "n/a (quick sizes)" if quick else {True: "yes", False: "**no**", None: "-"}[met]
        scenario = SCENARIOS[key]
        label = f"{key}{suffix if suffix else (' (SQLite)' if key == '3' else '')}"
        lines.append(
            f"| {label} | {scenario.target} | {headline(key, product)} | "
            f"{headline(key, tut) if tut else '-'} | {headline(key, raw) if raw else '-'} | "
            f"{_RATIO_OF[key]} | {_ratio(compared_value(key, product), compared_value(key, tut))} | "
            f"{_ratio(compared_value(key, product), compared_value(key, raw))} | {shown} |"
        )
    lines += ramp_rows(records, quick)
    for key in SCENARIO_6:
        one, two = _find(records, PRODUCT, key), _find(records, PRODUCT_X2, key)
        if two is None:
            continue
        before = f"1 process: {headline(key, one)}; " if one else ""
        lines.append(
            f"| 6 (as {key}) | report 1 → 2 processes | {before}2 processes: {headline(key, two)} | - | - | "
            f"{_RATIO_OF[key]}, 2 procs / 1 proc | {_ratio(compared_value(key, two), compared_value(key, one))} | - | reported |"
        )
    return lines


def floor_table(records: list[Record]) -> list[str]:
    """The daphne floor: for the wire-bound scenarios, where daphne alone stands
    against raw, and the product against daphne alone (empty without the floor)."""
    rows = []
    for key in ("1", "2", "5", "7"):
        floor, raw, product = (_find(records, g, key) for g in ("daphne", "raw", PRODUCT))
        if floor is None:
            continue
        rows.append(
            f"| {key} | {_RATIO_OF[key]} | {headline(key, floor)} | "
            f"{headline(key, raw) if raw else '-'} | {headline(key, product) if product else '-'} | "
            f"{_ratio(compared_value(key, floor), compared_value(key, raw))} | "
            f"{_ratio(compared_value(key, product), compared_value(key, floor))} |"
        )
    if not rows:
        return []
    return [
        "## The daphne floor",
        "",
        "*bare daphne* is raw's room logic as a bare ASGI app under stock daphne"
        " (`bench/baselines/bare_daphne.py`): what the contract's server costs by itself.",
        "",
        "| # | compared | bare daphne | raw | product | daphne / raw | product / daphne |",
        "|---|---|---|---|---|---:|---:|",
        *rows,
        "",
    ]


def _steps(records: list[Record], group: str) -> list[tuple[float, LoadResult]]:
    return [
        (r.step, r.result) for r in records if r.scenario == "8" and r.group == group and r.step
    ]


def ramp_headline(steps: list[tuple[float, LoadResult]]) -> str:
    """Scenario 8 for one server: the highest rate that held, and the first that did not."""
    if not steps:
        return "-"
    best = highest_rate(steps)
    missed = next((s for s in sorted(steps, key=lambda s: s[0]) if not ramp_step_ok(s[1])), None)
    text = f"{best:,.0f} stored msg/s" if best else "none held"
    if missed is not None:
        rate, result = missed
        text += f" (at {rate:,.0f}: p99 {fmt_ms(result.latency_ms['p99'])}, lost {result.lost:,})"
    else:
        text += " (every step held: the ramp's top)"
    return text


def ramp_rows(records: list[Record], quick: bool) -> list[str]:
    """Scenario 8's summary rows: per database, the highest rate against 3,000/s and raw's."""
    raw = _steps(records, "raw")
    raw_best = highest_rate(raw) if raw else None
    lines = []
    for group, suffix in ((PRODUCT, "SQLite"), (PRODUCT_PG, "PostgreSQL")):
        steps = _steps(records, group)
        if not steps:
            continue
        best = highest_rate(steps)
        met = best is not None and best >= RAMP_TARGET
        shown = "n/a (quick sizes)" if quick else ("yes" if met else "**no**")
        lines.append(
            f"| 8 ({suffix}) | {SCENARIOS['8'].target} | {ramp_headline(steps)} | - | "
            f"{ramp_headline(raw) if raw else '-'} | highest rate held | - | "
            f"{_ratio(best, raw_best)} | {shown} |"
        )
    return lines


def cpu_sharing(rows: list[tuple[str, Record]], cores: int) -> list[str]:
    """How the machine's cores were split between server(s), load generator and Redis."""
    lines = [f"How the {cores} cores were shared during the send window (nothing is pinned):", ""]
    for label, record in rows:
        r = record.result
        servers = [s.cpu_percent for s in r.servers]
        redis = r.redis_cpu_percent or 0.0
        total = sum(servers) + r.loadgen_cpu_percent + redis
        lines.append(
            f"- {label}: server {' + '.join(f'{c:.0f} %' for c in servers)}, load generator "
            f"{r.loadgen_cpu_percent:.0f} %, Redis {redis:.0f} %: {total:.0f} % of {100 * cores} %"
        )
    return lines


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def detail_table(rows: list[tuple[str, Record]], connect_phase: bool = False) -> list[str]:
    """One row per server: every number the run measured.

    CPU columns cover the send window and drain, or with ``connect_phase`` (scenarios
    4 and 5, which send nothing) the connect phase.
    """
    lines = [
        "| server | ready | connect (all / p50) | sent | deliveries/s | p50 | p90 | p99 | max | lost "
        "| ack p50 / p99 | server CPU | loadgen CPU | Redis CPU | server RSS before → ready → end "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    results = [(label, record.result) for label, record in rows]
    for (label, r), (_, record) in zip(results, rows, strict=True):
        lat, ack = r.latency_ms, r.ack_latency_ms
        if connect_phase:
            server_cpu = [s.connect_cpu_percent for s in r.servers]
            loadgen_cpu, redis_cpu_value = (
                r.loadgen_connect_cpu_percent,
                r.redis_connect_cpu_percent,
            )
        else:
            server_cpu = [s.cpu_percent for s in r.servers]
            loadgen_cpu, redis_cpu_value = r.loadgen_cpu_percent, r.redis_cpu_percent
        cpu = " + ".join(f"{c:.0f} %" for c in server_cpu) or "-"
        rss = "; ".join(
            f"{_mb(s.rss_before)} → {_mb(s.rss_ready)} → {_mb(s.rss_end)}" for s in r.servers
        )
        ready_all = (
            f"{r.connect_all_ready_s:.2f} s" if r.connect_all_ready_s is not None else "incomplete"
        )
        ready_p50 = f"{r.connect_p50_s:.2f} s" if r.connect_p50_s is not None else "-"
        redis_cpu = f"{redis_cpu_value:.0f} %" if redis_cpu_value is not None else "-"
        lines.append(
            f"| {label} | {r.connected:,}/{r.connections:,} | {ready_all} / {ready_p50} | {r.sent:,} | "
            f"{r.deliveries_per_s:,.0f} | {fmt_ms(lat['p50'])} | {fmt_ms(lat['p90'])} | {fmt_ms(lat['p99'])} | "
            f"{fmt_ms(lat['max'])} | {r.lost:,} | {fmt_ms(ack['p50'])} / {fmt_ms(ack['p99'])} "
            f"| {cpu} | {loadgen_cpu:.0f} % | {redis_cpu} | {rss} "
            f"| {record.loadavg:.1f} |"
        )
    notes = []
    for label, r in results:
        extra = result_notes(r)
        if extra:
            notes.append(f"- {label}: " + "; ".join(extra))
    return lines + ([""] + notes if notes else [])


METHOD = """\
- **Load generator** (`bench/loadgen.py`, `bench/worker.py`): {workers} worker processes (fork),
  each an asyncio loop on uvloop driving its share of the connections (round-robin, so
  every worker holds members of every room) through websockets' Sans-I/O client
  protocol on plain asyncio transports (`bench/wsclient.py`: no task or future per
  frame). Every connection authenticates with its own user's token
  (`Authorization: Bearer`, users `bench-u00000`... made in bulk by `bench/seed.py`),
  sends an `Origin` header, and waits for `ready`. Compression off on both sides.
- **Timing**: in scenarios 1-3 members connect {member_concurrency} at a time per worker
  and the room settles {member_settle} s before the first message (the storm is scenario
  5's subject: there all connections start at one instant, and connect time runs from
  that instant to each `ready`, queueing in the accept backlog included). Then the
  send window ({duration} s), then a drain of at most {drain} s that ends as soon as
  every expected delivery arrived. Closed loop: the one sender sends its next message
  when its previous one comes back to it as a `message` frame. Fixed rate: each sender
  starts at a random phase within its interval, so 1,000 senders at 1/s are spread out.
- **Latency**: each body starts with `B<sender>:<n>:<CLOCK_MONOTONIC ns>`; the receiver
  subtracts it from its own clock (system-wide on Linux), so latency is send → delivery to
  each member, sender included. Percentiles from a merged log histogram (1 % buckets).
  *Ack* latency is send → `ack` at the sender: for the product, the time to store and
  commit (guarantee 1), so the rest of the delivery latency is fan-out.
- **Deliveries/s**: `message` frames received by all members / (last delivery − start of
  the send window). **Lost**: Σ over rooms of (messages sent − refused with an `error`)
  × members still connected, minus deliveries received by the end of the drain: a
  message the server still had queued then counts as lost too (the notes say how many
  messages had no `ack` yet, i.e. were not even stored).
- **CPU**: server processes from psutil (process plus children), over the send window and
  drain (over the connect phase for scenarios 4 and 5), in % of one core; load generator from `getrusage` of its workers, same window;
  Redis from `INFO cpu` (the Redis server is shared: other clients' work shows there).
  Nothing is pinned: server(s), load generator, Redis{pg} share the machine's
  {nproc} cores, and the CPU columns show how. A server near 100 % is saturated; when
  server + load generator + Redis approach {total} %, the machine is.
- **Memory (scenario 4)**: server RSS (process tree) before the first connection and
  {settle} s after the last `ready`, opened {idle_concurrency} at a time per worker; the growth
  is divided by the connections.
- **Servers**: every scenario starts its server(s) afresh on free ports of 127.0.0.1, with
  the open-files limit raised and the Redis database (a number claimed for this run)
  emptied first; only scenario 5 reuses the server of scenario 1, to connect to a room
  with history. Product and tutorial use the same Redis server. The product runs in Redis mode through `python -m chatsite.serve`
  (`CHAT_RATE_LIMIT` empty, `CHAT_MAX_CONNECTIONS_PER_USER` high, `DEBUG` off) on a fresh
  SQLite file and a fresh PostgreSQL database, both migrated with `manage.py migrate`.
  Product and tutorial daphne both run with `--access-log /dev/null` and daphne's
  listen backlog (Twisted's default, 50); the raw server listens with a backlog of
  4,096. SYNs the kernel dropped on a full accept queue are in the notes (a dropped
  SYN costs the client a 1 s retransmit).
- **Baselines**: *tutorial* = `bench/baselines/tutorial/`, the Channels tutorial's
  `ChatConsumer` (AsyncWebsocketConsumer, `AuthMiddlewareStack`, one group per room,
  `group_send` per message, JSON re-encoded per member, channels-redis core layer, nothing
  stored) under daphne; *raw* = `bench/baselines/raw_ws.py`, a plain `websockets`
  server on uvloop with `broadcast()` of one encoded frame; *bare daphne* =
  `bench/baselines/bare_daphne.py`, raw's logic as a bare ASGI app (no Django, no
  Channels) under stock daphne, each member written through its ASGI `send`. All speak
  the product's frames (`ready`, `ack`, `message` with the same fields).
"""


def render(records: list[Record], meta: Meta, chart_name: str) -> str:
    """The whole Markdown report."""
    quick = meta.mode == "quick"
    sizes = meta.sizes
    out = [
        f"# Benchmark {meta.date}{' (quick)' if quick else ''}",
        "",
        f"`{meta.command}` at commit `{meta.commit}`, started {meta.started}, took "
        f"{meta.elapsed_s / 60:.1f} min. Machine: {meta.machine['nproc']} × {meta.machine['cpu']}, "
        f"{meta.machine['memory']}.",
        "",
    ]
    if quick:
        out += [
            "**Quick run**: rooms of "
            f"{sizes['big_room']} instead of 1,000 members, {sizes['duration']:g} s windows, "
            f"{sizes['idle_connections']:,} idle connections, {sizes['connect_clients']} clients in "
            "the storm, one server start per group for all its scenarios. The numbers show the "
            "suite works; they do not answer the targets.",
            "",
        ]
    busiest = max((r.loadavg for r in records), default=0.0)
    cores = int(meta.machine["nproc"])
    if busiest > cores / 2:
        out += [
            f"**Busy machine**: the 1-minute load average before a run reached {busiest:.1f} on "
            f"{cores} cores (other work was running: see the *load avg* column). Runs made "
            "then are slower and noisier than on an idle machine.",
            "",
        ]
    comparison = comparison_table(records)
    if comparison:
        out += [
            "## Before and after",
            "",
            "The product of an earlier checkout and of this one, alternating round by round "
            "on fresh servers (SQLite, Redis mode). *Spread* is the largest over the smallest "
            "value among one side's own rounds: a difference within it is noise.",
            "",
            *comparison,
            "",
        ]
    else:
        out += ["## Results against the targets", "", *summary_table(records, quick), ""]
        out += floor_table(records)
    out += [f"![chart]({chart_name})", ""]
    if meta.notes:
        out += ["Notes:", "", *[f"- {n}" for n in meta.notes], ""]

    out += ["## Scenario details", ""]
    for key, scenario in SCENARIOS.items():
        rows = [(r.label, r) for r in records if r.scenario == key and r.group != PRODUCT_X2]
        if rows:
            out += [
                f"### {key}. {scenario.title}",
                "",
                f"Target: {scenario.target}.",
                "",
                *detail_table(rows, connect_phase=key in ("4", "5", "7")),
                "",
            ]
    six = [(f"{r.label} — as scenario {r.scenario}", r) for r in records if r.group == PRODUCT_X2]
    if six:
        out += ["### 6. Two product processes sharing Redis", ""]
        out += [
            "Scenarios 1 and 3 again with two daphne processes; connections alternate between "
            "them, so each room has members on both and every message crosses Redis. "
            "Compare with the one-process rows above (same run).",
            "",
        ]
        one = [
            (f"product (SQLite) — as scenario {k}", _record(records, PRODUCT, k))
            for k in SCENARIO_6
        ]
        both = [(label, r) for label, r in one if r is not None] + six
        out += [*detail_table(both), "", *cpu_sharing(both, int(meta.machine["nproc"])), ""]

    if meta.profile_md:
        out += ["## Profile of the product", ""]
        if meta.profile_svg:
            out += [f"Flame graph: [{meta.profile_svg}]({meta.profile_svg}) (hover for names).", ""]
        out += [meta.profile_md, ""]

    out += [
        "## Method",
        "",
        METHOD.format(
            workers=_workers(records),
            duration=f"{sizes['duration']:g}",
            drain=f"{sizes['drain']:g}",
            nproc=meta.machine["nproc"],
            total=100 * int(meta.machine["nproc"]),
            settle=f"{sizes['settle']:g}",
            idle_concurrency=IDLE_CONNECT_CONCURRENCY,
            member_concurrency=MEMBER_CONNECT_CONCURRENCY,
            member_settle=f"{sizes['member_settle']:g}",
            pg=" and PostgreSQL (scenario 3)",
        ),
        *machine_section(meta),
    ]
    return "\n".join(out)


def result_notes(r: LoadResult) -> list[str]:
    """What went wrong or was unusual in one load run, one phrase each (the table notes)."""
    extra = []
    if r.connect_failures:
        extra.append(f"connect failures {r.connect_failures}")
    if r.listen_overflows:
        extra.append(
            f"{r.listen_overflows:,} SYNs found the accept queue full (kernel ListenOverflows)"
        )
    if r.unexpected_closes:
        extra.append(f"closed during the run {r.unexpected_closes}")
    if r.errors:
        extra.append(f"error frames {r.errors}")
    if r.disorder:
        extra.append(f"{r.disorder} deliveries out of order or repeated")
    if r.closed_loop_timeouts:
        extra.append(f"{r.closed_loop_timeouts} closed-loop waits timed out")
    if r.other_frames:
        extra.append(f"other frames {r.other_frames}")
    return extra + list(r.notes)


def machine_section(meta: Meta) -> list[str]:
    """A report's closing lines: the machine, the versions, where the raw numbers are."""
    return [
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in meta.machine.items()],
        *[f"| {k} | {v} |" for k, v in meta.versions.items()],
        "",
        "Raw numbers: the `.json` file next to this report.",
        "",
    ]


def _workers(records: list[Record]) -> str:
    counts = sorted({r.result.loadgen_workers for r in records})
    return "/".join(str(c) for c in counts) or "?"


def _not_run(ax, title: str) -> None:
    """A panel for a scenario this run left out: its title, no empty axes."""
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    ax.text(0.5, 0.5, "not in this run", ha="center", va="center", color="#777")


def chart(records: list[Record], path: Path, title: str) -> None:
    """Six bar charts, one per scenario, every server side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ramp = [r for r in records if r.scenario == "8" and r.step]
    crowds = any(r.scenario == "7" for r in records)
    rows = 3 if ramp or crowds else 2
    fig, axes = plt.subplots(rows, 3, figsize=(16, 4.5 * rows))
    fig.suptitle(title)
    colours = {
        "raw": "#7f7f7f",
        "daphne": "#bcbd22",
        "tutorial": "#d62728",
        PRODUCT: "#1f77b4",
        PRODUCT_PG: "#2ca02c",
        PRODUCT_X2: "#9467bd",
    }

    def bars(ax, key: str, value, ylabel: str, log: bool = False, groups=None) -> None:
        chosen = [r for r in records if r.scenario == key and (groups is None or r.group in groups)]
        if not chosen:
            _not_run(ax, f"{key}. {SCENARIOS[key].title}")
            return
        names = [r.label.replace(" (", "\n(") for r in chosen]
        values = [value(r.result) or 0 for r in chosen]
        ax.bar(names, values, color=[colours.get(r.group, "#333") for r in chosen])
        for i, v in enumerate(values):
            ax.annotate(
                f"{v:,.0f}" if v >= 1000 else f"{v:.3g}",
                (i, v),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_title(f"{key}. {SCENARIOS[key].title}", fontsize=9)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", labelsize=7)
        if log and any(values):
            ax.set_yscale("log")

    single = ["raw", "daphne", "tutorial", PRODUCT, PRODUCT_PG]
    bars(axes[0][0], "1", lambda r: r.deliveries_per_s, "deliveries/s", groups=single)
    bars(axes[0][1], "2", lambda r: r.latency_ms["p99"], "p99 latency, ms (log)", log=True)
    bars(
        axes[0][2],
        "3",
        lambda r: r.latency_ms["p99"],
        "p99 latency, ms (log)",
        log=True,
        groups=single,
    )
    bars(axes[1][0], "4", kb_per_connection, "KB per idle connection")
    bars(axes[1][1], "5", lambda r: r.connect_all_ready_s, "seconds until all ready")

    ax = axes[1][2]
    pairs = [(k, _find(records, PRODUCT, k), _find(records, PRODUCT_X2, k)) for k in SCENARIO_6]
    pairs = [(k, a, b) for k, a, b in pairs if a is not None and b is not None]
    if pairs:
        labels, one, two = [], [], []
        for key, a, b in pairs:
            labels.append(f"s{key} deliveries/s")
            one.append(a.deliveries_per_s)
            two.append(b.deliveries_per_s)
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], one, width=0.4, label="1 process", color=colours[PRODUCT])
        ax.bar(
            [x + 0.2 for x in xs], two, width=0.4, label="2 processes", color=colours[PRODUCT_X2]
        )
        ax.set_xticks(list(xs), labels)
        ax.legend(fontsize=8)
        ax.set_title("6. Product: one process vs two sharing Redis", fontsize=9)
    else:
        _not_run(ax, "6. Product: one process vs two sharing Redis")
    if ramp:
        ax = axes[2][0]
        for group in dict.fromkeys(r.group for r in ramp):
            steps = sorted(
                (r.step, r.result.latency_ms["p99"] or 0) for r in ramp if r.group == group
            )
            label = next(r.label for r in ramp if r.group == group).split(" at ")[0]
            ax.plot(*zip(*steps, strict=True), marker="o", label=label, color=colours.get(group))
        ax.axhline(100, linestyle="--", color="#999", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("stored messages/s asked for")
        ax.set_ylabel("p99 latency, ms (log); dashed: 100 ms")
        ax.set_title(f"8. {SCENARIOS['8'].title}", fontsize=9)
        ax.legend(fontsize=8)
    if rows == 3:
        if not ramp:
            axes[2][0].axis("off")
        if crowds:
            bars(axes[2][1], "7", lambda r: r.connect_all_ready_s, "seconds until all ready")
        else:
            axes[2][1].axis("off")
        axes[2][2].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(records: list[Record], meta: Meta, out_dir: Path) -> Path:
    """Write ``<date>.md``, ``<date>.png`` and ``<date>.json``; return the report path.

    A full run also refreshes ``latest.md``; a quick run writes ``<date>-quick.*``
    and leaves ``latest.md`` to the last full run (the README links there).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = meta.date if meta.mode == "full" else f"{meta.date}-{meta.mode}"
    chart_path = out_dir / f"{stem}.png"
    title = f"chat benchmark {meta.date} ({meta.mode}, commit {meta.commit})"
    if not comparison_chart(records, chart_path, title):
        chart(records, chart_path, title)
    report_path = out_dir / f"{stem}.md"
    report_path.write_text(render(records, meta, chart_path.name))
    raw = {
        "meta": meta.__dict__,
        "records": [
            {
                "group": r.group,
                "label": r.label,
                "scenario": r.scenario,
                "loadavg": r.loadavg,
                "elapsed_s": r.elapsed_s,
                "step": r.step,
                "result": r.result.to_dict(),
            }
            for r in records
        ],
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(raw, indent=1, default=str))
    if meta.mode == "full":
        # A copy, not a symlink: it renders the same everywhere (the chart link is relative).
        shutil.copyfile(report_path, out_dir / "latest.md")
    return report_path


def _step_of(item: dict) -> float | None:
    # Scenario 8 records of reports written before "step" was saved: the rate is in the label.
    if item["scenario"] != "8" or " at " not in item["label"]:
        return None
    return float(item["label"].rsplit(" at ", 1)[1].split()[0].replace(",", ""))


def load(path: Path) -> tuple[list[Record], Meta]:
    """Read back a ``<date>.json`` written by ``write`` (to render it again)."""
    raw = json.loads(path.read_text())
    records = []
    for item in raw["records"]:
        result = dict(item["result"])
        result["servers"] = [ServerStats(**s) for s in result["servers"]]
        empty = {"p50": None, "p90": None, "p99": None, "max": None}
        result.setdefault("ack_latency_ms", empty)  # reports from before ack timing
        records.append(
            Record(
                group=item["group"],
                label=item["label"],
                scenario=item["scenario"],
                result=LoadResult(**result),
                loadavg=item.get("loadavg", 0.0),
                elapsed_s=item.get("elapsed_s", 0.0),
                step=item.get("step") or _step_of(item),
            )
        )
    return records, Meta(**raw["meta"])


if __name__ == "__main__":
    # Render a report again from its JSON, e.g. after changing the layout:
    #     python -m bench.report docs/benchmarks/2026-01-31.json
    import sys

    for name in sys.argv[1:]:
        records, meta = load(Path(name))
        print(write(records, meta, Path(name).parent))
