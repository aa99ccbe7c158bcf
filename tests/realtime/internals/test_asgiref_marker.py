"""``internals.asgiref_marker``: the consumer's plain-function ASGI app, and its fallback."""

from asgiref.compatibility import guarantee_single_callable

from chat.realtime.consumer import RoomConsumer
from chat.realtime.internals import asgiref_marker


def test_asgiref_takes_the_marked_function_for_an_asgi3_application():
    app = RoomConsumer.as_asgi()
    assert app._asgi_single_callable is True
    assert guarantee_single_callable(app) is app  # not wrapped as a double callable


def test_without_the_marker_the_consumer_uses_channels_as_asgi(monkeypatch):
    monkeypatch.setattr(asgiref_marker.SINGLE_CALLABLE, "state", False)
    app = RoomConsumer.as_asgi()
    assert not getattr(app, "_asgi_single_callable", False)
    assert app.consumer_class is RoomConsumer  # channels' own, which asgiref handles


class Layer:
    """An ASGI layer whose ``__call__`` returns the next awaitable, like the chat's."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def __call__(self, scope, receive, send):
        """Record the scope and return an awaitable."""
        self.seen.append(scope["type"])
        return _done()


async def _done() -> str:
    return "done"


async def test_marked_layer_classes_pass_asgiref_as_they_are():
    seen: list = []
    layer = asgiref_marker.single_callable(type("Marked", (Layer,), {}))(seen)

    assert guarantee_single_callable(layer) is layer
    assert await layer({"type": "websocket"}, None, None) == "done"


async def test_without_the_marker_layer_classes_become_coroutine_applications(monkeypatch):
    monkeypatch.setattr(asgiref_marker.SINGLE_CALLABLE, "state", False)
    seen: list = []
    cls = asgiref_marker.single_callable(type("Unmarked", (Layer,), {}))
    layer = cls(seen)

    assert not hasattr(cls, "_asgi_single_callable")
    assert guarantee_single_callable(layer) is layer  # a coroutine __call__: ASGI 3 anyway
    assert await layer({"type": "websocket"}, None, None) == "done"
    assert seen == ["websocket"]
