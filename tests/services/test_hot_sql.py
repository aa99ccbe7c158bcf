"""The connect path's hand-written SQL answers exactly what the ORM would (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chat import hot_sql, services
from chat.models import ApiToken, Ban, Message, Mute, Room

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def orm_truth(room: Room, user_id: int, now) -> tuple[bool, bool, bool]:
    return (
        room.members.filter(pk=user_id).exists(),
        room.moderators.filter(pk=user_id).exists(),
        Ban.objects.filter(room=room, user_id=user_id)
        .filter(until__isnull=True)
        .union(Ban.objects.filter(room=room, user_id=user_id, until__gt=now))
        .exists(),
    )


def test_room_flags_match_the_orm_for_every_relation(make_user, make_room):
    now = timezone.now()
    room, elsewhere = make_room("here"), make_room("elsewhere")
    people = {name: make_user(name) for name in ("member", "mod", "banned", "expired", "later")}
    room.members.add(people["member"])
    room.moderators.add(people["mod"])
    elsewhere.members.add(people["banned"])
    Ban.objects.create(room=room, user=people["banned"])
    Ban.objects.create(room=room, user=people["expired"], until=now - timedelta(seconds=1))
    Ban.objects.create(room=room, user=people["later"], until=now + timedelta(minutes=5))
    Ban.objects.create(room=elsewhere, user=people["member"])

    for user in people.values():
        got = hot_sql.room_with_access(slug="here", user_id=user.pk, now=now)
        assert got is not None and got.pk == room.pk and got.slug == "here"
        flags = (got.user_is_member, got.user_moderates, got.user_is_banned)
        assert flags == orm_truth(room, user.pk, now), user.username
        assert all(type(flag) is bool for flag in flags)
    assert [
        name
        for name, user in people.items()
        if hot_sql.room_with_access(slug="here", user_id=user.pk, now=now).user_is_banned
    ] == ["banned", "later"]
    assert hot_sql.room_with_access(slug="nowhere", user_id=1, now=now) is None


def test_room_says_whether_and_until_when_the_user_is_muted(make_user, make_room):
    now = timezone.now()
    room, elsewhere = make_room("here"), make_room("elsewhere")
    later = now + timedelta(minutes=5)
    people = {name: make_user(name) for name in ("free", "muted", "expired", "later", "away")}
    Mute.objects.create(room=room, user=people["muted"])
    Mute.objects.create(room=room, user=people["expired"], until=now - timedelta(seconds=1))
    Mute.objects.create(room=room, user=people["later"], until=later)
    Mute.objects.create(room=elsewhere, user=people["away"])

    got = {
        name: hot_sql.room_with_access(slug="here", user_id=user.pk, now=now)
        for name, user in people.items()
    }
    assert {name: (r.user_is_muted, r.user_mute_until) for name, r in got.items()} == {
        "free": (False, None),
        "muted": (True, None),
        "expired": (False, None),
        "later": (True, later),
        "away": (False, None),
    }


def test_room_comes_back_as_a_full_model_instance(user, make_room):
    made = make_room("full", title="Full room", is_locked=True, slow_mode_seconds=7)
    got = hot_sql.room_with_access(slug="full", user_id=user.pk, now=timezone.now())
    for field in Room._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(made, field.attname), field.name


def test_token_user_refuses_revoked_keys_and_inactive_users(make_user):
    alice, bob = make_user("alice"), make_user("bob", is_active=False)
    alive, revoked, inactive = (
        services.issue_token(user=alice),
        services.issue_token(user=alice),
        services.issue_token(user=bob),
    )
    ApiToken.objects.filter(key_hash=services.hash_token(revoked)).update(revoked_at=timezone.now())

    assert services.user_for_token(alive) == alice
    assert (
        services.user_for_token(alive).chat_token_id
        == ApiToken.objects.get(key_hash=services.hash_token(alive)).pk
    )
    assert services.user_for_token(revoked) is None
    assert services.user_for_token(inactive) is None
    assert services.user_for_token("no-such-key") is None


def test_token_use_is_recorded_at_most_once_a_minute(user):
    key = services.issue_token(user=user)
    token = ApiToken.objects.get(key_hash=services.hash_token(key))
    assert token.last_used_at is None

    services.user_for_token(key)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    services.user_for_token(key)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # within the minute

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    services.user_for_token(key)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - timedelta(minutes=2)


def test_rows_matching_finds_exact_keys_never_their_cross_product(make_user, make_room):
    now = timezone.now()
    one, two = make_room("one"), make_room("two")
    ann, bob = make_user("ann"), make_user("bob")
    Ban.objects.create(room=one, user=ann)
    Ban.objects.create(room=two, user=bob, until=now - timedelta(seconds=1))  # expired

    def banned(keys, at=now):
        rows = hot_sql.rows_matching(Ban, ("room", "user"), keys, in_force_at=at)
        return {(ban.room_id, ban.user_id) for ban in rows}

    assert banned({(one.pk, bob.pk), (two.pk, ann.pk)}) == set()  # the crossed pairs
    assert banned({(one.pk, ann.pk), (two.pk, bob.pk)}) == {(one.pk, ann.pk)}
    assert banned({(two.pk, bob.pk)}, at=now - timedelta(minutes=1)) == {(two.pk, bob.pk)}
    assert banned(set()) == set()
    found = hot_sql.rows_matching(Ban, ("room", "user"), [(one.pk, ann.pk)])
    assert [(ban.room_id, ban.user_id, ban.until) for ban in found] == [(one.pk, ann.pk, None)]


def test_open_sessions_answers_a_crowd_in_order_with_a_fixed_number_of_queries(
    make_user, make_room, django_assert_max_num_queries
):
    from django.contrib.auth.models import AnonymousUser

    from chat.wire.errors import CloseCode, Refusal

    public, private = make_room("public"), make_room("private", is_private=True)
    ann, bob, eve = make_user("ann"), make_user("bob"), make_user("eve")
    private.members.add(ann)
    Ban.objects.create(room=public, user=eve)
    keys = {user.username: services.issue_token(user=user) for user in (ann, bob, eve)}
    revoked = services.issue_token(user=bob)
    ApiToken.objects.filter(key_hash=services.hash_token(revoked)).update(revoked_at=timezone.now())
    Request = services.SessionRequest
    requests = [
        Request("public", None, keys["ann"]),
        Request("private", None, keys["ann"]),
        Request("private", None, keys["bob"]),  # not a member
        Request("public", None, revoked),
        Request("public", None, keys["eve"]),  # banned
        Request("nowhere", None, keys["bob"]),
        Request("public", bob),  # session user
        Request("public", AnonymousUser()),
        Request("public", None, ""),  # an unusable Authorization header
    ]
    services.open_sessions(requests)  # records the tokens' use (one update, once a minute)

    # Tokens, rooms, and the end of eve's ban for her refusal's message.
    with django_assert_max_num_queries(3):
        results = services.open_sessions(requests)

    codes = [r.close_code if isinstance(r, Refusal) else r.user.username for r in results]
    assert codes == [
        "ann",
        "ann",
        CloseCode.FORBIDDEN,
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.FORBIDDEN,
        CloseCode.NO_SUCH_ROOM,
        "bob",
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.NOT_AUTHENTICATED,
    ]
    assert results[0].room.slug == "public" and results[1].room.slug == "private"
    assert results[0].token_id is not None and results[6].token_id is None


def test_batch_access_answers_every_question_of_a_batch_in_one_query(
    make_user, make_room, django_assert_num_queries
):
    now = timezone.now()
    room, elsewhere = make_room("here"), make_room("elsewhere")
    names = ("member", "mod", "banned", "expired", "muted", "muted-later", "plain")
    people = {name: make_user(name) for name in names}
    room.members.add(people["member"])
    room.moderators.add(people["mod"])
    Ban.objects.create(room=room, user=people["banned"])
    Ban.objects.create(room=room, user=people["expired"], until=now - timedelta(seconds=1))
    Ban.objects.create(room=elsewhere, user=people["plain"])
    Mute.objects.create(room=room, user=people["muted"])
    later = now + timedelta(minutes=5)
    Mute.objects.create(room=room, user=people["muted-later"], until=later)
    Mute.objects.create(room=room, user=people["expired"], until=now - timedelta(seconds=1))
    stored = Message.objects.create(
        room=room, author=people["plain"], body="hi", seq=1, client_id="c-1"
    )

    keys = [(room.pk, user.pk, None) for user in people.values()]
    keys += [(room.pk, people["plain"].pk, "c-1"), (elsewhere.pk, people["plain"].pk, "c-1")]
    with django_assert_num_queries(1):
        found = hot_sql.batch_access(keys, now=now)

    by_name = dict(zip(names, found, strict=False))
    assert [n for n, a in by_name.items() if a.banned] == ["banned"]
    assert [n for n, a in by_name.items() if a.muted] == ["muted", "muted-later"]
    assert by_name["muted"].mute_until is None
    assert by_name["muted-later"].mute_until == later
    assert by_name["expired"].mute_until is None
    assert [n for n, a in by_name.items() if a.moderates] == ["mod"]
    assert [n for n, a in by_name.items() if a.member] == ["member"]
    assert [a.stored_id for a in found] == [None] * len(names) + [stored.pk, None]
    assert all(type(a.banned) is bool and type(a.member) is bool for a in found)
    assert hot_sql.batch_access([], now=now) == []


def test_lock_rooms_reads_the_batch_rooms_as_the_orm_would(make_room, django_assert_num_queries):
    rooms = [make_room(slug) for slug in ("c", "a", "b")]
    rooms[1].last_seq, rooms[1].slow_mode_seconds = 7, 5
    rooms[1].save()
    wanted = [rooms[0].pk, rooms[1].pk, 999_999]  # an id of no room is left out
    with django_assert_num_queries(1) as queries:
        got = hot_sql.lock_rooms(wanted)
    assert set(got) == {rooms[0].pk, rooms[1].pk}
    orm = {room.pk: room for room in Room.objects.filter(pk__in=wanted)}
    for pk, room in got.items():
        assert isinstance(room, Room)
        assert {f.attname: getattr(room, f.attname) for f in Room._meta.concrete_fields} == {
            f.attname: getattr(orm[pk], f.attname) for f in Room._meta.concrete_fields
        }
    sql = queries.captured_queries[0]["sql"]
    assert "ORDER BY" in sql
    # PostgreSQL locks the rows until commit; SQLite's IMMEDIATE transaction locks all.
    assert ("FOR UPDATE" in sql) == connection.features.has_select_for_update
