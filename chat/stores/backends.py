"""One backend per store and mode: process memory in embedded mode, Redis with ``REDIS_URL``.

Every store (history cache, presence, rate limits) picks its backend here, so the
rule "Redis when ``CHAT_REDIS_URL`` is set, else this process's memory" is written
once, and tests reset every store with one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chat.conf import chat_settings

T = TypeVar("T")

_backends: dict[tuple[str, str], Any] = {}


def backend(store: str, *, local: Callable[[], T], redis: Callable[[str], T]) -> T:
    """The one backend of ``store`` for the configured mode, created on first use."""
    url = chat_settings().redis_url
    key = (store, url)
    found = _backends.get(key)
    if found is None:
        found = _backends[key] = redis(url) if url else local()
    return found


def reset(store: str | None = None) -> None:
    """Forget backends (tests: a new event loop needs new Redis connections).

    Backends with a ``stop`` method (presence's heartbeat) are stopped first.
    """
    for key in [key for key in _backends if store is None or key[0] == store]:
        stop = getattr(_backends.pop(key), "stop", None)
        if stop is not None:
            stop()
