"""Frames spliced from pre-encoded parts are the same JSON a plain encoder would write."""

import json

from chat.wire import protocol


def test_ready_frame_is_the_same_whether_names_come_pre_encoded_or_not():
    room = protocol.room_info(slug="lobby", title="Lobby", locked=False, slow_mode=0)
    names = ["ann", "bob", "zoë", 'quote"d']
    frames = [
        protocol.ready_frame(
            room=room,
            user="ann",
            online=online,
            messages_json=['{"seq":1}'],
            has_more=False,
            recovered=None,
        )
        for online in (names, protocol.Names(names))
    ]

    assert frames[0] == frames[1]
    assert json.loads(frames[0]) == {
        "type": "ready",
        "room": room,
        "user": "ann",
        "online": names,
        "messages": [{"seq": 1}],
        "has_more": False,
    }


def test_names_encode_once():
    names = protocol.Names(["a", "b"])
    assert names.json is names.json == '["a","b"]'
    assert names == ["a", "b"]


def test_muted_frames_carry_the_end_or_null():
    from datetime import UTC, datetime

    end = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert json.loads(protocol.muted_frame(end)) == {
        "type": "muted",
        "until": "2026-11-27T09:30:00.000Z",
    }
    assert json.loads(protocol.muted_frame(None)) == {"type": "muted", "until": None}
    assert json.loads(protocol.unmuted_frame()) == {"type": "unmuted"}
