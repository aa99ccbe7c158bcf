"""What one flush of a room's batch window gives each connection, by protocol version."""

import json

from chat.realtime.room_batch import Batched, WindowFrames
from chat.realtime.socket import Frame
from chat.wire import protocol

ANN, BOB, CY = 1, 2, 3


def join(name: str, user: int, index: int) -> Batched:
    return Batched(Frame(protocol.user_frame("join", name)), user, index, ("join", name))


def leave(name: str, index: int) -> Batched:
    return Batched(Frame(protocol.user_frame("leave", name)), None, index, ("leave", name))


def typing(name: str, user: int, index: int) -> Batched:
    return Batched(Frame(protocol.typing_frame(name, True)), user, index)


def texts(frames: list[Frame]) -> list[dict]:
    return [json.loads(frame.text) for frame in frames]


def test_protocol_2_gets_one_presence_frame_shared_by_every_member():
    window = WindowFrames([join("ann", ANN, 10), join("bob", BOB, 11), leave("cy", 12)])
    seen = [
        window.for_connection(user_id=user, floor=floor, version=2)
        for user, floor in ((ANN, 10), (BOB, 11), (CY, 0), (99, 12))
    ]
    assert texts(seen[0]) == [{"type": "presence", "joined": ["ann", "bob"], "left": ["cy"]}]
    # The very same frame object: encoded and framed once for the room.
    assert all(frames[0] is seen[0][0] for frames in seen)


def test_protocol_1_gets_one_frame_per_change_without_its_own_or_earlier_ones():
    window = WindowFrames([join("ann", ANN, 10), join("bob", BOB, 11), leave("cy", 12)])
    assert [f["type"] for f in texts(window.for_connection(user_id=CY, floor=0, version=1))] == [
        "join",
        "join",
        "leave",
    ]
    ann = texts(window.for_connection(user_id=ANN, floor=10, version=1))
    assert ann == [{"type": "join", "user": "bob"}, {"type": "leave", "user": "cy"}]
    late = texts(window.for_connection(user_id=99, floor=12, version=1))
    assert late == [{"type": "leave", "user": "cy"}]


def test_typing_follows_presence_and_skips_the_typist():
    window = WindowFrames([join("ann", ANN, 10), typing("bob", BOB, 11)])
    assert [f["type"] for f in texts(window.for_connection(user_id=CY, floor=0, version=2))] == [
        "presence",
        "typing",
    ]
    assert texts(window.for_connection(user_id=BOB, floor=0, version=2)) == [
        {"type": "presence", "joined": ["ann"], "left": []}
    ]
    # Joined after the typing frame was queued: its ready came later.
    assert [f["type"] for f in texts(window.for_connection(user_id=CY, floor=12, version=2))] == [
        "presence"
    ]


def test_a_window_of_typing_alone_has_no_presence_frame():
    window = WindowFrames([typing("bob", BOB, 4)])
    assert texts(window.for_connection(user_id=CY, floor=0, version=2)) == [
        {"type": "typing", "user": "bob", "active": True}
    ]
    assert window.for_connection(user_id=BOB, floor=0, version=2) == []
