"""A mergeable latency histogram (log buckets, about 1 % precision) and percentiles.

Workers record every delivery into their own histogram and the parent merges them,
so no latency list crosses a process boundary.
"""

from __future__ import annotations

import math

_BASE = 1.01
_INV_LOG_BASE = 1.0 / math.log(_BASE)
# Bucket i holds latencies in [BASE**i, BASE**(i+1)) microseconds: 2,000 buckets
# reach past 400 s, far beyond any drain period.
_BUCKETS = 2000


class Histogram:
    """Latencies in nanoseconds, bucketed logarithmically; exact min and max."""

    __slots__ = ("counts", "count", "min_ns", "max_ns")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.min_ns: int | None = None
        self.max_ns = 0

    def record(self, ns: int) -> None:
        """Add one latency of ``ns`` nanoseconds (negative values count as zero)."""
        us = ns / 1000.0
        index = int(math.log(us) * _INV_LOG_BASE) if us > 1.0 else 0
        self.counts[min(index, _BUCKETS - 1)] += 1
        self.count += 1
        if ns > self.max_ns:
            self.max_ns = ns
        if self.min_ns is None or ns < self.min_ns:
            self.min_ns = ns

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s latencies to this histogram."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.count += other.count
        self.max_ns = max(self.max_ns, other.max_ns)
        if other.min_ns is not None and (self.min_ns is None or other.min_ns < self.min_ns):
            self.min_ns = other.min_ns

    def percentile_ms(self, p: float) -> float | None:
        """The ``p``-th percentile (0-100) in milliseconds, or None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                # The bucket's geometric middle, clamped to the exact extremes.
                value_us = _BASE ** (index + 0.5) if index else 1.0
                value_ns = min(max(value_us * 1000.0, self.min_ns or 0), self.max_ns)
                return value_ns / 1e6
        return self.max_ns / 1e6

    def summary(self) -> dict[str, float | None]:
        """p50, p90, p99 and max in milliseconds."""
        return {
            "p50": self.percentile_ms(50),
            "p90": self.percentile_ms(90),
            "p99": self.percentile_ms(99),
            "max": self.max_ns / 1e6 if self.count else None,
        }


def percentile(values: list[float], p: float) -> float | None:
    """The ``p``-th percentile (nearest rank) of ``values``, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100.0) - 1)]
