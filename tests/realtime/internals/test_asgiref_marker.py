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
