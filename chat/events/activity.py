"""Sidebar events between processes: room activity for watchers, read positions for tabs.

Two kinds of layer group carry them, each joined by a process's hub only while one of
its connections needs it (``chat.realtime.watchers``), and listed in the peer registry
like room groups (``chat.events.peers``), so a publisher sends each other process one
layer message per batch, and nothing at all when nobody watches:

- ``chat.watch.<room id>``: an ``activity`` event per room per publish batch (its
  newest ``seq``, how many messages, by whom, whom they mention), built by the
  publisher only when some process watches the room;
- ``chat.user.<user id>``: a ``read`` event when the user's read position in a room
  moved by a ``read`` frame, for the user's other tabs and devices. (A post moves its
  author's position too; their sidebars learn it from the room's ``activity``, whose
  ``last_user`` wrote the newest message: no event per post.)
"""

from __future__ import annotations

import json
from typing import Any

from chat.events.outbound import Outbound


def watch_group(room_id: int) -> str:
    """The layer group of the processes watching a room's activity."""
    return f"chat.watch.{room_id}"


def user_group(user_id: int) -> str:
    """The layer group of the processes serving a user's ``/ws/me/`` sockets."""
    return f"chat.user.{user_id}"


def read_event(user_id: int, room_id: int, slug: str, seq: int) -> Outbound:
    """The user read ``room`` up to ``seq`` (in any tab): their sidebars clear it."""
    return Outbound(
        group=user_group(user_id),
        event={
            "type": "chat.event",
            "kind": "read",
            "user": user_id,
            "room": room_id,
            "slug": slug,
            "seq": seq,
        },
    )


def message_rooms(batch: list[Outbound]) -> dict[int, list[Outbound]]:
    """The batch's new messages by room (in order)."""
    rooms: dict[int, list[Outbound]] = {}
    for outbound in batch:
        if outbound.cache_add and outbound.event.get("kind") == "message":
            rooms.setdefault(outbound.room_id, []).append(outbound)
    return rooms


def activity_event(room_id: int, messages: list[Outbound]) -> dict[str, Any]:
    """One room's share of a publish batch, summed up for sidebars.

    Decodes the messages' cached payloads: only done for rooms somebody watches.
    """
    authors: dict[str, int] = {}
    mentions: dict[str, int] = {}
    room_mentions = 0
    slug = ""
    seq = 0
    last_user = None
    for outbound in messages:
        for entry_seq, text in outbound.cache_add:
            payload = json.loads(text)
            author = payload.get("user")
            if entry_seq > seq:
                seq, last_user = entry_seq, author
            slug = payload.get("room") or slug
            if author is not None:
                authors[author] = authors.get(author, 0) + 1
            for name in payload.get("mentions") or ():
                if name != author:
                    mentions[name] = mentions.get(name, 0) + 1
            if payload.get("mentions_room"):
                room_mentions += 1
    return {
        "type": "chat.event",
        "kind": "activity",
        "room": room_id,
        "slug": slug,
        "seq": seq,
        "count": sum(len(o.cache_add) for o in messages),
        "authors": authors,
        "mentions": mentions,
        "room_mentions": room_mentions,
        # The author of the newest message has read the room up to it.
        "last_user": last_user,
    }
