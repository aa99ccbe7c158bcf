"""Wait for a condition instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not become true in time (an assertion failure in a test)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    message: str = "condition",
    *,
    interval: float = 0.02,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Raises ``WaitTimeout`` naming ``message`` (and the last exception the predicate
    raised, if any) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except Exception as exc:  # a predicate may fail until the condition holds
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(_explain(message, timeout, last_error))
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 5.0,
    message: str = "condition",
    *,
    interval: float = 0.02,
) -> Any:
    """``wait_until`` for async tests; ``predicate`` may be sync or async."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            last_error, result = exc, None
        if result:
            return result
        if loop.time() >= deadline:
            raise WaitTimeout(_explain(message, timeout, last_error))
        await asyncio.sleep(interval)


def _explain(message: str, timeout: float, error: BaseException | None) -> str:
    text = f"timed out after {timeout:g}s waiting for {message}"
    if error is not None:
        text += f" (last error: {type(error).__name__}: {error})"
    return text
