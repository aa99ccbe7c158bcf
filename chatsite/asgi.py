"""ASGI entry point: HTTP through Django, WebSockets through the chat's consumer.

Every layer between daphne and the consumer is a plain callable that returns the
next layer's awaitable instead of a coroutine awaiting it: an idle WebSocket keeps
one coroutine (the consumer's) rather than a chain of seven, each frame holding its
own scope dict and locals for the life of the connection (about 3 KB of every
connection). An error in routing still surfaces inside the application's task, as it
did from the coroutines.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Load Django (and its app registry) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import URLRouter  # noqa: E402
from django.urls.exceptions import Resolver404  # noqa: E402

from chat.auth import ChatAuthStack  # noqa: E402
from chat.broadcast import Publisher  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402


async def _raise(exc: BaseException):
    raise exc


class FlatURLRouter(URLRouter):
    """channels' ``URLRouter`` for routes to consumers, returning the consumer's awaitable.

    The same matching, scope (``path_remaining``, ``url_route``) and errors; not for
    nesting routers (channels' own would catch a ``Resolver404`` of an inner router).
    """

    _asgi_single_callable = True  # asgiref: ASGI 3, though __call__ is no coroutine function

    def __call__(self, scope, receive, send):
        """The matching route's awaitable; ``ValueError`` when nothing matches."""
        path = scope.get("path_remaining", scope.get("path", None))
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        if "path_remaining" not in scope:
            root_path = scope.get("root_path", "")
            if root_path and not path.startswith(root_path):
                raise ValueError(f"No route found for path {path!r}.")
            path = path[len(root_path) :]
        path = path.lstrip("/")
        for route in self.routes:
            try:
                match = route.pattern.match(path)
            except Resolver404:
                continue
            if match:
                new_path, args, kwargs = match
                kwargs.update(route.default_args)
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
        if "path_remaining" in scope:
            raise Resolver404(f"No route found for path {path!r}.")
        raise ValueError(f"No route found for path {path!r}.")


class ChatApplication:
    """By scope type, like channels' ``ProtocolTypeRouter``; starts this loop's publisher.

    The publisher must run before any WebSocket connects, so events committed over
    HTTP (the admin) are published too.
    """

    _asgi_single_callable = True  # asgiref: ASGI 3, though __call__ is no coroutine function

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


application = ChatApplication(
    {
        "http": django_asgi_app,
        "websocket": ChatAuthStack(FlatURLRouter(websocket_urlpatterns)),
    }
)
