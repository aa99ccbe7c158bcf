"""Limits on account and room creation, per client address and per user, and on
full-text search per user (``CHAT_SEARCH_RATE``).

Sliding windows (``chat.stores.sliding_window``): shared by every process in Redis
mode, in process memory in embedded mode. A Redis outage lets the action through
(logged): creating a room or searching must not depend on Redis.
"""

from __future__ import annotations

import logging
import math

from redis.exceptions import RedisError

from chat.conf import chat_settings
from chat.stores.sliding_window import shared_windows

logger = logging.getLogger(__name__)

PERIOD = 3600  # seconds
SIGNUPS_PER_ADDRESS = 5
ROOMS_PER_USER = 10
ROOMS_PER_ADDRESS = 20
PREFIX = "chat:v1:abuse"


def _hit(keys_and_limits: list[tuple[str, int]], period: int = PERIOD) -> int | None:
    try:
        windows = shared_windows()
        for key, limit in keys_and_limits:
            wait = windows.hit(f"{PREFIX}:{key}", limit=limit, period=period)
            if wait is not None:
                return max(1, math.ceil(wait))
    except (RedisError, OSError) as exc:
        logger.warning("abuse limits unavailable: %r", exc)
    return None


def signup_wait(*, address: str) -> int | None:
    """Count a sign-up from ``address``; seconds to wait when over the limit, else None."""
    return _hit([(f"signup-ip:{address or '-'}", SIGNUPS_PER_ADDRESS)])


def room_creation_wait(*, user_id: int, address: str) -> int | None:
    """Count a new room by ``user_id`` from ``address``; seconds to wait when over, else None."""
    return _hit(
        [
            (f"room-user:{user_id}", ROOMS_PER_USER),
            (f"room-ip:{address or '-'}", ROOMS_PER_ADDRESS),
        ]
    )


def search_wait(*, user_id: int) -> int | None:
    """Count a search by ``user_id``; seconds to wait when over ``CHAT_SEARCH_RATE``, else
    None (always None when the setting is empty).

    A search is the costliest read there is (a full-text index scan, then snippets), so
    each one counts, refused queries too: a client must not hammer the database.
    """
    rate = chat_settings().search_rate
    if rate is None:
        return None
    return _hit([(f"search-user:{user_id}", rate.count)], period=rate.period)
