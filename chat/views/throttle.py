"""Throttle password guessing at ``POST /api/token``: failures per IP and per username.

Fixed windows in Django's cache (Redis in Redis mode, so every process counts
together; process memory in embedded mode, which has one process). Only failures
count, and a success clears its username's count, so a user who mistyped keeps
working; the IP count stays, so one account's successes cannot hide guesses at
others. A cache outage fails open (logged): sign-in must not depend on Redis.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

MAX_FAILURES = 5  # per window, per IP and per username
WINDOW_SECONDS = 60
PREFIX = "chat:v1:signin-fail"
clock = time.time  # the wall clock the windows follow (tests pin it inside one window)


@dataclass(frozen=True, slots=True)
class Keys:
    """The counters one attempt touches."""

    ip: str
    ip_key: str
    user_key: str


def _window(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def keys(*, ip: str, username: str, now: float | None = None) -> Keys:
    """The counters of this window for ``ip`` and ``username`` (case-folded, hashed)."""
    window = _window(clock() if now is None else now)
    # Hashed: cache keys must be short and safe, whatever a client sends as a name.
    user = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
    return Keys(
        ip=ip, ip_key=f"{PREFIX}:ip:{ip}:{window}", user_key=f"{PREFIX}:user:{user}:{window}"
    )


def blocked(keys: Keys, now: float | None = None) -> int | None:
    """Seconds until the window ends when either counter is full, else None."""
    try:
        counts = cache.get_many([keys.ip_key, keys.user_key])
    except Exception as exc:  # noqa: BLE001 - any cache backend error: fail open
        logger.warning("sign-in throttle unavailable: %r", exc)
        return None
    if max(counts.values(), default=0) < MAX_FAILURES:
        return None
    now = clock() if now is None else now
    return max(1, math.ceil((_window(now) + 1) * WINDOW_SECONDS - now))


def failed(keys: Keys) -> None:
    """Count a failed attempt against both counters."""
    for key in (keys.ip_key, keys.user_key):
        try:
            # add() is a no-op when the key exists; incr() is atomic in Redis.
            cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
            cache.incr(key)
        except ValueError:
            pass  # expired between add and incr: the window is over anyway
        except Exception as exc:  # noqa: BLE001
            logger.warning("sign-in throttle unavailable: %r", exc)
            return


def succeeded(keys: Keys) -> None:
    """Clear the username's failures after a correct password."""
    try:
        cache.delete(keys.user_key)
    except Exception as exc:  # noqa: BLE001
        logger.warning("sign-in throttle unavailable: %r", exc)
