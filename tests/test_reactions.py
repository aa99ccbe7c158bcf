"""chat.reactions: one reaction per user, emoji and message; idempotent; live after commit."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import reactions, selectors, services
from chat.conf import REACTIONS
from chat.events import publisher
from chat.models import Mute, Reaction, Room, RoomChange
from chat.wire import protocol
from chat.wire.errors import ChatError

pytestmark = pytest.mark.django_db

THUMBS, PARTY = "👍", "🎉"


@pytest.fixture
def published(monkeypatch):
    """What the service hands to the broadcaster after commit, instead of sending it."""
    events = []
    monkeypatch.setattr(
        publisher, "publish_now_unsafe", lambda *outbounds: events.extend(outbounds)
    )
    return events


@pytest.fixture
def message(room, user):
    return services.post_message(room=room, author=user, body="ship it").message


def _update(outbound):
    """The ``update`` frame an outbound event carries, decoded."""
    return json.loads(outbound.event["text"])


def test_adding_records_a_change_and_publishes_the_whole_message_after_commit(
    message, user, other_user, published, django_capture_on_commit_callbacks
):
    published.clear()  # the post itself
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=True)
    assert published == []  # durable before visible
    for callback in callbacks:
        callback()
    assert result.change == 1
    frame = _update(published[0])
    assert frame["type"] == "update" and frame["change"] == 1
    assert frame["message"]["body"] == "ship it"
    assert frame["message"]["reactions"] == [{"emoji": THUMBS, "count": 1, "users": ["bob"]}]
    # The cache gets the same state, so ready and history show it.
    assert published[0].cache_replace[0] == message.seq
    change = RoomChange.objects.get()
    assert (change.kind, change.actor, change.message) == ("react", other_user, message)


def test_adding_twice_or_removing_a_missing_one_changes_and_publishes_nothing(
    message, user, published, django_capture_on_commit_callbacks
):
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
        again = reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
        missing = reactions.set_reaction(message=message, user=user, emoji=PARTY, active=False)
    assert first.change == 1 and again.change is None and missing.change is None
    assert len(published) == 1
    assert Reaction.objects.count() == 1 and RoomChange.objects.count() == 1
    assert again.payload["reactions"] == [{"emoji": THUMBS, "count": 1, "users": ["alice"]}]


def test_removing_takes_back_only_that_users_emoji(
    message, user, other_user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
        reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=True)
        reactions.set_reaction(message=message, user=user, emoji=PARTY, active=True)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=False)
    assert result.change == 4
    assert _update(published[0])["message"]["reactions"] == [
        {"emoji": THUMBS, "count": 1, "users": ["bob"]},
        {"emoji": PARTY, "count": 1, "users": ["alice"]},
    ]


def test_the_last_reaction_removed_leaves_no_reactions_field(message, user, published):
    reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
    result = reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=False)
    assert "reactions" not in result.payload


def test_reactions_come_in_the_sets_order_with_users_in_the_order_they_reacted(message, make_user):
    carol, dave = make_user("carol"), make_user("dave")
    for user, emoji in [(carol, PARTY), (dave, THUMBS), (carol, THUMBS)]:
        reactions.set_reaction(message=message, user=user, emoji=emoji, active=True)
    assert REACTIONS.index(THUMBS) < REACTIONS.index(PARTY)
    assert reactions.set_reaction(message=message, user=carol, emoji=PARTY, active=True).payload[
        "reactions"
    ] == [
        {"emoji": THUMBS, "count": 2, "users": ["dave", "carol"]},
        {"emoji": PARTY, "count": 1, "users": ["carol"]},
    ]


@pytest.mark.parametrize("emoji", ["🤡", "+1", "👍👍", ""])
def test_an_emoji_outside_the_set_is_bad_reaction_and_stores_nothing(message, user, emoji):
    with pytest.raises(ChatError) as refused:
        reactions.set_reaction(message=message, user=user, emoji=emoji, active=True)
    assert refused.value.code == "bad_reaction"
    assert Reaction.objects.count() == 0 and RoomChange.objects.count() == 0


def test_a_message_of_another_room_is_not_found(message, user, make_room):
    elsewhere = make_room("elsewhere")
    with pytest.raises(ChatError) as refused:
        reactions.react(room=elsewhere, message_id=message.pk, user=user, emoji=THUMBS, active=True)
    assert refused.value.code == "not_found"
    with pytest.raises(ChatError) as unknown:
        reactions.react(room=message.room, message_id=10**9, user=user, emoji=THUMBS, active=True)
    assert unknown.value.code == "not_found"
    assert Reaction.objects.count() == 0


def test_a_deleted_message_takes_no_reactions_and_its_tombstone_shows_none(
    message, user, staff_user
):
    reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
    services.delete_message(message=message, by=staff_user)
    for active in (True, False):
        with pytest.raises(ChatError) as refused:
            reactions.set_reaction(message=message, user=user, emoji=PARTY, active=active)
        assert refused.value.code == "message_deleted"
    tombstone = selectors.messages_before(room=message.room, before_seq=None, limit=5)[0]
    assert tombstone == {"id": message.pk, "seq": 1, "deleted": True}
    assert Reaction.objects.count() == 1  # kept: a restore shows it again


def test_a_restored_message_comes_back_with_its_reactions(
    message, user, staff_user, published, django_capture_on_commit_callbacks
):
    reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
    services.delete_message(message=message, by=staff_user)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.restore_message(message=message, by=staff_user)
    assert published[0].cache_replace[1].count(THUMBS) == 1


def test_muted_users_may_not_react_nor_take_back(message, user, other_user, staff_user):
    reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=True)
    services.mute_user(
        room=message.room, user=other_user, by=staff_user, until=timezone.now() + timedelta(hours=1)
    )
    for active in (True, False):
        with pytest.raises(ChatError) as refused:
            reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=active)
        assert refused.value.code == "muted" and refused.value.retry_after > 3000
    assert Reaction.objects.count() == 1
    assert Mute.objects.count() == 1


def test_a_locked_room_takes_reactions_from_moderators_only(message, user, staff_user):
    services.set_room_state(room=message.room, by=staff_user, is_locked=True)
    with pytest.raises(ChatError) as refused:
        reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True)
    assert refused.value.code == "room_locked"
    assert reactions.set_reaction(
        message=message, user=staff_user, emoji=THUMBS, active=True
    ).change


def test_in_a_private_room_only_members_react(make_room, user, other_user, staff_user):
    private = make_room("private", is_private=True)
    private.members.add(user)
    message = services.post_message(room=private, author=user, body="members only").message
    with pytest.raises(ChatError) as refused:
        reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=True)
    assert refused.value.code == "forbidden"
    assert reactions.set_reaction(message=message, user=user, emoji=THUMBS, active=True).change


def test_history_reads_reactions_of_a_page_in_one_query(
    room, user, other_user, django_assert_num_queries
):
    messages = [
        services.post_message(room=room, author=user, body=f"m{n}").message for n in range(5)
    ]
    for message in messages[1:4]:
        reactions.set_reaction(message=message, user=other_user, emoji=THUMBS, active=True)
    with django_assert_num_queries(3):  # the page, then every reaction and every file on it
        page = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert ["reactions" in payload for payload in page] == [False, True, True, True, False]


def test_a_new_message_costs_no_reaction_query(room, user):
    services.post_message(room=room, author=user, body="warm up")
    with CaptureQueriesContext(connection) as queries:
        services.post_message(room=room, author=user, body="no reactions yet")
    assert queries.captured_queries  # it did write
    assert not any("chat_reaction" in query["sql"] for query in queries.captured_queries)


def test_the_summary_is_pure_and_drops_unknown_emoji():
    pairs = [("🎉", "a"), ("👍", "b"), ("🤡", "c"), ("👍", "a")]
    assert protocol.reaction_summary(pairs, REACTIONS) == [
        {"emoji": "👍", "count": 2, "users": ["b", "a"]},
        {"emoji": "🎉", "count": 1, "users": ["a"]},
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_one_reaction_store_one_and_publish_once(
    make_user, make_room, published
):
    """Many connections add the same reaction at the same moment: one row, one change."""
    room = make_room("busy")
    alice = make_user("alice")
    message = services.post_message(room=room, author=alice, body="race").message
    published.clear()
    barrier = threading.Barrier(6)
    results, errors = [], []

    def add():
        try:
            barrier.wait(timeout=10)
            results.append(
                reactions.set_reaction(message=message, user=alice, emoji=THUMBS, active=True)
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.change is not None for r in results) == [False] * 5 + [True]
    assert Reaction.objects.count() == 1 and RoomChange.objects.count() == 1
    assert len(published) == 1
    assert Room.objects.get(pk=room.pk).last_change == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_different_reactions_end_with_an_update_carrying_all(
    make_user, make_room, published
):
    """Reactions to one message at once: the last update published has every one."""
    room = make_room("busy")
    users = [make_user(f"u{n}") for n in range(6)]
    message = services.post_message(room=room, author=users[0], body="race").message
    published.clear()
    barrier = threading.Barrier(len(users))

    def add(user):
        try:
            barrier.wait(timeout=10)
            reactions.set_reaction(message=message, user=user, emoji=PARTY, active=True)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    frames = sorted((_update(event) for event in published), key=lambda f: f["change"])
    assert [f["change"] for f in frames] == [1, 2, 3, 4, 5, 6]
    assert [f["message"]["reactions"][0]["count"] for f in frames] == [1, 2, 3, 4, 5, 6]
