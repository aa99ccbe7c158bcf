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


def single_callable(cls: type) -> type:
    """Class decorator: ``cls()`` instances are ASGI 3 applications for asgiref.

    Their ``__call__`` returns the next layer's awaitable instead of being a coroutine
    function itself (one coroutine frame less per connection). With the marker off,
    ``__call__`` becomes a coroutine function awaiting that awaitable: the same
    behaviour for asgiref, daphne and channels, at one frame more per connection.
    """
    if SINGLE_CALLABLE.ok():
        cls._asgi_single_callable = True
        return cls
    returns_awaitable = cls.__call__

    async def __call__(self, scope, receive, send):
        return await returns_awaitable(self, scope, receive, send)

    __call__.__doc__ = returns_awaitable.__doc__
    cls.__call__ = __call__
    return cls
