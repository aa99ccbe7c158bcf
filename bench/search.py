"""The search benchmark: ``chat.search`` over 1,000,000 messages on SQLite and PostgreSQL.

    python -m bench.search [--messages 1000000] [--repeat 20] [--backends sqlite,postgres]
                           [--cache-dir DIR] [--out docs/benchmarks] [--quick]

The data (``bench.search_data``) is written once per backend and size and kept: a
SQLite file under ``--cache-dir`` (default ``<tmp>/chat-bench-search``) and the
PostgreSQL database ``chat_bench_search_<messages>`` on 127.0.0.1:5432; later runs
migrate it and measure at once (delete the file or drop the database to rebuild).
Each backend runs in a child process with the product's settings; the times are of
the selector the HTTP API and the page call, from permissions to snippets, in one
process with a warm connection. Target: p99 under 200 ms for every query. Writes
``search-<date>.md`` and ``.json`` under ``--out``; ``--quick`` (10,000 messages, 3
rounds) writes ``search-<date>-quick.*`` and judges nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import databases, environment
from .servers import BASE_DIR

TARGET_MS = 200.0
DEFAULT_OUT = BASE_DIR / "docs" / "benchmarks"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "chat-bench-search"
RESULT_PREFIX = "bench-search-result: "


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` 0..1)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def database_url(backend: str, messages: int, cache_dir: Path) -> str:
    """The cached database of ``backend`` for ``messages`` messages (created if missing)."""
    if backend == "sqlite":
        cache_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{cache_dir / f'search-{messages}.sqlite3'}"
    import psycopg

    name = f"chat_bench_search_{messages}"
    with psycopg.connect(databases.POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def child_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_"))}
    env.pop("REDIS_URL", None)
    return env | {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "false",
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def run_backend(backend: str, messages: int, repeat: int, cache_dir: Path) -> dict:
    """Prepare and measure one backend in a child process; its JSON result."""
    url = database_url(backend, messages, cache_dir)
    argv = [sys.executable, "-m", "bench.search", "--worker", "--messages", str(messages)]
    argv += ["--repeat", str(repeat)]
    done = subprocess.run(
        argv, cwd=BASE_DIR, env=child_env(url), capture_output=True, text=True, timeout=3600
    )
    sys.stderr.write(done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not lines:
        raise RuntimeError(
            f"{backend}: the worker failed ({done.returncode}): {done.stderr[-1500:]}"
        )
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def worker(messages: int, repeat: int) -> None:
    """In the child: migrate, fill once, measure; print the result as one JSON line."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from . import search_data

    def log(text: str) -> None:
        print(f"bench: search ({connection.vendor}): {text}", file=sys.stderr)

    call_command("migrate", verbosity=0)
    stored = search_data.stored_messages()
    fill_s = None
    if stored == 0:
        log(f"filling {messages:,} messages (once; cached for later runs)")
        fill_s = search_data.fill(messages, log=log)
        log(f"filled in {fill_s:.0f} s")
    elif stored != messages:
        raise SystemExit(f"the cached database holds {stored:,} messages, not {messages:,}")
    search_data.settle()
    clock = time.monotonic()
    queries = search_data.measure(repeat)
    log(f"measured {len(queries)} queries x {repeat} in {time.monotonic() - clock:.1f} s")
    result = {
        "vendor": connection.vendor,
        "messages": messages,
        "fill_s": fill_s,
        "queries": queries,
    }
    print(RESULT_PREFIX + json.dumps(result))


def verdict(p99: float, judged: bool) -> str:
    if not judged:
        return "—"
    return "✅ under" if p99 < TARGET_MS else "❌ over"


def report(results: list[dict], meta: dict, judged: bool) -> str:
    """The markdown report: one table per backend, the method, the machine."""
    lines = [
        f"# Search benchmark, {meta['date']}",
        "",
        f"`{meta['command']}` at commit `{meta['commit']}`. Target: every query answers in "
        f"under {TARGET_MS:.0f} ms over {meta['messages']:,} messages (p99).",
        "",
    ]
    for result in results:
        name = {"sqlite": "SQLite (FTS5)", "postgresql": "PostgreSQL (tsvector + GIN)"}
        lines += [f"## {name.get(result['vendor'], result['vendor'])}", ""]
        if result.get("error"):
            lines += [f"Not measured: {result['error']}", ""]
            continue
        if result.get("fill_s"):
            lines += [f"Data written in {result['fill_s']:.0f} s (once; cached).", ""]
        lines += [
            "| query | text | filters | results | p50 ms | p99 ms | target |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        everything = []
        for query in result["queries"]:
            ms = query["ms"]
            everything += ms
            p50, p99 = statistics.median(ms), percentile(ms, 0.99)
            filters = ", ".join(f"{k}={v}" for k, v in query["filters"].items()) or "—"
            lines.append(
                f"| {query['label']} | `{query['text']}` | {filters} | {query['results']} "
                f"| {p50:.1f} | {p99:.1f} | {verdict(p99, judged)} |"
            )
        p50, p99 = statistics.median(everything), percentile(everything, 0.99)
        lines += [
            f"| **all queries** | | | | **{p50:.1f}** | **{p99:.1f}** | {verdict(p99, judged)} |",
            "",
        ]
    lines += [
        "## Method",
        "",
        f"- {meta['messages']:,} generated messages (`bench/search_data.py`, seed 16): 100 rooms "
        "(10 private), 200 authors, one year of timestamps, 4-20 words each from a Zipf "
        "vocabulary with an English head; planted words of known frequency; 1 % deleted.",
        "- The searcher is a plain user, member of 2 of the 10 private rooms: 92 rooms to "
        "search. 20 results a page, newest first, with snippets.",
        f"- Each query once to warm up, then {meta['repeat']} rounds over all queries; the "
        "time is one `chat.search.search` call (permissions, the full-text query, the "
        "snippets, the rooms and authors of the page), in one process. p99 of "
        f"{meta['repeat']} runs is close to the slowest run.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in meta["machine"].items()],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--quick", action="store_true", help="10,000 messages, 3 rounds, no verdicts"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeat = 10_000, 3
    if args.worker:
        worker(args.messages, args.repeat)
        return 0
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    results = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgres" and (problem := databases.postgres_available()):
            results.append({"vendor": "postgresql", "error": f"PostgreSQL unavailable: {problem}"})
            continue
        try:
            results.append(run_backend(backend, args.messages, args.repeat, args.cache_dir))
        except RuntimeError as exc:
            results.append({"vendor": backend, "error": str(exc).splitlines()[0]})
    stem = f"search-{started:%Y-%m-%d}" + ("-quick" if args.quick else "")
    meta = {
        "date": f"{started:%Y-%m-%d %H:%M UTC}",
        "command": "python -m bench.search " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": environment.git_commit(),
        "messages": args.messages,
        "repeat": args.repeat,
        "machine": environment.machine()
        | {"load average (1 min) before, after": f"{load_before:.1f}, {os.getloadavg()[0]:.1f}"},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    path = args.out / f"{stem}.md"
    path.write_text(report(results, meta, judged=not args.quick))
    print(f"bench: search report written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
