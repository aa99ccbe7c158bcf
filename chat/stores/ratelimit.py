"""Rate limits: ``CHAT_RATE_LIMIT`` per user per room, reactions, the typing throttle.

Messages: sliding windows (``sliding_window``), so no span of the period ever
admits more than the limit (fixed windows let a double burst through at a window
edge) and ``retry_after`` is exact. Shared across processes in Redis mode (messages
checked together share one round trip, ``check_messages``); process memory in
embedded mode. Errors in Redis fail open (log and allow): a rate limit
must not take the chat down with it.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError

from chat.conf import RateLimit, chat_settings
from chat.stores import backends, redis_clients
from chat.stores.sliding_window import AsyncRedisWindows, LocalWindows

logger = logging.getLogger(__name__)

TYPING_INTERVAL = 2.0  # seconds between typing frames of one user in one room
# Reactions per user per room, apart from CHAT_RATE_LIMIT (a burst of clicks on a
# busy thread is fine; a script toggling an emoji would send every member an update
# frame per toggle). Counted per react frame, changed or not.
REACTION_RATE = RateLimit(20, 30)


class LocalLimiter:
    def __init__(self) -> None:
        self._windows = LocalWindows()
        self._last: dict[str, float] = {}

    async def hit(self, key: str, rate: RateLimit) -> float | None:
        return self._windows.hit(f"rl:{key}", limit=rate.count, period=rate.period)

    async def hit_many(self, keys: list[str], rate: RateLimit) -> list[float | None]:
        return [await self.hit(key, rate) for key in keys]

    async def once_per(self, key: str, seconds: float) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -seconds) < seconds:
            return False
        if len(self._last) > 100_000:
            self._last.clear()
        self._last[key] = now
        return True


class RedisLimiter(redis_clients.OnRunningLoop):
    def __init__(self, url: str) -> None:
        self.url = url
        self._windows = AsyncRedisWindows(url)

    async def hit(self, key: str, rate: RateLimit) -> float | None:
        try:
            return await self._windows.hit(
                f"chat:v2:rl:{key}", limit=rate.count, period=rate.period
            )
        except (RedisError, OSError) as exc:
            logger.warning("rate limit unavailable key=%s: %r", key, exc)
            return None

    async def hit_many(self, keys: list[str], rate: RateLimit) -> list[float | None]:
        try:
            answers = await self._windows.hit_many(
                [(f"chat:v2:rl:{key}", rate.count, rate.period) for key in keys]
            )
        except (RedisError, OSError) as exc:
            logger.warning("rate limit unavailable keys=%d: %r", len(keys), exc)
            return [None] * len(keys)
        waits: list[float | None] = []
        for key, answer in zip(keys, answers, strict=True):
            if isinstance(answer, Exception):
                logger.warning("rate limit unavailable key=%s: %r", key, answer)
                answer = None
            waits.append(answer)
        return waits

    async def once_per(self, key: str, seconds: float) -> bool:
        try:
            return bool(
                await self.redis.set(f"chat:v1:once:{key}", 1, nx=True, px=int(seconds * 1000))
            )
        except (RedisError, OSError) as exc:
            logger.warning("typing throttle unavailable key=%s: %r", key, exc)
            return True


def _limiter() -> LocalLimiter | RedisLimiter:
    return backends.backend("ratelimit", local=LocalLimiter, redis=RedisLimiter)


async def check_message(*, room_id: int, user_id: int) -> float | None:
    """Count a message; return seconds to wait when over ``CHAT_RATE_LIMIT``, else None."""
    return (await check_messages([(room_id, user_id)]))[0]


async def check_messages(senders: list[tuple[int, int]]) -> list[float | None]:
    """``check_message`` for each ``(room_id, user_id)``, in order: one Redis round trip.

    The same sender twice counts twice, as two calls would. Answers are exact per
    sender (each hit is its own script run); Redis failing fails open for each.
    """
    rate = chat_settings().rate_limit
    if rate is None:
        return [None] * len(senders)
    return await _limiter().hit_many([f"{room_id}:{user_id}" for room_id, user_id in senders], rate)


async def check_reaction(*, room_id: int, user_id: int) -> float | None:
    """Count a reaction; return seconds to wait when over ``REACTION_RATE``, else None."""
    return await _limiter().hit(f"react:{room_id}:{user_id}", REACTION_RATE)


async def allow_typing(*, room_id: int, user_id: int) -> bool:
    """True at most once per ``TYPING_INTERVAL`` per user per room."""
    return await _limiter().once_per(f"typing:{room_id}:{user_id}", TYPING_INTERVAL)


def reset() -> None:
    """Forget the limiters (tests)."""
    backends.reset("ratelimit")
