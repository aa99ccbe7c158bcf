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
        "protocol": 1,
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


def test_ready_frame_names_the_protocol_version_in_effect():
    room = protocol.room_info(slug="lobby", title="Lobby", locked=False, slow_mode=0)
    frame = protocol.ready_frame(
        room=room,
        user="ann",
        online=["ann"],
        messages_json=[],
        has_more=False,
        recovered=None,
        protocol=2,
    )
    assert json.loads(frame)["protocol"] == 2


def test_presence_frame_lists_arrivals_and_departures():
    assert json.loads(protocol.presence_frame(["ann", "bob"], ["cy"])) == {
        "type": "presence",
        "joined": ["ann", "bob"],
        "left": ["cy"],
    }


def test_presence_changes_keep_each_users_last_change():
    changes = [
        ("join", "ann"),
        ("join", "bob"),
        ("leave", "ann"),  # joined and left within the window: only left
        ("leave", "cy"),
        ("join", "cy"),  # left and came back: only joined
        ("join", "dee"),
    ]
    assert protocol.presence_changes(changes) == (["bob", "cy", "dee"], ["ann"])


def test_presence_changes_apply_as_the_single_frames_would():
    changes = [
        ("join", "ann"),
        ("leave", "bob"),
        ("join", "bob"),
        ("leave", "ann"),
        ("join", "eve"),
    ]
    one_by_one = ["bob", "zed"]
    for kind, user in changes:
        one_by_one = protocol.apply_presence(one_by_one, {"type": kind, "user": user})
    joined, left = protocol.presence_changes(changes)
    at_once = protocol.apply_presence(
        ["bob", "zed"], {"type": "presence", "joined": joined, "left": left}
    )
    assert at_once == one_by_one == ["bob", "eve", "zed"]


def test_apply_presence_ignores_other_frames():
    assert protocol.apply_presence(["b", "a"], {"type": "typing", "user": "c"}) == ["a", "b"]
