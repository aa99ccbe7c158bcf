"""``chat.events.outbound``: what each room event carries, encoded once."""

import json

from chat.events import outbound
from chat.events.outbound import CONTROL_GROUP, room_group
from chat.wire import protocol
from chat.wire.errors import CloseCode

PAYLOAD = {
    "id": 7,
    "seq": 3,
    "room": "lobby",
    "user": "alice",
    "body": "hi",
    "ts": "2026-01-01T00:00:00Z",
    "client_id": "c1",
}


def test_room_groups_are_named_from_the_pk():
    assert room_group(12) == "chat.room.12" != CONTROL_GROUP


def test_a_message_event_carries_its_frame_and_its_cache_entry():
    event = outbound.message_event(5, PAYLOAD)
    assert (event.group, event.room_id, event.cache_replace) == ("chat.room.5", 5, None)
    assert event.event["kind"] == "message" and event.event["room"] == 5
    assert event.event["seq"] == 3 and event.event["at"] > 0
    assert json.loads(event.event["text"]) == {"type": "message", **PAYLOAD}
    [(seq, entry)] = event.cache_add
    assert seq == 3 and json.loads(entry) == PAYLOAD
    # The frame is the cache entry with its type: the same encoding, not a second one.
    assert event.event["text"] == protocol.message_frame_from_json(entry)


def test_a_deleted_event_sends_deleted_and_puts_the_tombstone_in_the_cache():
    event = outbound.deleted_event(5, room_slug="lobby", message_id=7, seq=3)
    frame = protocol.deleted_frame(7, 3)
    assert event.event == {"type": "chat.event", "kind": "frame", "room": 5, "text": frame}
    assert event.cache_add == []
    assert event.cache_replace[0] == 3
    assert json.loads(event.cache_replace[1]) == {"id": 7, "seq": 3, "deleted": True}


def test_a_deleted_event_carries_its_change_number():
    event = outbound.deleted_event(5, room_slug="lobby", message_id=7, seq=3, change=4)
    frame = json.loads(event.event["text"])
    assert frame == {"type": "deleted", "id": 7, "seq": 3, "change": 4}


def test_an_update_event_sends_the_current_state_and_caches_it():
    payload = {"id": 7, "seq": 3, "room": "lobby", "user": "ann", "body": "hi", "ts": "t"}
    event = outbound.update_event(5, payload, 9)
    assert json.loads(event.event["text"]) == {"type": "update", "change": 9, "message": payload}
    assert event.cache_replace[0] == 3 and json.loads(event.cache_replace[1]) == payload
    assert event.cache_refresh == []


def test_a_room_event_carries_the_info_and_its_frame():
    info = protocol.room_info(slug="lobby", title="Lobby", locked=True, slow_mode=5)
    event = outbound.room_event(5, info)
    assert event.event["kind"] == "room" and event.event["info"] == info
    assert json.loads(event.event["text"]) == {"type": "room", "room": info}


def test_frame_events_say_skip_user_and_batch_only_when_asked():
    text = protocol.typing_frame("alice", True)
    plain = outbound.frame_event(5, text).event
    assert plain == {"type": "chat.event", "kind": "frame", "room": 5, "text": text}
    marked = outbound.frame_event(5, text, skip_user=9, batch=True).event
    assert marked == plain | {"skip_user": 9, "batch": True}


def test_a_close_event_says_why_with_a_forbidden_error_frame():
    event = outbound.close_event(5, CloseCode.FORBIDDEN, "you are banned", user_id=9).event
    assert (event["kind"], event["user"], event["code"]) == ("close", 9, 4403)
    assert type(event["code"]) is int  # layer messages are msgpack: no enums
    error = json.loads(event["text"])
    assert (error["type"], error["code"], error["detail"]) == (
        "error",
        "forbidden",
        "you are banned",
    )
    assert outbound.close_event(5, CloseCode.ROOM_ARCHIVED, "archived").event["user"] is None


def test_revoke_and_peer_events_go_to_the_control_group():
    revoke = outbound.revoke_event(42)
    assert (revoke.group, revoke.room_id, revoke.event["kind"], revoke.event["token"]) == (
        CONTROL_GROUP,
        None,
        "revoke",
        42,
    )
    peer = outbound.peer_event(5, "chat.hub.x")
    assert peer.group == CONTROL_GROUP and peer.event["group"] == "chat.room.5"
    assert (peer.event["room"], peer.event["channel"]) == (5, "chat.hub.x")
    assert outbound.peer_ack_event("chat.room.5", "chat.hub.y")["kind"] == "peer_ack"


def test_a_user_frame_event_goes_to_the_room_for_one_user_only():
    frame = protocol.unmuted_frame()
    out = outbound.user_frame_event(7, frame, user_id=3)
    assert out.group == room_group(7)
    assert out.event == {
        "type": "chat.event",
        "kind": "frame",
        "room": 7,
        "text": frame,
        "user": 3,
    }
    assert out.cache_add == [] and out.cache_replace is None
