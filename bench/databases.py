"""The product's bench databases: a SQLite file and a PostgreSQL database, both fresh.

Each is migrated with ``manage.py migrate`` and seeded by ``bench.seed`` in a child
process with the product's environment, then removed when the run ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .servers import BASE_DIR

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def sqlite_url(work_dir: Path) -> str:
    """A ``DATABASE_URL`` for a new SQLite file in ``work_dir``."""
    return f"sqlite:///{work_dir / 'bench.sqlite3'}"


def create_postgres() -> str:
    """Create an empty database ``chat_bench_<pid>`` and return its ``DATABASE_URL``."""
    import psycopg

    name = f"chat_bench_{os.getpid()}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_postgres(url: str) -> None:
    """Drop the bench database created by ``create_postgres``."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not name.startswith("chat_bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available() -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return None
    except Exception as exc:  # any reason is a reason to skip
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(
            f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )


def prepare(
    env: dict[str, str], users: int, rooms: list[str], tokens_path: Path
) -> tuple[list[str], float]:
    """Migrate and seed the database of ``env``; return the tokens and the seconds it took."""
    started = time.monotonic()
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env, "migrate")
    _run(
        [
            sys.executable, "-m", "bench.seed", "--users", str(users),
            "--rooms", ",".join(rooms), "--tokens-out", str(tokens_path),
        ],
        env,
        "seeding users and tokens",
    )  # fmt: skip
    tokens = tokens_path.read_text().split()
    return tokens, time.monotonic() - started
