"""The chat's process tuning for hosts that start daphne themselves, as one public call.

``python -m chat.serve`` does all of it and more: it also installs the chat's
WebSocket protocol class in daphne (fan-out writes straight to the socket,
back-pressure, 1001/1011 closes, less memory per connection) and the graceful
shutdown, which need its own daphne server class (docs/integrate.md lists the
differences). A host running ``daphne mysite.asgi:application`` may call ``apply()``
at the top of its ``asgi.py``: it checks the private names the chat relies on (one
warning line for each optimisation that is off) and installs what works without the
launcher. Everything works without it.
"""

from __future__ import annotations

from functools import cache

from chat.realtime.internals import startup


@cache
def apply() -> list[str]:
    """Check and install the launcher-free optimisations once; return the names that are off.

    Later calls do nothing and return the first answer.
    """
    return startup.check_and_install()
