"""ASGI entry point: HTTP through Django, WebSockets through the chat's consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Load Django (and its app registry) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.auth import ChatAuthStack  # noqa: E402
from chat.broadcast import Publisher  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402


class StartPublisher:
    """Make sure this loop publishes committed events, even before any WebSocket connects."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        Publisher.start()
        return await self.app(scope, receive, send)


application = StartPublisher(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": ChatAuthStack(URLRouter(websocket_urlpatterns)),
        }
    )
)
