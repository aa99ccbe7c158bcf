"""CPU and memory of the processes under test, sampled with psutil (and Redis INFO).

A server "process" here is a pid plus its children (``chatsite.serve`` or a wrapper
may fork), summed, so the numbers describe the whole server whatever its shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil


@dataclass
class Sample:
    """One reading: wall time, CPU seconds and RSS bytes per server pid."""

    at: float
    cpu: dict[int, float]
    rss: dict[int, int]
    redis_cpu: float | None = None
    listen_overflows: int = 0  # machine-wide: connections the kernel dropped, accept queue full


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_and_rss(pid: int) -> tuple[float, int]:
    cpu, rss = 0.0, 0
    for proc in _tree(pid):
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return cpu, rss


@dataclass
class Probe:
    """Samples the server pids and, when given a client, the Redis server's CPU."""

    pids: list[int]
    redis: object | None = None  # a redis.Redis; Redis CPU comes from INFO cpu
    peak_rss: dict[int, int] = field(default_factory=dict)

    def sample(self) -> Sample:
        """Read CPU time and RSS of every server pid now (and remember the peak RSS)."""
        cpu: dict[int, float] = {}
        rss: dict[int, int] = {}
        for pid in self.pids:
            cpu[pid], rss[pid] = _cpu_and_rss(pid)
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss[pid])
        return Sample(
            at=time.monotonic(),
            cpu=cpu,
            rss=rss,
            redis_cpu=self._redis_cpu(),
            listen_overflows=listen_overflows(),
        )

    def _redis_cpu(self) -> float | None:
        if self.redis is None:
            return None
        try:
            info = self.redis.info("cpu")
        except Exception:  # a probe must never fail a run
            return None
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def listen_overflows() -> int:
    """The kernel's TcpExt ListenOverflows counter (0 where it cannot be read).

    It grows when a SYN finds a listening socket's accept queue full: the client then
    waits for a retransmit (1 s, 3 s, ...), which shows up as connect time.
    """
    try:
        with open("/proc/net/netstat") as fh:
            lines = [line.split() for line in fh if line.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return int(values[names.index("ListenOverflows")])
    except (OSError, IndexError, ValueError):
        return 0


def cpu_percent(start: Sample, end: Sample, pid: int) -> float:
    """CPU use of ``pid`` between two samples, in percent of one core."""
    wall = end.at - start.at
    return 100.0 * (end.cpu[pid] - start.cpu[pid]) / wall if wall > 0 else 0.0


def redis_cpu_percent(start: Sample, end: Sample) -> float | None:
    """The Redis server's CPU use between two samples, in percent of one core."""
    if start.redis_cpu is None or end.redis_cpu is None or end.at <= start.at:
        return None
    return 100.0 * (end.redis_cpu - start.redis_cpu) / (end.at - start.at)
