"""Which outside services and binaries this machine has, for the skip-or-fail policy.

Tests marked ``redis``/``postgres``/``browser`` skip with the reason from here when
the service is missing on a developer's machine, and fail when ``CI=true``.
Each answer is computed once per test session.
"""

from __future__ import annotations

import os
import shutil
import socket
from functools import cache

SHARED_REDIS_HOST = "127.0.0.1"
SHARED_REDIS_PORT = 6379
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def in_ci() -> bool:
    """True when running under CI (``CI=true``): missing services are failures there."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@cache
def shared_redis_problem() -> str | None:
    """Why the shared Redis on 127.0.0.1:6379 cannot be used, or None."""
    import redis

    try:
        redis.Redis(
            host=SHARED_REDIS_HOST,
            port=SHARED_REDIS_PORT,
            socket_timeout=2,
            socket_connect_timeout=2,
        ).ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis server at {SHARED_REDIS_HOST}:{SHARED_REDIS_PORT} ({exc})"
    return None


@cache
def redis_server_binary() -> str | None:
    """Path of ``redis-server`` (tests that stop or pause Redis start their own)."""
    return shutil.which("redis-server")


@cache
def postgres_problem(host: str = POSTGRES_HOST, port: int = POSTGRES_PORT) -> str | None:
    """Why PostgreSQL at ``host:port`` cannot be reached, or None."""
    if not _port_open(host, port):
        return f"no PostgreSQL server at {host}:{port}"
    return None


# Debian's chromium in a container: no sandbox (no user namespaces), no GPU, and none
# of the background traffic a fresh profile would start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@cache
def chromium_executable() -> str | None:
    """Path of a Chromium (or Chrome) binary for Playwright, or None."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        return override if os.path.exists(override) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def marker_problem(marker: str) -> str | None:
    """Why tests with ``marker`` cannot run here, or None when they can."""
    if marker == "redis":
        problem = shared_redis_problem()
        if problem:
            return problem
        if redis_server_binary() is None:
            return "redis-server is not on PATH (tests start their own Redis with it)"
        return None
    if marker == "postgres":
        from django.db import connection

        # On SQLite the test runs on SQLite; make test runs it again on PostgreSQL.
        if connection.vendor != "postgresql":
            return None
        settings = connection.settings_dict
        return postgres_problem(
            settings.get("HOST") or "localhost", int(settings.get("PORT") or 5432)
        )
    if marker == "browser":
        if chromium_executable() is None:
            return "no Chromium binary (apt-get install chromium, or set CHROMIUM_PATH)"
        return None
    return None
