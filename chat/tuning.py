"""The chat's memory and speed tuning for a daphne process, as one public call.

``python -m chat.serve`` applies it, and more (see docs/integrate.md). A host that
starts daphne itself (``daphne mysite.asgi:application``) may call ``apply()`` at the
top of its ``asgi.py``; everything works without it, with more memory per idle
connection and more time per connect.
"""

from __future__ import annotations

from functools import cache

from chat.realtime.internals import tuning


@cache
def apply() -> None:
    """Tune autobahn, Twisted and daphne in this process (once; later calls do nothing).

    What it changes and why is documented in ``chat.realtime.internals.tuning``.
    """
    tuning.apply()
