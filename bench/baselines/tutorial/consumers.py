"""The tutorial's ``ChatConsumer``, speaking the bench's minimal protocol.

As in the Channels tutorial (part 3): one group membership per connection, one
``group_send`` per message, and each member's consumer re-encodes the event as JSON
in its own handler. Nothing is stored. Any Bearer token (or none) is accepted.
"""

import itertools
import json
from datetime import UTC, datetime

from channels.generic.websocket import AsyncWebsocketConsumer

# Per process, so ids and seqs are not a room-wide order across processes: the
# tutorial has none at all; they are here only so the frames have the same fields.
_ids = itertools.count(1)
_seqs: dict[str, itertools.count] = {}


class ChatConsumer(AsyncWebsocketConsumer):
    """One connection to one room."""

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()
        user = self.scope["user"]
        self.username = user.get_username() if user.is_authenticated else "anonymous"
        room = {"slug": self.room_name, "title": self.room_name, "locked": False, "slow_mode": 0}
        ready = {"type": "ready", "room": room, "user": self.username, "online": []}
        await self.send(text_data=json.dumps({**ready, "messages": [], "has_more": False}))

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        data = json.loads(text_data)
        if data.get("type") != "message":
            return
        seq = next(_seqs.setdefault(self.room_name, itertools.count(1)))
        message = {
            "id": next(_ids),
            "seq": seq,
            "room": self.room_name,
            "user": self.username,
            "body": data.get("body", ""),
            "ts": datetime.now(UTC).isoformat(),
            "client_id": data.get("client_id"),
        }
        ack = {k: message[k] for k in ("client_id", "id", "seq", "ts")}
        await self.send(text_data=json.dumps({"type": "ack", **ack}))
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event):
        # Re-encoded per member, as in the tutorial.
        await self.send(text_data=json.dumps({"type": "message", **event["message"]}))
