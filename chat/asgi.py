"""The chat's ASGI application: ``with_chat(django_asgi_app)`` in a host's ``asgi.py``.

WebSockets under ``/ws/rooms/<slug>/`` go to the chat (token or session sign-in,
the protocol's Origin rule); everything else goes to the host's application.

Every layer between daphne and the consumer is a plain callable that returns the
next layer's awaitable instead of a coroutine awaiting it: an idle WebSocket keeps
one coroutine (the consumer's) rather than a chain of seven, each frame holding its
own scope dict and locals for the life of the connection (about 3 KB of every
connection). An error in routing still surfaces inside the application's task, as it
did from the coroutines.

Import this module after ``django.core.asgi.get_asgi_application()``: the consumer
imports models.
"""

import logging

from channels.routing import URLRouter
from django.urls.exceptions import Resolver404

from chat.events.publisher import Publisher
from chat.realtime.auth import ChatAuthStack
from chat.realtime.internals.asgiref_marker import single_callable
from chat.routing import websocket_urlpatterns
from chat.wire import protocol
from chat.wire.errors import CloseCode, Refusal

logger = logging.getLogger(__name__)


async def _raise(exc: BaseException):
    raise exc


@single_callable
class FlatURLRouter(URLRouter):
    """channels' ``URLRouter`` for routes to consumers, returning the consumer's awaitable.

    The same matching, scope (``path_remaining``, ``url_route``) and errors; not for
    nesting routers (channels' own would catch a ``Resolver404`` of an inner router).
    """

    def _path(self, scope) -> str:
        """The path to match, relative to ``root_path``; ``ValueError`` when there is none."""
        path = scope.get("path_remaining", scope.get("path", None))
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        if "path_remaining" not in scope:
            root_path = scope.get("root_path", "")
            if root_path and not path.startswith(root_path):
                raise ValueError(f"No route found for path {path!r}.")
            path = path[len(root_path) :]
        return path.lstrip("/")

    def _match(self, path: str):
        """``(route, remaining path, args, kwargs)`` of the first matching route, or None."""
        for route in self.routes:
            try:
                match = route.pattern.match(path)
            except Resolver404:
                continue
            if match:
                new_path, args, kwargs = match
                return route, new_path, args, {**kwargs, **route.default_args}
        return None

    def matches(self, scope) -> bool:
        """Whether one of the routes serves this scope's path."""
        try:
            return self._match(self._path(scope)) is not None
        except ValueError:
            return False

    def __call__(self, scope, receive, send):
        """The matching route's awaitable; a refusal (4404) when nothing matches."""
        path = self._path(scope)
        found = self._match(path)
        if found is None:
            if "path_remaining" in scope:
                raise Resolver404(f"No route found for path {path!r}.")
            return refuse_unknown_path(scope, receive, send)
        route, new_path, args, kwargs = found
        outer = scope.get("url_route", {})
        return route.callback(
            dict(
                scope,
                path_remaining=new_path,
                url_route={
                    "args": outer.get("args", ()) + args,
                    "kwargs": {**outer.get("kwargs", {}), **kwargs},
                },
            ),
            receive,
            send,
        )


@single_callable
class ChatApplication:
    """By scope type, like channels' ``ProtocolTypeRouter``; starts this loop's publisher.

    The publisher must run before any WebSocket connects, so events committed over
    HTTP (the admin) are published too.
    """

    def __init__(self, application_mapping: dict) -> None:
        self.application_mapping = application_mapping

    def __call__(self, scope, receive, send):
        """The awaitable serving this connection; it raises what routing raised."""
        try:
            Publisher.start()
            application = self.application_mapping.get(scope["type"])
            if application is None:
                raise ValueError(f"No application configured for scope type {scope['type']!r}")
            return application(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - raised in the application's task, as before
            return _raise(exc)


async def refuse_unknown_path(scope, receive, send) -> None:
    """A WebSocket to a path that is no room: accepted, then closed with 4404, one log line.

    Refused like an unknown room (``..`` segments, encoded slashes, non-ASCII slugs,
    ``/ws/nope/``) instead of an HTTP 500 and a traceback per attempt.
    """
    logger.info("refused code=4404 path=%r detail=no such room", scope.get("path", "")[:200])
    if scope.get("type") != "websocket" or (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    error = protocol.error_frame(Refusal(CloseCode.NO_SUCH_ROOM, "no such room"))
    await send({"type": "websocket.send", "text": error})
    await send({"type": "websocket.close", "code": int(CloseCode.NO_SUCH_ROOM)})


def with_chat(http_application, *, websocket_application=None) -> ChatApplication:
    """The host's ASGI application with the chat's WebSocket routes in front.

    ``http_application`` serves every HTTP request (usually ``get_asgi_application()``).
    ``websocket_application`` serves the WebSockets whose path no chat route matches
    (e.g. the host's own ``URLRouter``); without it they are refused like an unknown
    room: 4404 and one log line.
    """
    router = FlatURLRouter(websocket_urlpatterns)
    chat_routes = ChatAuthStack(router)
    if websocket_application is not None:
        chat_routes = WebSocketFallback(router, chat_routes, websocket_application)
    return ChatApplication({"http": http_application, "websocket": chat_routes})


@single_callable
class WebSocketFallback:
    """The chat's routes first; a path none of them matches goes to the host's application."""

    def __init__(self, router: FlatURLRouter, chat_routes, other) -> None:
        self.router = router
        self.chat_routes = chat_routes
        self.other = other

    def __call__(self, scope, receive, send):
        """The chat's awaitable for its paths, else the host's."""
        if self.router.matches(scope):
            return self.chat_routes(scope, receive, send)
        return self.other(scope, receive, send)
