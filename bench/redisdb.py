"""A database number on the shared Redis that only this bench run uses.

Claimed with the same lock keys as the test suite (``chat-tests:db-lock:N`` in DB 0),
so a bench run and test runs never share a number. Only that number is ever
flushed, between servers, so each server starts from an empty layer and cache.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import redis

HOST = "127.0.0.1"
PORT = 6379
LOCK_TTL = 3 * 3600


@contextmanager
def claimed_db() -> Iterator[int]:
    """Claim a free database number for the duration of the ``with`` block."""
    client = redis.Redis(host=HOST, port=PORT, db=0, socket_timeout=5)
    databases = int(client.config_get("databases").get("databases", 16))
    owner = f"{socket.gethostname()}:{os.getpid()}:bench"
    # From the top down: the test suite claims from 1 upwards.
    for number in range(databases - 1, 0, -1):
        key = f"chat-tests:db-lock:{number}"
        if client.set(key, owner, nx=True, ex=LOCK_TTL):
            break
    else:
        raise RuntimeError(f"all Redis databases 1..{databases - 1} are claimed by other runs")
    try:
        empty(number)
        yield number
    finally:
        empty(number)
        if client.get(key) == owner.encode():
            client.delete(key)
        client.close()


def url(number: int) -> str:
    """``redis://127.0.0.1:6379/N``."""
    return f"redis://{HOST}:{PORT}/{number}"


def empty(number: int) -> None:
    """FLUSHDB on our own claimed number (never any other, never FLUSHALL)."""
    with redis.Redis(host=HOST, port=PORT, db=number, socket_timeout=10) as client:
        client.flushdb()


def client() -> redis.Redis:
    """A client for reading the server's INFO (CPU) during runs."""
    return redis.Redis(host=HOST, port=PORT, db=0, socket_timeout=2)
