"""Storing @mentions (chat.mentions) through the post path, and reading them back."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import mentions, selectors, services
from chat.events import publisher
from chat.models import Ban, Mention, Message
from chat.services import PostRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    events = []
    monkeypatch.setattr(
        publisher, "publish_now_unsafe", lambda *outbounds: events.extend(outbounds)
    )
    return events


def mentioned(message) -> list[str]:
    return [m.user.username for m in Mention.objects.filter(message=message).order_by("pk")]


def test_a_mention_is_stored_as_a_reference_and_carried_live(
    room, user, other_user, make_user, published, django_capture_on_commit_callbacks
):
    make_user("carol")
    with django_capture_on_commit_callbacks(execute=True):
        result = services.post_message(room=room, author=user, body="@carol and @bob, look")
    assert mentioned(result.message) == ["carol", "bob"]
    row = Mention.objects.get(message=result.message, user=other_user)
    assert (row.room_id, row.seq) == (room.pk, result.message.seq)
    assert result.payload["mentions"] == ["carol", "bob"]
    assert "mentions_room" not in result.payload
    frames = [json.loads(event.event["text"]) for event in published]
    assert [frame.get("mentions") for frame in frames] == [["carol", "bob"]]


def test_a_plain_message_keeps_its_old_payload(room, user):
    payload = services.post_message(room=room, author=user, body="hello bob@example.com").payload
    assert "mentions" not in payload and "mentions_room" not in payload
    assert not Mention.objects.exists()


def test_an_at_sign_that_mentions_nobody_costs_no_query_when_posting(room, user):
    with CaptureQueriesContext(connection) as plain:
        services.post_message(room=room, author=user, body="plain")
    with CaptureQueriesContext(connection) as address:
        services.post_message(room=room, author=user, body="mail bob@example.com or `@x`")
    assert len(address) == len(plain)


def test_unknown_names_self_mentions_and_inactive_users_are_plain_text(room, user, make_user):
    make_user("ghost", is_active=False)
    result = services.post_message(room=room, author=user, body="@nobody @alice @ghost")
    assert mentioned(result.message) == []
    assert "mentions" not in result.payload


def test_users_who_cannot_read_the_room_are_not_mentioned(
    make_room, user, other_user, make_user, staff_user
):
    private = make_room("secret", is_private=True)
    private.members.add(user)
    member, moderator = make_user("member"), make_user("mod")
    private.members.add(member)
    private.moderators.add(moderator)
    body = "@bob @member @mod @admin"  # bob is no member; admin is a superuser
    result = services.post_message(room=private, author=user, body=body)
    assert mentioned(result.message) == ["member", "mod", "admin"]
    assert result.payload["mentions"] == ["member", "mod", "admin"]


def test_a_banned_user_is_not_mentioned(room, user, other_user):
    Ban.objects.create(room=room, user=other_user)
    result = services.post_message(room=room, author=user, body="@bob")
    assert mentioned(result.message) == []
    # An expired ban no longer stands in the way.
    Ban.objects.update(until=timezone.now())
    assert mentioned(services.post_message(room=room, author=user, body="@bob").message) == ["bob"]


def test_at_room_counts_for_moderators_only(room, user, other_user, staff_user):
    room.moderators.add(other_user)
    by_moderator = services.post_message(room=room, author=other_user, body="@room standup!")
    by_staff = services.post_message(room=room, author=staff_user, body="hey @room")
    by_member = services.post_message(room=room, author=user, body="@room anyone?")
    for result, expected in ((by_moderator, True), (by_staff, True), (by_member, False)):
        result.message.refresh_from_db()
        assert result.message.mentions_room is expected
        assert result.payload.get("mentions_room", False) is expected
    # A member's @room is stored as typed, no error, no rows.
    assert by_member.message.body == "@room anyone?"
    assert not Mention.objects.exists()


def test_a_batch_with_many_mentions_costs_a_bounded_number_of_queries(room, make_user, user):
    users = [make_user(f"m{n}") for n in range(30)]

    def post(count: int) -> int:
        requests = [
            PostRequest(
                room_id=room.pk,
                author=users[n % 30],
                body=f"@m{(n + 1) % 30} @m{(n + 2) % 30} @nobody",
            )
            for n in range(count)
        ]
        with CaptureQueriesContext(connection) as queries:
            results = services.post_messages(requests)
        assert all(len(mentioned(r.message)) == 2 for r in results)
        return len(queries)

    plain = post(1)
    assert post(60) == plain
    assert Mention.objects.count() == 2 * 61


def test_a_batch_without_at_signs_runs_no_mention_query(room, user):
    before = services.post_messages([PostRequest(room_id=room.pk, author=user, body="a")])
    assert not isinstance(before[0], Exception)
    with CaptureQueriesContext(connection) as queries:
        services.post_messages(
            [PostRequest(room_id=room.pk, author=user, body=f"x{n}") for n in range(20)]
        )
    assert not any("chat_mention" in query["sql"] for query in queries)
    assert not any('"auth_user"' in query["sql"] for query in queries)


def test_history_pages_carry_mentions_with_two_more_queries_at_most(
    room, user, other_user, django_assert_max_num_queries
):
    room.moderators.add(user)
    services.post_message(room=room, author=user, body="@bob hi")
    services.post_message(room=room, author=user, body="@room all")
    services.post_message(room=room, author=other_user, body="plain")
    # The page, the reactions, the names, the @room flags, the files.
    with django_assert_max_num_queries(5):
        page = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert [(p.get("mentions"), p.get("mentions_room")) for p in page] == [
        (["bob"], None),
        (None, True),
        (None, None),
    ]


def test_store_for_rereads_an_edited_message(room, user, other_user, make_user):
    make_user("carol")
    message = services.post_message(room=room, author=user, body="@bob").message
    message.body = "sorry, I meant @carol and @room"
    assert mentions.store_for(message) == ["carol"]
    assert mentioned(message) == ["carol"]
    assert Message.objects.get(pk=message.pk).mentions_room is False  # alice moderates nothing
    payload = selectors.message_payload(
        Message.objects.get(pk=message.pk), room_slug=room.slug, username="alice"
    )
    assert payload["mentions"] == ["carol"]
