"""Editing and deleting your own messages, replies, and the numbered order of changes."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chat import selectors, services
from chat.events import publisher
from chat.models import Message, MessageRevision, ModerationAction, Room, RoomChange
from chat.wire.errors import ChatError, ErrorCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """What services hand to the broadcaster after commit, instead of sending it."""
    events = []
    monkeypatch.setattr(
        publisher, "publish_now_unsafe", lambda *outbounds: events.extend(outbounds)
    )
    return events


def _post(room, user, body="hello", **fields):
    return services.post_message(room=room, author=user, body=body, **fields).message


def _refused(code, call, **kwargs):
    with pytest.raises(ChatError) as refused:
        call(**kwargs)
    assert refused.value.code == code
    return refused.value


def _frames(events):
    return [json.loads(event.event["text"]) for event in events]


# --- edit ----------------------------------------------------------------------


def test_an_edit_keeps_the_previous_text_and_publishes_an_update_after_commit(
    room, user, published, django_capture_on_commit_callbacks
):
    message = _post(room, user, "helo")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.edit_message(message=message, by=user, body="hello")
    message.refresh_from_db()
    assert message.body == "hello" and message.edited_at is not None
    assert list(message.revisions.values_list("body", flat=True)) == ["helo"]
    [frame] = _frames(published)
    assert frame["type"] == "update" and frame["change"] == 1
    assert frame["message"]["body"] == "hello" and frame["message"]["edited"].endswith("Z")
    # The cache entry is replaced with the same current state.
    assert json.loads(published[0].cache_replace[1]) == frame["message"]


def test_every_edit_is_a_revision_and_a_change(room, user):
    message = _post(room, user, "one")
    for body in ("two", "three"):
        services.edit_message(message=message, by=user, body=body)
    assert list(message.revisions.order_by("replaced_at").values_list("body", flat=True)) == [
        "one",
        "two",
    ]
    assert list(RoomChange.objects.values_list("number", "kind")) == [(1, "edit"), (2, "edit")]


def test_the_same_text_again_changes_nothing(room, user):
    message = _post(room, user, "same")
    services.edit_message(message=message, by=user, body="same")
    assert not MessageRevision.objects.exists() and not RoomChange.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"), [("   ", ErrorCode.EMPTY), ("x" * 4001, ErrorCode.TOO_LONG)]
)
def test_an_edit_is_validated_as_a_new_message(room, user, body, code):
    message = _post(room, user, "fine")
    _refused(code, services.edit_message, message=message, by=user, body=body)
    message.refresh_from_db()
    assert message.body == "fine" and message.edited_at is None


def test_only_the_author_may_edit(room, user, other_user):
    message = _post(room, user, "mine")
    _refused(ErrorCode.NOT_AUTHOR, services.edit_message, message=message, by=other_user, body="x")
    assert not MessageRevision.objects.exists() and not RoomChange.objects.exists()


def test_a_deleted_message_cannot_be_edited(room, user):
    message = _post(room, user, "gone")
    services.delete_message(message=message, by=user, moderator=False)
    _refused(ErrorCode.MESSAGE_DELETED, services.edit_message, message=message, by=user, body="x")


def test_the_edit_window_expires(room, user, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 60
    message = _post(room, user, "old")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    _refused(ErrorCode.EDIT_WINDOW, services.edit_message, message=message, by=user, body="new")
    _refused(
        ErrorCode.EDIT_WINDOW, services.delete_message, message=message, by=user, moderator=False
    )
    message.refresh_from_db()
    assert message.body == "old" and message.deleted_at is None


def test_a_window_just_inside_still_allows_the_edit(room, user, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 60
    message = _post(room, user, "old")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=50))
    services.edit_message(message=message, by=user, body="new")
    assert Message.objects.get(pk=message.pk).body == "new"


def test_a_window_of_zero_disables_editing_and_own_deletion(room, user, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 0
    message = _post(room, user, "fixed")
    error = _refused(
        ErrorCode.EDIT_WINDOW, services.edit_message, message=message, by=user, body="x"
    )
    assert "cannot edit" in error.detail
    _refused(
        ErrorCode.EDIT_WINDOW, services.delete_message, message=message, by=user, moderator=False
    )


def test_a_muted_author_cannot_edit(room, user, staff_user):
    message = _post(room, user, "before")
    services.mute_user(room=room, user=user, by=staff_user)
    _refused(ErrorCode.MUTED, services.edit_message, message=message, by=user, body="after")


def test_editing_in_a_locked_room_is_refused(room, user, staff_user):
    message = _post(room, user, "before")
    services.set_room_state(room=room, by=staff_user, is_locked=True)
    _refused(ErrorCode.ROOM_LOCKED, services.edit_message, message=message, by=user, body="x")


# --- delete ----------------------------------------------------------------------


def test_the_author_deletes_their_own_as_a_tombstone_without_an_audit_entry(
    room, user, published, django_capture_on_commit_callbacks
):
    message = _post(room, user, "oops")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_message(message=message, by=user, moderator=False)
    message.refresh_from_db()
    assert message.is_deleted and message.deleted_by == user
    assert not ModerationAction.objects.exists()
    change = RoomChange.objects.get()
    assert (change.number, change.kind, change.actor) == (1, "delete", user)
    assert _frames(published) == [
        {"type": "deleted", "id": message.pk, "seq": message.seq, "change": 1}
    ]


def test_an_author_may_not_delete_someone_elses_message(room, user, other_user):
    message = _post(room, other_user, "theirs")
    _refused(
        ErrorCode.NOT_AUTHOR, services.delete_message, message=message, by=user, moderator=False
    )
    assert not Message.objects.get(pk=message.pk).is_deleted
    assert not RoomChange.objects.exists()


def test_a_moderator_deletion_is_audited_whatever_its_age(room, user, staff_user, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 0
    message = _post(room, user, "spam")
    services.delete_message(message=message, by=staff_user, reason="spam")
    action = ModerationAction.objects.get()
    assert (action.kind, action.target_message_id) == ("delete", message.pk)


def test_deleting_twice_records_one_change(room, user):
    message = _post(room, user, "once")
    services.delete_message(message=message, by=user, moderator=False)
    services.delete_message(message=message, by=user, moderator=False)
    assert RoomChange.objects.count() == 1


def test_message_in_room_refuses_other_rooms_and_unknown_ids(room, make_room, user):
    other = make_room("other")
    elsewhere = _post(other, user, "elsewhere")
    _refused(ErrorCode.NOT_FOUND, services.message_in_room, room=room, message_id=elsewhere.pk)
    _refused(ErrorCode.NOT_FOUND, services.message_in_room, room=room, message_id=10**9)


# --- changes ---------------------------------------------------------------------


def test_edit_delete_and_restore_are_numbered_gaplessly_and_restore_sends_update(
    room, user, staff_user, published, django_capture_on_commit_callbacks
):
    message = _post(room, user, "a")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.edit_message(message=message, by=user, body="b")
        services.delete_message(message=message, by=staff_user)
        services.restore_message(message=message, by=staff_user)
    assert list(RoomChange.objects.values_list("number", "kind", "after_seq")) == [
        (1, "edit", 1),
        (2, "delete", 1),
        (3, "restore", 1),
    ]
    assert Room.objects.get(pk=room.pk).last_change == 3
    frames = _frames(published)
    assert [(f["type"], f["change"]) for f in frames] == [
        ("update", 1),
        ("deleted", 2),
        ("update", 3),
    ]
    assert frames[2]["message"]["body"] == "b" and "edited" in frames[2]["message"]


# --- replies ---------------------------------------------------------------------


def test_a_reply_carries_a_quote_of_the_original(room, user, other_user):
    original = _post(room, user, "q" * 150)
    result = services.post_message(room=room, author=other_user, body="a", reply_to=original.pk)
    assert result.message.reply_to_id == original.pk
    assert result.payload["reply_to"] == {
        "id": original.pk,
        "seq": 1,
        "user": "alice",
        "body": "q" * 100,
    }
    [stored] = selectors.messages_between(room=room, after_seq=1, limit=10)
    assert stored["reply_to"] == result.payload["reply_to"]


def test_a_plain_message_has_no_reply_field(room, user):
    result = services.post_message(room=room, author=user, body="plain")
    assert "reply_to" not in result.payload and "edited" not in result.payload


def test_a_reply_to_a_message_of_another_room_or_none_is_not_found(room, make_room, user):
    elsewhere = _post(make_room("other"), user, "elsewhere")
    for target in (elsewhere.pk, 10**9):
        _refused(
            ErrorCode.NOT_FOUND,
            services.post_message,
            room=room,
            author=user,
            body="re",
            reply_to=target,
        )
    assert Room.objects.get(pk=room.pk).last_seq == 0


def test_a_reply_to_a_deleted_message_is_refused(room, user):
    original = _post(room, user, "gone")
    services.delete_message(message=original, by=user, moderator=False)
    _refused(
        ErrorCode.MESSAGE_DELETED,
        services.post_message,
        room=room,
        author=user,
        body="re",
        reply_to=original.pk,
    )
    assert Room.objects.get(pk=room.pk).last_seq == 1


def test_a_batch_mixes_replies_plain_messages_and_refused_replies(room, user):
    original = _post(room, user, "first")
    results = services.post_messages(
        [
            services.PostRequest(room_id=room.pk, author=user, body="plain"),
            services.PostRequest(room_id=room.pk, author=user, body="re", reply_to=original.pk),
            services.PostRequest(room_id=room.pk, author=user, body="bad", reply_to=10**9),
        ]
    )
    assert results[0].message.reply_to_id is None and results[1].message.reply_to_id == original.pk
    assert isinstance(results[2], ChatError) and results[2].code == ErrorCode.NOT_FOUND
    assert list(Message.objects.order_by("seq").values_list("seq", "reply_to_id")) == [
        (1, None),
        (2, None),
        (3, original.pk),
    ]


def test_history_shows_the_current_state_of_quotes(room, user, other_user):
    original = _post(room, user, "typo")
    services.post_message(room=room, author=other_user, body="re", reply_to=original.pk)
    services.edit_message(message=original, by=user, body="fixed")
    first, reply = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert first["body"] == "fixed" and "edited" in first
    assert reply["reply_to"]["body"] == "fixed"
    services.delete_message(message=original, by=user, moderator=False)
    first, reply = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert first == {"id": original.pk, "seq": 1, "deleted": True}
    assert reply["reply_to"] == {"id": original.pk, "seq": 1, "deleted": True}


def test_a_change_refreshes_the_cached_replies_quoting_it(
    room, user, other_user, published, django_capture_on_commit_callbacks
):
    original = _post(room, user, "typo")
    reply = services.post_message(room=room, author=other_user, body="re", reply_to=original.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_message(message=original, by=user, moderator=False)
    [(seq, text)] = published[-1].cache_refresh
    assert seq == reply.message.seq
    assert json.loads(text)["reply_to"] == {"id": original.pk, "seq": 1, "deleted": True}


def test_a_crowd_of_up_to_date_reconnects_costs_one_query(room, user, django_assert_num_queries):
    message = _post(room, user, "a")
    services.edit_message(message=message, by=user, body="b")
    requests = [
        selectors.ReplayRequest(room=room, since=1, after_change=1, limit=10) for _ in range(50)
    ]
    with django_assert_num_queries(1):
        replays = selectors.changes_to_replay(requests)
    assert all(r.frames == [] and r.last_change == 1 and not r.too_many for r in replays)
    [behind] = selectors.changes_to_replay(
        [selectors.ReplayRequest(room=room, since=1, after_change=0, limit=10)]
    )
    assert [json.loads(frame)["change"] for frame in behind.frames] == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_and_a_reply_to_the_same_message_in_flight_do_not_deadlock(
    room, user, other_user, monkeypatch
):
    """The edit holds the message row while a batch holds the room row and inserts a
    reply to that message (its foreign key takes KEY SHARE on the row): the edit's lock
    must not block that insert, or the edit's numbering would deadlock with it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time, nothing to deadlock")
    original = _post(room, user, "x")
    locked, go = threading.Event(), threading.Event()
    number = services.record_change

    def numbered_later(**kwargs):
        locked.set()
        go.wait(10)
        return number(**kwargs)

    monkeypatch.setattr(services, "record_change", numbered_later)
    errors, replies = [], []

    def run(call):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    edit = threading.Thread(
        target=run, args=(lambda: services.edit_message(message=original, by=user, body="y"),)
    )
    edit.start()
    assert locked.wait(10)
    reply = threading.Thread(
        target=run,
        args=(
            lambda: replies.append(
                services.post_message(room=room, author=other_user, body="re", reply_to=original.pk)
            ),
        ),
    )
    reply.start()
    reply.join(5)
    finished_while_the_edit_held_its_lock = not reply.is_alive()
    go.set()
    edit.join(10)
    reply.join(10)
    assert not errors, errors
    assert finished_while_the_edit_held_its_lock and replies[0].message.reply_to_id == original.pk
    assert Message.objects.get(pk=original.pk).body == "y"
