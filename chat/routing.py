"""WebSocket routes."""

from django.urls import path

from chat.realtime.consumer import RoomConsumer

websocket_urlpatterns = [
    path("ws/rooms/<slug:slug>/", RoomConsumer.as_asgi()),
]
