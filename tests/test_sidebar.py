"""``chat.sidebar``: which rooms a user's sidebar lists, and their counts."""

from __future__ import annotations

import pytest

from chat import services, sidebar
from chat.models import Message, ReadPosition

pytestmark = pytest.mark.django_db


def _post(room, author, body="hi") -> Message:
    return services.post_message(room=room, author=author, body=body).message


def test_rooms_with_a_position_and_private_memberships_not_archived(user, other_user, make_room):
    opened = make_room("opened")
    never = make_room("never")
    member = make_room("member", is_private=True)
    member.members.add(user)
    archived = make_room("archived")
    left = make_room("left", is_private=True)  # a position, but no longer a member
    banned = make_room("banned")
    for room in (opened, archived, left, banned):
        ReadPosition.objects.create(user=user, room=room, seq=0)
    services.ban_user(room=banned, user=user, by=other_user)
    archived.is_archived = True
    archived.save()
    slugs = {room.slug for room in sidebar.sidebar_rooms(user)}
    assert slugs == {"opened", "member"}
    assert never.slug not in slugs


def test_counts_skip_own_and_deleted_messages_and_count_mentions(user, other_user, room):
    ReadPosition.objects.create(user=user, room=room, seq=1)
    _post(room, other_user, "read already")  # seq 1
    _post(room, other_user, "@alice")  # stored as a mention of alice
    _post(room, user, "mine")
    gone = _post(room, other_user, "deleted @alice")
    services.delete_message(message=gone, by=other_user)
    everyone = _post(room, other_user, "@room")  # bob moderates nothing: plain text
    Message.objects.filter(pk=everyone.pk).update(mentions_room=True)
    [entry] = sidebar.sidebar(user)
    assert entry.wire() == {
        "slug": "lobby",
        "title": "Lobby",
        "private": False,
        "last_seq": 5,
        "read_seq": 1,
        "unread": 2,
        "mentions": 2,
    }


def test_an_overlay_newer_than_the_database_wins(user, other_user, room):
    ReadPosition.objects.create(user=user, room=room, seq=0)
    for _ in range(3):
        _post(room, other_user)
    [entry] = sidebar.sidebar(user, overlay={room.pk: 2})
    assert entry.read_seq == 2 and entry.unread == 1


def test_far_behind_counts_by_seq_instead_of_a_long_count(user, other_user, room, monkeypatch):
    monkeypatch.setattr(sidebar, "EXACT_UNREAD_LIMIT", 2)
    ReadPosition.objects.create(user=user, room=room, seq=0)
    for _ in range(3):
        _post(room, user)  # own messages: an exact count would say 0
    [entry] = sidebar.sidebar(user)
    assert entry.unread == 3
