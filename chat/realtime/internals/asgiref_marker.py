"""asgiref: mark a plain function (returning a coroutine) as an ASGI 3 application.

``RoomConsumer.as_asgi`` returns such a function so that no coroutine frame of its
own waits for a connection's whole life. asgiref's ``guarantee_single_callable``
would take a plain function for an ASGI 2 (double-callable) application, unless
it carries asgiref's private ``_asgi_single_callable`` marker.
"""

from __future__ import annotations

from chat.realtime.internals.contract import Optimisation, require


def _check() -> None:
    from asgiref.compatibility import is_double_callable

    def app(scope, receive, send):
        return None

    app._asgi_single_callable = True
    require(not is_double_callable(app), "asgiref ignores _asgi_single_callable")


SINGLE_CALLABLE = Optimisation(
    name="asgiref.single_callable",
    library="asgiref",
    written_for="3.13.0",
    uses="the _asgi_single_callable marker read by asgiref.compatibility.is_double_callable",
    buys="one coroutine frame less per open connection (the consumer's is the only one)",
    without="channels' own as_asgi (one more waiting coroutine per connection)",
    check=_check,
    needs_launcher=False,
)


def mark_single_callable(app) -> bool:
    """Mark ``app`` as ASGI 3 for asgiref; False (nothing done) when that is not possible."""
    if not SINGLE_CALLABLE.ok():
        return False
    app._asgi_single_callable = True
    return True
