"""``with_chat``: the chat's WebSocket routes in front of the host's application."""

import json

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.asgi import get_asgi_application
from django.urls import path

from chat.asgi import FlatURLRouter, with_chat
from chat.routing import websocket_urlpatterns
from chat.stores import backends

pytestmark = pytest.mark.django_db(transaction=True)


class HostEcho(AsyncWebsocketConsumer):
    """A host project's own consumer: says which path reached it."""

    async def connect(self):
        await self.accept()
        await self.send(text_data=f"host:{self.scope['path']}")


HOST_ROUTES = URLRouter([path("ws/rooms/<slug:slug>/extra/", HostEcho.as_asgi())])
HOST_ROUTES_ANYWHERE = URLRouter([path("ws/notifications/", HostEcho.as_asgi())])


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.CHAT_REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    backends.reset()
    yield
    backends.reset()


async def _first_frame(application, path: str) -> dict:
    comm = WebsocketCommunicator(application, path, headers=[(b"authorization", b"Bearer nope")])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    try:
        return await comm.receive_output(timeout=3)
    finally:
        await comm.disconnect()


async def test_chat_paths_reach_the_chat_and_others_reach_the_host():
    application = with_chat(get_asgi_application(), websocket_application=HOST_ROUTES_ANYWHERE)

    host = await _first_frame(application, "/ws/notifications/")
    chat = await _first_frame(application, "/ws/rooms/lobby/")

    assert host["text"] == "host:/ws/notifications/"
    assert json.loads(chat["text"])["type"] == "error"  # the chat's refusal of a bad token


async def test_a_host_route_under_the_chat_prefix_is_the_hosts():
    # A real fallback by the chat's routes, not by a path prefix.
    application = with_chat(get_asgi_application(), websocket_application=HOST_ROUTES)

    frame = await _first_frame(application, "/ws/rooms/lobby/extra/")

    assert frame["text"] == "host:/ws/rooms/lobby/extra/"


async def test_without_a_host_router_unknown_paths_fail_in_the_task():
    application = with_chat(get_asgi_application())
    scope = {"type": "websocket", "path": "/ws/notifications/", "headers": []}

    with pytest.raises(ValueError, match="No route found"):
        await application(scope, None, None)


def test_the_router_says_which_paths_it_serves():
    router = FlatURLRouter(websocket_urlpatterns)

    assert router.matches({"path": "/ws/rooms/book-club/"})
    assert not router.matches({"path": "/ws/rooms/book-club/extra/"})
    assert not router.matches({"path": "/ws/rooms/"})
    assert not router.matches({})


async def test_the_documented_protocol_type_router_form_serves_both(make_token_user):
    # docs/integrate.md: the equivalent for hosts that list every route themselves.
    from channels.routing import ProtocolTypeRouter

    from chat.realtime.auth import ChatAuthStack

    application = ProtocolTypeRouter(
        {
            "http": get_asgi_application(),
            "websocket": ChatAuthStack(
                URLRouter([*websocket_urlpatterns, path("ws/notifications/", HostEcho.as_asgi())])
            ),
        }
    )
    token = await make_token_user()
    comm = WebsocketCommunicator(
        application, "/ws/rooms/lobby/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await comm.connect(timeout=5)
    assert connected
    try:
        assert (await comm.receive_json_from(timeout=5))["type"] == "ready"
    finally:
        await comm.disconnect()

    host = await _first_frame(application, "/ws/notifications/")
    assert host["text"] == "host:/ws/notifications/"


@pytest.fixture
def make_token_user(room, user):
    from asgiref.sync import sync_to_async

    from chat import services

    return sync_to_async(lambda: services.issue_token(user=user))
