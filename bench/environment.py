"""What the report says about the machine and the software it measured."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from .servers import BASE_DIR

PACKAGES = (
    "Django",
    "channels",
    "channels-redis",
    "daphne",
    "Twisted",
    "redis",
    "websockets",
    "uvloop",
    "psycopg",
)


def machine() -> dict[str, str]:
    """CPU model, core count, memory, kernel, Python."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "nproc": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(redis_client=None, postgres_url: str | None = None) -> dict[str, str]:
    """Installed versions of the stack, and of the Redis and PostgreSQL servers when reachable."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    if redis_client is not None:
        try:
            found["Redis server"] = redis_client.info("server")["redis_version"]
        except Exception:  # the report still gets written
            found["Redis server"] = "unknown"
    if postgres_url:
        try:
            import psycopg

            with psycopg.connect(postgres_url, connect_timeout=3) as conn:
                found["PostgreSQL server"] = conn.execute("SHOW server_version").fetchone()[0]
        except Exception:
            found["PostgreSQL server"] = "unknown"
    return found


def git_commit(checkout: Path = BASE_DIR) -> str:
    """Short commit of ``checkout``, with ``+dirty`` when it has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{'+dirty' if dirty else ''}" if commit else "unknown"
