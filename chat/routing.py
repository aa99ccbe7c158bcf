"""WebSocket routes."""

from django.urls import path

from chat.realtime.consumer import RoomConsumer
from chat.realtime.user_consumer import UserConsumer

websocket_urlpatterns = [
    path("ws/rooms/<slug:slug>/", RoomConsumer.as_asgi()),
    path("ws/me/", UserConsumer.as_asgi()),
]
