"""``chat.asgi``: ``with_chat`` puts the chat's WebSockets in front of the host's application."""

import json

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core.asgi import get_asgi_application
from django.urls import path

from chat.asgi import FlatURLRouter, with_chat
from chat.routing import websocket_urlpatterns
from tests.helpers.ws import Client

pytestmark = pytest.mark.django_db(transaction=True)


async def host_http(scope, receive, send):
    """The host project's HTTP application: answers every request itself."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"host {scope['path']}".encode()})


async def host_websocket(scope, receive, send):
    """The host project's own WebSocket router (used with ``websocket_application``)."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"host": scope["path"]})})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def websocket(application, path: str, token: str | None = None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return WebsocketCommunicator(application, path, headers=headers)


async def test_http_goes_to_the_host_application(embedded):
    response = await HttpCommunicator(with_chat(host_http), "GET", "/rooms/lobby/").get_response()
    assert (response["status"], response["body"]) == (200, b"host /rooms/lobby/")


async def test_room_websockets_go_to_the_chat(embedded, room, token):
    communicator = websocket(with_chat(host_http), "/ws/rooms/lobby/", token)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    try:
        ready = await Client(communicator).expect("ready", timeout=5)
        assert ready["room"]["slug"] == "lobby" and ready["user"] == "alice"
    finally:
        await communicator.disconnect()


async def test_another_websocket_path_is_refused_without_a_fallback(embedded):
    communicator = websocket(with_chat(host_http), "/ws/elsewhere/")
    # Refused like an unknown room (not an HTTP 500 with a traceback).
    connected, _ = await communicator.connect(timeout=3)
    assert connected
    error = await communicator.receive_json_from(timeout=3)
    assert error["type"] == "error"
    assert (await communicator.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": 4404,
    }


async def test_the_fallback_gets_the_other_websocket_paths_and_the_chat_keeps_its_own(
    embedded, room, token
):
    application = with_chat(host_http, websocket_application=host_websocket)
    other = websocket(application, "/ws/elsewhere/")
    assert (await other.connect(timeout=5))[0]
    assert json.loads(await other.receive_from()) == {"host": "/ws/elsewhere/"}
    await other.disconnect()

    chat = websocket(application, "/ws/rooms/lobby/", token)
    assert (await chat.connect(timeout=5))[0]
    try:
        assert (await Client(chat).expect("ready", timeout=5))["room"]["slug"] == "lobby"
    finally:
        await chat.disconnect()


async def test_an_unknown_room_is_refused_with_4404(embedded, token):
    communicator = websocket(with_chat(host_http), "/ws/rooms/nowhere/", token)
    assert (await communicator.connect(timeout=5))[0]
    await Client(communicator).expect_close(4404)


class HostEcho(AsyncWebsocketConsumer):
    """A host project's own consumer: says which path reached it."""

    async def connect(self):
        await self.accept()
        await self.send(text_data=f"host:{self.scope['path']}")


HOST_ROUTES = URLRouter([path("ws/rooms/<slug:slug>/extra/", HostEcho.as_asgi())])
HOST_ROUTES_ANYWHERE = URLRouter([path("ws/notifications/", HostEcho.as_asgi())])


async def _closing_code(application, path: str) -> int:
    comm = WebsocketCommunicator(application, path)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    await comm.receive_output(timeout=3)  # the error frame saying why
    return (await comm.receive_output(timeout=3))["code"]


async def _first_frame(application, path: str) -> dict:
    comm = WebsocketCommunicator(application, path, headers=[(b"authorization", b"Bearer nope")])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    try:
        return await comm.receive_output(timeout=3)
    finally:
        await comm.disconnect()


async def test_chat_paths_reach_the_chat_and_others_reach_the_host(embedded):
    application = with_chat(get_asgi_application(), websocket_application=HOST_ROUTES_ANYWHERE)

    host = await _first_frame(application, "/ws/notifications/")
    chat = await _first_frame(application, "/ws/rooms/lobby/")

    assert host["text"] == "host:/ws/notifications/"
    assert json.loads(chat["text"])["type"] == "error"  # the chat's refusal of a bad token


async def test_a_host_route_under_the_chat_prefix_is_the_hosts(embedded):
    # A real fallback by the chat's routes, not by a path prefix.
    application = with_chat(get_asgi_application(), websocket_application=HOST_ROUTES)

    frame = await _first_frame(application, "/ws/rooms/lobby/extra/")

    assert frame["text"] == "host:/ws/rooms/lobby/extra/"


async def test_without_a_host_router_unknown_paths_are_refused_with_4404(embedded):
    application = with_chat(get_asgi_application())

    closed = await _closing_code(application, "/ws/notifications/")

    assert closed == 4404


def test_the_router_says_which_paths_it_serves():
    router = FlatURLRouter(websocket_urlpatterns)

    assert router.matches({"path": "/ws/rooms/book-club/"})
    assert not router.matches({"path": "/ws/rooms/book-club/extra/"})
    assert not router.matches({"path": "/ws/rooms/"})
    assert not router.matches({})


async def test_the_documented_protocol_type_router_form_serves_both(embedded, make_token_user):
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
