"""``chat.asgi.with_chat``: the host's ASGI application with the chat's WebSockets in front."""

import json

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from chat.asgi import with_chat
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
    # Never accepted: the application fails (daphne answers the handshake with 500).
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect(timeout=1)


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
