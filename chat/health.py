"""Probes of the backends the chat needs: the database and, when configured, Redis.

Shared by ``/healthz`` (answers in about a second even when Redis hangs) and by the
start-up checks in ``chat.serve`` (refuse to start with one clear sentence).
Each probe returns ``None`` when the backend answers, or a short description of
what went wrong.
"""

from __future__ import annotations

import re
import threading

import redis
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from redis.backoff import NoBackoff
from redis.retry import Retry

from chat.stores import redis_clients

# /healthz is polled every few seconds: keep one client per URL instead of
# opening a connection per request.
_clients: dict[tuple[str, float], redis.Redis] = {}
_clients_lock = threading.Lock()

_PASSWORD_RE = re.compile(r"(?P<scheme>[a-z0-9+]+://)(?P<user>[^:@/]*):[^@/]*@", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return _PASSWORD_RE.sub(r"\g<scheme>\g<user>:***@", url)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, with its type when the message is empty."""
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def database_problem(alias: str = "default") -> str | None:
    """Connect to the database and run ``SELECT 1``."""
    connection = connections[alias]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        # A broken connection must not be reused by the next request.
        connection.close_if_unusable_or_obsolete()
        return first_line(exc)
    return None


def unapplied_migrations(alias: str = "default") -> list[str]:
    """Names of migrations not applied to the database, as ``app.name``."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def redis_client(url: str, *, timeout: float) -> redis.Redis:
    """A cached client for ``url`` whose every call gives up after ``timeout`` seconds."""
    key = (url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            # redis-py retries three times by default: a probe must fail fast.
            client = redis_clients.sync_client(
                url, pool="health", timeout=timeout, retry=Retry(NoBackoff(), 0)
            )
            _clients[key] = client
    return client


def redis_problem(url: str, *, timeout: float = 1.0) -> str | None:
    """``PING`` the Redis server at ``url``."""
    try:
        if not redis_client(url, timeout=timeout).ping():
            return "PING was not answered"
    except redis.RedisError as exc:
        return first_line(exc) or type(exc).__name__
    except OSError as exc:
        return first_line(exc)
    return None
