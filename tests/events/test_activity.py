"""``chat.events.activity``: group names, read events, and a batch's activity per room."""

from __future__ import annotations

from chat.events import activity, outbound


def _message(room_id: int, seq: int, user: str, **extra) -> outbound.Outbound:
    payload = {
        "id": seq,
        "seq": seq,
        "room": "dev",
        "user": user,
        "body": "b",
        "ts": "",
        "client_id": None,
    }
    return outbound.message_event(room_id, payload | extra)


def test_groups_and_read_event():
    assert activity.watch_group(3) == "chat.watch.3"
    assert activity.user_group(4) == "chat.user.4"
    event = activity.read_event(4, 3, "dev", 9)
    assert event.group == "chat.user.4"
    assert event.event == {
        "type": "chat.event",
        "kind": "read",
        "user": 4,
        "room": 3,
        "slug": "dev",
        "seq": 9,
    }


def test_a_batch_sums_up_per_room_with_authors_and_mentions():
    batch = [
        _message(3, 1, "bob", mentions=["alice", "bob"]),
        outbound.frame_event(3, "{}"),  # not a message: ignored
        _message(4, 1, "carol"),
        _message(3, 2, "alice", mentions_room=True),
    ]
    rooms = activity.message_rooms(batch)
    assert sorted(rooms) == [3, 4]
    event = activity.activity_event(3, rooms[3])
    assert event == {
        "type": "chat.event",
        "kind": "activity",
        "room": 3,
        "slug": "dev",
        "seq": 2,
        "count": 2,
        "authors": {"bob": 1, "alice": 1},
        "mentions": {"alice": 1},  # bob mentioning himself does not count
        "room_mentions": 1,
        "last_user": "alice",
    }
