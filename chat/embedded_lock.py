"""Embedded mode is one server process: a second one on the same SQLite file is refused.

Without Redis each process keeps its own history cache and presence and hears only
its own broadcasts, so a second server on the same database file would serve stale
history (a message deleted on one still shown in ``ready`` by the other). The first
server holds an exclusive ``flock`` on ``<database>.server.lock`` for its life; the
kernel drops it when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_held: int | None = None  # the lock file's descriptor, open for the process's life


def lock_path() -> Path | None:
    """The lock file of the embedded database, or None (Redis mode, or not SQLite)."""
    if getattr(settings, "REDIS_URL", ""):
        return None
    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3") or str(database["NAME"]) == ":memory:":
        return None
    return Path(f"{database['NAME']}.server.lock")


def claim() -> None:
    """Hold the embedded database's server lock, or raise ``ImproperlyConfigured``."""
    global _held
    path = lock_path()
    if path is None or _held is not None:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ImproperlyConfigured(
            f"another chat server already serves the embedded database {settings.DATABASES['default']['NAME']} "
            "(embedded mode is one process); stop it, or set REDIS_URL to run several."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held = fd
