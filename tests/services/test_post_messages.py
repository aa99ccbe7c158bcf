"""The write path: seq assignment, idempotency, group commit and durable-before-visible."""

import threading

import pytest
from django.db import connection, transaction

from chat import services
from chat.events import publisher
from chat.models import Message, Room
from chat.services import PostRequest
from chat.wire.errors import ChatError

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """What services hand to the broadcaster (after commit), instead of sending it."""
    events = []
    monkeypatch.setattr(
        publisher, "publish_now_unsafe", lambda *outbounds: events.extend(outbounds)
    )
    return events


def test_post_message_assigns_seq_and_publishes_only_after_commit(
    room, user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.post_message(room=room, author=user, body="hello", client_id="c1")
    assert result.created and result.message.seq == 1
    assert published == []  # nothing visible before commit
    for callback in callbacks:
        callback()
    assert [event.event["seq"] for event in published] == [1]
    room.refresh_from_db()
    assert room.last_seq == 1 and room.last_message_at == result.message.created_at


def test_a_rolled_back_post_publishes_nothing(
    room, user, published, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.post_message(room=room, author=user, body="never")
        raise RuntimeError("rollback")
    assert published == []
    assert Message.objects.count() == 0


def test_repeat_client_id_returns_the_original_and_publishes_nothing(
    room, user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.post_message(room=room, author=user, body="once", client_id="k")
        again = services.post_message(room=room, author=user, body="changed body", client_id="k")
    assert (
        not again.created
        and again.message.pk == first.message.pk
        and again.payload == first.payload
    )
    assert len(published) == 1


def test_a_batch_mixes_results_and_keeps_order(
    room, make_room, user, other_user, published, django_capture_on_commit_callbacks
):
    other = make_room("other")
    services.mute_user(room=room, user=other_user, by=user)
    requests = [
        PostRequest(room_id=room.pk, author=user, body="a", client_id="a"),
        PostRequest(room_id=other.pk, author=user, body="b"),
        PostRequest(room_id=room.pk, author=other_user, body="muted", client_id="m"),
        PostRequest(room_id=room.pk, author=user, body="a again", client_id="a"),
        PostRequest(room_id=room.pk, author=user, body="c"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        results = services.post_messages(requests)
    assert [r.message.seq for r in (results[0], results[1], results[4])] == [1, 1, 2]
    assert (
        isinstance(results[2], ChatError)
        and results[2].code == "muted"
        and results[2].client_id == "m"
    )
    assert results[3].message.pk == results[0].message.pk and not results[3].created
    assert sorted((e.room_id, e.event["seq"]) for e in published) == sorted(
        [(other.pk, 1), (room.pk, 1), (room.pk, 2)]
    )


def test_archived_room_refuses_posts(room, user):
    Room.objects.filter(pk=room.pk).update(is_archived=True)
    with pytest.raises(ChatError) as caught:
        services.post_message(room=room, author=user, body="late")
    assert caught.value.code == "forbidden"


def test_post_message_validates_like_the_websocket(room, user):
    for body, code in (("", "empty"), ("x" * 4001, "too_long"), ("a\x00b", "bad_request")):
        with pytest.raises(ChatError) as caught:
            services.post_message(room=room, author=user, body=body)
        assert caught.value.code == code
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_gapless_seqs(room, make_user, published):
    """Several threads (connections) write to one room at once: seqs are 1..N, once each."""
    users = [make_user(f"writer{n}") for n in range(4)]
    per_thread = 15
    errors = []

    def write(user):
        try:
            for n in range(per_thread):
                services.post_message(
                    room=room, author=user, body=f"{user.username}-{n}", client_id=f"{n}"
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(users) * per_thread + 1))
    room.refresh_from_db()
    assert room.last_seq == len(seqs)
