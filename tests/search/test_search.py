"""The search selector on SQLite (FTS5) and PostgreSQL (tsvector + GIN): the same answers.

Marked ``postgres``: ``make test`` runs this file on PostgreSQL too.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from chat import search, selectors, services
from chat.models import Ban, Message, Room
from chat.search import Filters, SearchError
from chat.wire.errors import Refusal

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def post(room, author, body) -> Message:
    return services.post_message(room=room, author=author, body=body).message


def found(user, text, **filters) -> list[str]:
    """The bodies of the messages found, newest first."""
    page = search.search(user=user, text=text, filters=Filters(**filters))
    bodies = dict(
        Message.objects.filter(pk__in=[h.id for h in page.results]).values_list("pk", "body")
    )
    return [bodies[h.id] for h in page.results]


@pytest.fixture
def general(make_room):
    return make_room("general")


@pytest.fixture
def random_room(make_room):
    return make_room("random")


def test_finds_words_across_rooms_newest_first_with_highlighted_snippets(
    user, other_user, general, random_room
):
    first = post(general, user, "the deploy went fine")
    post(random_room, other_user, "lunch anyone?")
    last = post(random_room, other_user, "Deploying again? No: DEPLOY friday")

    page = search.search(user=user, text="deploy")

    assert [h.id for h in page.results] == [last.pk, first.pk]
    hit = page.results[0]
    assert (hit.room, hit.seq, hit.user) == ("random", last.seq, "bob")
    assert ("DEPLOY", True) in hit.snippet
    assert "".join(text for text, _ in hit.snippet) == "Deploying again? No: DEPLOY friday"
    assert page.next_before is None
    assert hit.as_json()["snippet"][-2:] == [["DEPLOY", True], [" friday", False]]


def test_words_phrases_or_and_exclusions(user, general):
    post(general, user, "release notes for friday")
    post(general, user, "notes about the release")
    post(general, user, "rollback on staging")

    assert found(user, '"release notes"') == ["release notes for friday"]
    assert found(user, "release notes") == ["notes about the release", "release notes for friday"]
    assert found(user, "friday OR rollback") == ["rollback on staging", "release notes for friday"]
    assert found(user, "notes -friday") == ["notes about the release"]
    assert found(user, "nothing") == []


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '""',
        "AND",
        "deploy AND",
        "NEAR(deploy",
        "body:deploy",
        "^deploy",
        "deploy*",
        "a'b",
        "(((",
        "\\",
    ],
)
def test_query_syntax_of_either_database_is_never_an_error(user, general, text):
    post(general, user, "deploy body near and")
    try:
        search.search(user=user, text=text)
    except SearchError as error:
        assert error.code == "bad_query"


def test_refusals_carry_codes(user, general):
    for text, code in [("", "bad_query"), ("x" * 201, "bad_query"), ("-x", "bad_query")]:
        with pytest.raises(SearchError) as caught:
            search.search(user=user, text=text)
        assert caught.value.code == code
    with pytest.raises(SearchError) as caught:
        search.search(user=user, text="x", filters=Filters(author="nobody"))
    assert caught.value.code == "unknown_user"


def test_room_author_and_dates_filter(user, other_user, general, random_room):
    old = post(general, user, "deploy one")
    Message.objects.filter(pk=old.pk).update(created_at=datetime(2026, 1, 10, 12, tzinfo=UTC))
    post(general, other_user, "deploy two")
    post(random_room, user, "deploy three")

    assert found(user, "deploy", room="general") == ["deploy two", "deploy one"]
    assert found(user, "deploy", author="alice") == ["deploy three", "deploy one"]
    assert found(user, "deploy", until=datetime(2026, 1, 11, tzinfo=UTC)) == ["deploy one"]
    assert found(user, "deploy", since=datetime(2026, 1, 11, tzinfo=UTC), room="general") == [
        "deploy two"
    ]


def test_pages_by_cursor(user, general):
    for n in range(5):
        post(general, user, f"deploy {n}")
    first = search.search(user=user, text="deploy", filters=Filters(limit=2))
    second = search.search(
        user=user, text="deploy", filters=Filters(limit=2, before=first.next_before)
    )
    third = search.search(
        user=user, text="deploy", filters=Filters(limit=2, before=second.next_before)
    )
    bodies = [found_body(h) for page in (first, second, third) for h in page.results]
    assert bodies == ["deploy 4", "deploy 3", "deploy 2", "deploy 1", "deploy 0"]
    assert third.next_before is None


def found_body(hit) -> str:
    return Message.objects.get(pk=hit.id).body


def test_deleted_messages_are_never_found_and_edits_match_the_new_text(staff_user, user, general):
    gone = post(general, user, "secret deploy plan")
    edited = post(general, user, "typo deplyo")
    services.delete_message(message=gone, by=staff_user)
    edited.body = "fixed deploy"
    edited.save(update_fields=["body"])

    assert found(user, "deploy") == ["fixed deploy"]
    assert found(user, "secret") == []
    assert found(user, "deplyo") == []
    # Also for whoever may see deleted messages elsewhere.
    assert found(staff_user, "secret") == []

    services.restore_message(message=gone, by=staff_user)
    assert found(user, "secret") == ["secret deploy plan"]


def test_private_rooms_of_others_never_appear(make_user, make_room, user, other_user, staff_user):
    private = make_room("hideout", is_private=True)
    private.members.add(other_user)
    post(private, other_user, "private deploy")
    public = make_room("open")
    post(public, other_user, "public deploy")

    assert found(user, "deploy") == ["public deploy"]
    assert found(other_user, "deploy") == ["public deploy", "private deploy"]
    assert found(staff_user, "deploy") == ["public deploy", "private deploy"]
    # The room filter cannot probe it either: the same answer as for no room at all.
    for slug in ("hideout", "no-such-room"):
        with pytest.raises(SearchError) as caught:
            search.search(user=user, text="deploy", filters=Filters(room=slug))
        assert caught.value.code == "unknown_room"
        assert caught.value.detail == f"no room “{slug}” that you can read"


def test_banned_and_archived_rooms_are_not_searched(user, other_user, make_room):
    banned_from, archived = make_room("banned-from"), make_room("archived")
    post(banned_from, other_user, "deploy a")
    post(archived, other_user, "deploy b")
    Room.objects.filter(pk=archived.pk).update(is_archived=True)
    Ban.objects.create(room=banned_from, user=user)

    assert found(user, "deploy") == []
    assert found(other_user, "deploy") == ["deploy a"]


def test_readable_rooms_are_the_rooms_a_user_may_enter(make_user, make_room, staff_user):
    """Search's permission rule is the room page's and the socket's: one per pair."""
    now = timezone.now()
    users = [make_user(n) for n in ("member", "mod", "banned", "expired", "plain")] + [staff_user]
    member, mod, banned, expired, _, _ = users
    rooms = [
        make_room("pub"),
        make_room("priv", is_private=True),
        make_room("arch", is_archived=True),
        make_room("priv-arch", is_private=True, is_archived=True),
    ]
    for room in rooms:
        room.members.add(member)
        room.moderators.add(mod)
        Ban.objects.create(room=room, user=banned)
        Ban.objects.create(room=room, user=expired, until=now - timedelta(minutes=1))
    for user in users:
        readable = set(selectors.readable_rooms(user=user).values_list("slug", flat=True))
        for room in rooms:
            try:
                selectors.room_for_user(slug=room.slug, user=user)
                admitted = True
            except Refusal:
                admitted = False
            assert (room.slug in readable) == admitted, (user.username, room.slug)


def test_sqlite_index_is_repaired_when_a_table_rebuild_dropped_its_triggers(user, general):
    """Django's SQLite schema editor rebuilds tables (and so drops their triggers)."""
    from django.db import connection

    from chat.search import sqlite

    if connection.vendor != "sqlite":
        assert sqlite.repair(connection) is False
        return
    post(general, user, "before the rebuild deploy")
    with connection.cursor() as cursor:
        for name in sqlite.TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    post(general, user, "unindexed deploy")
    assert found(user, "unindexed") == []

    assert sqlite.repair(connection) is True
    assert sqlite.repair(connection) is False
    post(general, user, "after the repair deploy")
    assert found(user, "deploy") == [
        "after the repair deploy",
        "unindexed deploy",
        "before the rebuild deploy",
    ]


def test_date_ranges_are_exact_when_ids_and_times_disagree(user, general):
    """Two processes' clocks: a later id can carry an earlier time."""
    a, b, c = (post(general, user, f"deploy {name}") for name in "abc")
    for message, day in ((a, 3), (b, 2), (c, 1)):
        Message.objects.filter(pk=message.pk).update(created_at=datetime(2026, 3, day, tzinfo=UTC))
    march = {day: datetime(2026, 3, day, tzinfo=UTC) for day in range(1, 5)}

    assert found(user, "deploy", since=march[3]) == ["deploy a"]
    assert found(user, "deploy", until=march[2]) == ["deploy c"]
    assert found(user, "deploy", since=march[2], until=march[3]) == ["deploy b"]
    assert found(user, "deploy", since=march[1], until=march[4]) == [
        "deploy c",
        "deploy b",
        "deploy a",
    ]
    assert found(user, "deploy", since=march[4]) == []


def test_words_inside_addresses_tags_and_numbers_are_words_on_both_databases(user, general):
    post(general, user, "see example.com or mail ops@corp.org")
    post(general, user, "the <b>noon</b> build of v1.2.3 in snake_case")

    assert found(user, "example") == ["see example.com or mail ops@corp.org"]
    assert found(user, "corp org") == ["see example.com or mail ops@corp.org"]
    assert found(user, "example.com") == ["see example.com or mail ops@corp.org"]
    assert found(user, "noon") == ["the <b>noon</b> build of v1.2.3 in snake_case"]
    assert found(user, '"v1 2 3"') == ["the <b>noon</b> build of v1.2.3 in snake_case"]
    assert found(user, "snake") == ["the <b>noon</b> build of v1.2.3 in snake_case"]
    (hit,) = search.search(user=user, text="noon").results
    assert (
        "".join(text for text, _ in hit.snippet) == "the <b>noon</b> build of v1.2.3 in snake_case"
    )
    assert ("noon", True) in hit.snippet


def test_long_messages_are_cut_around_the_match_with_ellipses(user, general):
    body = (
        " ".join(f"word{n}" for n in range(60))
        + " needle "
        + " ".join(f"more{n}" for n in range(60))
    )
    post(general, user, body)

    (hit,) = search.search(user=user, text="needle").results
    text = "".join(part for part, _ in hit.snippet)
    assert ("needle", True) in hit.snippet
    assert text.startswith("…") and text.endswith("…")
    assert len(text) < len(body) / 2
