"""Frames spliced from pre-encoded parts are the same JSON a plain encoder would write."""

import json

import pytest

from chat.wire import protocol
from chat.wire.errors import ChatError, ErrorCode


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


# --- issue 15: edit, delete, replies, change numbers ------------------------------


def _parse(frame):
    return protocol.parse(json.dumps(frame), max_length=10, page_max=50)


def test_edit_delete_and_reply_frames_parse_into_commands():
    assert _parse({"type": "edit", "id": 4, "body": "new"}) == protocol.EditMessage(4, "new")
    assert _parse({"type": "delete", "id": 4}) == protocol.DeleteMessage(4)
    send = _parse({"type": "message", "body": "re", "client_id": "c", "reply_to": 4})
    assert send == protocol.SendMessage(body="re", client_id="c", reply_to=4)
    assert _parse({"type": "message", "body": "plain"}).reply_to is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "edit", "id": True, "body": "x"}, ErrorCode.BAD_REQUEST),
        ({"type": "edit", "id": 1, "body": ""}, ErrorCode.EMPTY),
        ({"type": "edit", "id": 1, "body": "x" * 11}, ErrorCode.TOO_LONG),
        ({"type": "delete"}, ErrorCode.BAD_REQUEST),
        ({"type": "message", "body": "x", "reply_to": "4"}, ErrorCode.BAD_REQUEST),
        ({"type": "message", "body": "x", "reply_to": -1}, ErrorCode.BAD_REQUEST),
    ],
)
def test_malformed_edit_delete_and_reply_frames_are_refused(frame, code):
    with pytest.raises(ChatError) as refused:
        _parse(frame)
    assert refused.value.code == code


def test_optional_payload_fields_appear_only_when_set():
    base = dict(id=1, seq=2, room="r", user="u", body="b", ts="t", client_id=None)
    assert set(protocol.message_payload(**base)) == {
        "id",
        "seq",
        "room",
        "user",
        "body",
        "ts",
        "client_id",
    }
    quote = protocol.reply_quote(id=9, seq=1, user="amy", body="x" * 150, deleted=False)
    payload = protocol.message_payload(**base, edited="e", reply_to=quote)
    assert payload["edited"] == "e" and payload["reply_to"]["body"] == "x" * 100
    assert protocol.reply_quote(id=9, seq=1, user="amy", body="x", deleted=True) == {
        "id": 9,
        "seq": 1,
        "deleted": True,
    }


def test_deleted_frames_carry_their_change_and_ready_the_rooms_last_change():
    assert json.loads(protocol.deleted_frame(4, 2, 7)) == {
        "type": "deleted",
        "id": 4,
        "seq": 2,
        "change": 7,
    }
    ready = protocol.ready_frame(
        room={}, user="u", online=[], messages_json=[], has_more=False, recovered=True, changes=3
    )
    assert json.loads(ready)["changes"] == 3 and json.loads(ready)["recovered"] is True


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


def test_ready_frame_says_a_mute_and_its_end_only_when_muted():
    from datetime import UTC, datetime

    common = dict(room={}, user="a", online=[], messages_json=[], has_more=False, recovered=None)
    assert "muted" not in json.loads(protocol.ready_frame(**common))
    until = datetime(2030, 1, 2, 9, 30, tzinfo=UTC)
    frame = json.loads(protocol.ready_frame(**common, muted=True, mute_until=until))
    assert frame["muted"] == {"until": "2030-01-02T09:30:00.000Z"}
    assert json.loads(protocol.ready_frame(**common, muted=True))["muted"] == {"until": None}
