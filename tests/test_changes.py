"""chat.changes numbers changes per room, gaplessly, with the room's last message."""

import pytest

from chat import changes, services
from chat.models import RoomChange

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_changes_are_numbered_per_room_after_the_last_message(make_user, make_room):
    alice = make_user("alice")
    room, other = make_room("here"), make_room("there")
    first = services.post_message(room=room, author=alice, body="one").message
    services.post_message(room=room, author=alice, body="two")

    a = changes.record_change(message=first, kind=RoomChange.Kind.EDIT, actor=alice)
    b = changes.record_change(message=first, kind=RoomChange.Kind.REACT, actor=alice)
    elsewhere = services.post_message(room=other, author=alice, body="x").message
    c = changes.record_change(message=elsewhere, kind=RoomChange.Kind.EDIT, actor=alice)

    assert (a.number, a.after_seq) == (1, 2)
    assert (b.number, b.after_seq) == (2, 2)
    assert (c.number, c.after_seq) == (1, 1)
    room.refresh_from_db()
    assert room.last_change == 2 and room.last_seq == 2
