"""ASGI middleware for the WebSocket route: who is connecting, and from where.

Both follow channels' middleware rule: state goes in the scope, never on the
instance, which serves every connection. They never refuse by themselves; they
put a ``Refusal`` in ``scope["chat_refusal"]`` and the consumer accepts, then
closes with its code, so clients see why (a refusal before accept is a bare 403).

Neither is a coroutine: each looks at the scope and returns the inner
application's awaitable, so it is not a frame (holding its scope and locals) that
waits on the stack for as long as the connection lives.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from django.http.cookie import parse_cookie

from chat.client_address import scope_header
from chat.realtime.internals.asgiref_marker import single_callable
from chat.realtime.origin import origin_allowed
from chat.wire import protocol
from chat.wire.errors import CloseCode, Refusal


@single_callable
class OriginCheckMiddleware:
    """Refuse browsers on foreign origins (``chat.realtime.origin``); let clients without ``Origin`` through.

    channels' ``AllowedHostsOriginValidator`` also refuses a missing ``Origin``,
    which would lock out the terminal client, and refuses before accept.

    Not a ``BaseMiddleware``: that copies the scope on every call, and each copy
    lives as long as the connection (a kilobyte apiece, per connection).
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, scope, receive, send):
        """The inner application's awaitable, with a ``chat_refusal`` for a foreign origin."""
        origin = scope_header(scope, b"origin")
        if origin is not None and not origin_allowed(scope, origin):
            scope = dict(scope, chat_refusal=Refusal(CloseCode.FORBIDDEN, "origin not allowed"))
        return self.inner(scope, receive, send)


@single_callable
class BearerTokenMiddleware:
    """``Authorization: Bearer TOKEN`` instead of the session.

    The token is only read here; the consumer checks it in the same database round
    trip that reads the room, so a token connection costs one thread hop, not three
    (session, token, room). An unusable header becomes an empty token: refused there.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_stack = AuthMiddlewareStack(inner)

    def __call__(self, scope, receive, send):
        """The inner application's awaitable: through the session stack without a token."""
        value = scope_header(scope, b"authorization")
        if value is None:
            if _unstorable_cookie(scope):
                # The session lookup would hand the database a NUL: refuse with 4400.
                refusal = Refusal(CloseCode.BAD_REQUEST, "a cookie contains invalid text")
                return self.inner(dict(scope, chat_refusal=refusal), receive, send)
            return self.session_stack(scope, receive, send)
        scheme, _, key = value.partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        return self.inner(dict(scope, chat_token_key=key), receive, send)


def _unstorable_cookie(scope) -> bool:
    raw = scope_header(scope, b"cookie")
    if raw is None:
        return False
    cookies = parse_cookie(raw).values()
    return any(protocol.text_problem(value) is not None for value in cookies)


def ChatAuthStack(inner):  # noqa: N802 - named like channels' AuthMiddlewareStack
    """Origin check, then a bearer token or the session."""
    return OriginCheckMiddleware(BearerTokenMiddleware(inner))
