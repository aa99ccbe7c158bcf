"""The lean ASGI stack: one coroutine per open connection, errors inside the task."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from chat.stores import history_cache

# --- the ASGI stack: one coroutine per connection -------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_an_open_websocket_waits_in_the_consumer_coroutine_alone(settings):
    from chat.realtime.consumer import RoomConsumer
    from chat.stores import presence, ratelimit
    from chatsite.asgi import application

    settings.CHAT_REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    history_cache.reset()
    presence.reset()
    ratelimit.reset()
    # A bearer token (refused or not) skips channels' session middleware, which
    # keeps coroutines of its own.
    communicator = WebsocketCommunicator(
        application, "/ws/rooms/lobby/", headers=[(b"authorization", b"Bearer nope")]
    )
    try:
        await communicator.connect()
        coroutine = communicator.future.get_coro()
        assert coroutine.cr_code is RoomConsumer.__call__.__code__
    finally:
        await communicator.disconnect()


async def test_no_route_is_refused_inside_the_application_task():
    from chatsite.asgi import application

    scope = {"type": "websocket", "path": "/nowhere/", "headers": [(b"authorization", b"Bearer x")]}
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    awaitable = application(scope, receive, send)  # nothing happens until it is awaited
    assert sent == []
    await awaitable

    assert sent[0] == {"type": "websocket.accept"}
    assert sent[-1] == {"type": "websocket.close", "code": 4404}


async def test_an_unknown_scope_type_fails_inside_the_application_task():
    from chatsite.asgi import application

    awaitable = application({"type": "lifespan"}, None, None)

    with pytest.raises(ValueError, match="No application configured for scope type"):
        await awaitable
