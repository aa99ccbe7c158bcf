"""The write path: seq assignment, idempotency, group commit and durable-before-visible."""

import threading

import pytest
from django.db import transaction

from chat import services
from chat.events import publisher
from chat.models import Message, Room
from chat.services import PostRequest
from chat.wire.errors import ChatError
from tests.helpers.threads import in_threads

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


# --- many connections at once (SQLite, and PostgreSQL with `-m postgres`) ----------


def seqs_of(room: Room) -> list[int]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_gapless_seqs(room, make_room, make_user, published):
    """Writers on their own connections post singly and in two-room batches at once.

    Seqs are 1..N in each room, once each, and ``last_seq`` follows; batches that lock
    the two rooms never deadlock (rooms are locked in pk order).
    """
    other = make_room("other-room")
    users = [make_user(f"writer{n}") for n in range(6)]
    rounds = 10

    def write(n: int) -> None:
        user = users[n]
        for k in range(rounds):
            if n % 2:
                services.post_message(room=room, author=user, body=f"{n}-{k}", client_id=f"{k}")
            else:
                # Both orders of rooms in a batch, so two batches could lock in
                # opposite orders if the service did not sort them.
                pair = (room, other) if k % 2 else (other, room)
                services.post_messages(
                    [
                        PostRequest(room_id=r.pk, author=user, body=f"{n}-{k}", client_id=f"{k}")
                        for r in pair
                    ]
                )

    assert in_threads(len(users), write) == []

    writes_per_room = {room.pk: 0, other.pk: 0}
    for n in range(len(users)):
        writes_per_room[room.pk] += rounds
        writes_per_room[other.pk] += 0 if n % 2 else rounds
    for each in (room, other):
        each.refresh_from_db()
        assert seqs_of(each) == list(range(1, writes_per_room[each.pk] + 1))
        assert each.last_seq == writes_per_room[each.pk]
    assert len(published) == sum(writes_per_room.values())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_client_id_sent_on_two_connections_at_once_is_stored_once(room, user, published):
    """A client resending through a second connection while the first is still writing."""
    client_ids = [f"k{n}" for n in range(10)]
    results: list[list] = [[], []]

    def send(n: int) -> None:
        for client_id in client_ids:
            results[n].append(
                services.post_message(room=room, author=user, body=client_id, client_id=client_id)
            )

    assert in_threads(2, send) == []

    for first, second in zip(*results, strict=True):
        assert first.message.pk == second.message.pk
        assert sorted([first.created, second.created]) == [False, True]
    assert seqs_of(room) == list(range(1, len(client_ids) + 1))
    assert len(published) == len(client_ids)


@pytest.fixture
def forced_miss(monkeypatch):
    """Make the next ``client_id`` pre-check of one thread find nothing.

    The service looks for an earlier message with the same ``client_id`` under the
    room's lock, so two writers cannot both miss each other; this stands in for the
    lookup that misses anyway, leaving the unique constraint to decide. Returns the
    list of the pre-checks the forced one made (``"missed"``) and the real ones.
    """
    real = services._Access.existing
    state = {"thread": None}
    calls: list[str] = []

    def existing(access):
        if threading.current_thread() is state["thread"]:
            state["thread"] = None
            calls.append("missed")
            return {}
        calls.append("looked")
        return real(access)

    monkeypatch.setattr(services._Access, "existing", existing)

    def arm() -> None:
        state["thread"] = threading.current_thread()

    return arm, calls


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_client_id_race_takes_the_integrity_error_retry(room, user, published, forced_miss):
    arm, calls = forced_miss
    results = {}

    def first(_: int) -> None:
        results["first"] = services.post_message(room=room, author=user, body="a", client_id="k")

    def racer(_: int) -> None:
        arm()  # this writer's pre-check misses the first writer's committed row
        results["racer"] = services.post_message(
            room=room, author=user, body="a, sent again", client_id="k"
        )

    assert in_threads(1, first) == []
    calls.clear()
    assert in_threads(1, racer) == []

    # The insert hit the unique constraint; the retry's lookup found the original.
    assert calls == ["missed", "looked"]
    assert results["racer"].created is False
    assert results["racer"].message.pk == results["first"].message.pk
    assert results["racer"].payload == results["first"].payload
    assert Message.objects.filter(room=room).count() == 1
    assert [event.event["seq"] for event in published] == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_loses_a_race_is_retried_request_by_request_without_a_gap(
    room, user, other_user, published, forced_miss
):
    arm, calls = forced_miss
    results = {}

    def first(_: int) -> None:
        results["first"] = services.post_message(room=room, author=user, body="a", client_id="k")

    def racer(_: int) -> None:
        arm()
        results["batch"] = services.post_messages(
            [
                PostRequest(room_id=room.pk, author=other_user, body="b", client_id="b"),
                PostRequest(room_id=room.pk, author=user, body="a again", client_id="k"),
                PostRequest(room_id=room.pk, author=other_user, body="c"),
            ]
        )

    assert in_threads(1, first) == []
    assert in_threads(1, racer) == []

    b, again, c = results["batch"]
    assert again.created is False and again.message.pk == results["first"].message.pk
    assert (b.created, b.message.seq) == (True, 2)
    assert (c.created, c.message.seq) == (True, 3)
    # The whole batch rolled back at the IntegrityError, then went one by one.
    assert calls.count("missed") == 1 and calls.count("looked") >= 3
    assert seqs_of(room) == [1, 2, 3]
    assert sorted(event.event["seq"] for event in published) == [1, 2, 3]
