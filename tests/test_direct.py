"""chat.direct: opening DMs (one-to-one and group), blocks, and the staff-view audit.

Every refusal stores nothing: no room, no membership.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from chat import direct, selectors, services, sidebar
from chat.models import ModerationAction, Room
from chat.wire.errors import ChatError

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(make_user):
    return make_user("carol")


def test_a_one_to_one_dm_is_a_private_room_of_the_two(user, other_user):
    room = direct.open_dm(by=user, users=[other_user])
    assert room.kind == Room.Kind.DM and room.is_private
    assert set(room.members.all()) == {user, other_user}
    assert not room.moderators.exists()
    assert room.title == "alice, bob"


def test_opening_twice_either_way_round_finds_the_same_room_with_a_stable_slug(user, other_user):
    first = direct.open_dm(by=user, users=[other_user])
    again = direct.open_dm(by=other_user, users=[user])
    assert first.pk == again.pk
    low, high = sorted((user.pk, other_user.pk))
    assert first.slug == f"dm-{low}-{high}" == direct.pair_slug(other_user, user)
    assert Room.objects.filter(kind=Room.Kind.DM).count() == 1


def test_someone_who_left_is_a_member_again_when_the_dm_is_reopened(user, other_user):
    room = direct.open_dm(by=user, users=[other_user])
    room.members.remove(other_user)
    direct.open_dm(by=user, users=[other_user])
    assert room.members.filter(pk=other_user.pk).exists()


def test_a_group_dm_is_found_again_by_its_exact_members(user, other_user, carol, make_user):
    group = direct.open_dm(by=user, users=[other_user, carol])
    assert group.slug.startswith("dm-g-")
    assert direct.open_dm(by=carol, users=[user, other_user]).pk == group.pk
    bigger = direct.open_dm(by=user, users=[other_user, carol, make_user("dave")])
    assert bigger.pk != group.pk
    assert direct.open_dm(by=user, users=[other_user]).pk not in (group.pk, bigger.pk)


def test_someone_who_left_a_group_dm_is_a_member_again_when_it_is_reopened(user, other_user, carol):
    group = direct.open_dm(by=user, users=[other_user, carol])
    group.members.remove(carol)
    assert direct.open_dm(by=user, users=[carol, other_user]).pk == group.pk
    assert group.members.filter(pk=carol.pk).exists()


def test_an_archived_group_dm_gives_way_and_comes_back_without_its_key(user, other_user, carol):
    group = direct.open_dm(by=user, users=[other_user, carol])
    services.set_room_state(room=group, by=user, is_archived=True)
    newer = direct.open_dm(by=user, users=[other_user, carol])
    assert newer.pk != group.pk
    services.set_room_state(room=group, by=user, is_archived=False)  # no IntegrityError
    group.refresh_from_db()
    assert group.dm_key is None and not group.is_archived
    assert direct.open_dm(by=carol, users=[user, other_user]).pk == newer.pk


@override_settings(CHAT_DM_MAX_MEMBERS=3)
def test_more_people_than_chat_dm_max_members_is_refused_and_stores_nothing(user, make_user):
    others = [make_user(f"u{i}") for i in range(3)]
    with pytest.raises(ChatError) as refused:
        direct.open_dm(by=user, users=others)
    assert refused.value.code == "bad_request"
    assert "at most 3 people" in refused.value.detail
    assert not Room.objects.exists()
    assert direct.open_dm(by=user, users=others[:2]).members.count() == 3


def test_inactive_users_and_yourself_alone_are_refused(user, other_user):
    other_user.is_active = False
    other_user.save()
    with pytest.raises(ChatError) as refused:
        direct.open_dm(by=user, users=[other_user])
    assert refused.value.code == "not_found"
    with pytest.raises(ChatError) as refused:
        direct.open_dm(by=user, users=[user])
    assert refused.value.code == "bad_request"
    assert not Room.objects.exists()


def test_a_user_who_blocked_you_gets_no_new_dm_from_you(user, other_user, carol):
    assert direct.block_user(by=other_user, user=user) is True
    assert direct.block_user(by=other_user, user=user) is False
    for people in ([other_user], [other_user, carol]):
        with pytest.raises(ChatError) as refused:
            direct.open_dm(by=user, users=people)
        assert refused.value.code == "forbidden"
        assert "bob does not take direct messages from you" in refused.value.detail
    assert not Room.objects.exists()
    # The blocker can still write to the person they blocked; unblocking lifts it.
    assert direct.open_dm(by=other_user, users=[user]).kind == Room.Kind.DM
    assert direct.unblock_user(by=other_user, user=user) is True
    assert direct.unblock_user(by=other_user, user=user) is False
    assert direct.open_dm(by=user, users=[other_user])


def test_blocking_yourself_is_refused(user):
    with pytest.raises(ChatError):
        direct.block_user(by=user, user=user)


def test_a_dms_messages_are_a_rooms_messages(user, other_user):
    room = direct.open_dm(by=user, users=[other_user])
    posted = services.post_message(room=room, author=user, body="hi bob")
    assert posted.message.seq == 1
    assert selectors.room_for_user(slug=room.slug, user=other_user).pk == room.pk


def test_dms_are_never_in_the_lobby_but_in_their_members_sidebars(user, other_user, carol):
    room = direct.open_dm(by=user, users=[other_user])
    assert room not in selectors.lobby_rooms(user=user)
    assert [r.slug for r in sidebar.sidebar_rooms(other_user)] == [room.slug]
    assert sidebar.sidebar_rooms(carol) == []


def test_staff_who_read_every_room_do_not_search_or_list_others_dms(user, other_user, make_user):
    room = direct.open_dm(by=user, users=[other_user])
    boss = make_user("boss", is_staff=True, is_superuser=True)
    assert room not in selectors.lobby_rooms(user=boss)
    assert room not in selectors.readable_rooms(user=boss)
    assert room in selectors.readable_rooms(user=user)
    # They can still open it (moderated), and that is recorded below.
    assert selectors.room_for_user(slug=room.slug, user=boss).pk == room.pk


def test_record_view_audits_staff_who_are_not_members_only(user, other_user, make_user, room):
    dm = direct.open_dm(by=user, users=[other_user])
    boss = make_user("boss", is_staff=True, is_superuser=True)
    assert direct.record_view(room=dm, by=user) is False
    assert direct.record_view(room=room, by=boss) is False
    assert direct.record_view(room=dm, by=boss) is True
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor, action.room) == ("dm_view", boss, dm)


def test_page_context_names_the_other_person_and_the_block(user, other_user, carol):
    dm = direct.open_dm(by=user, users=[other_user])
    assert direct.page_context(room=dm, user=user) == {"other": "bob", "blocked": False}
    direct.block_user(by=user, user=other_user)
    assert direct.page_context(room=dm, user=user) == {"other": "bob", "blocked": True}
    group = direct.open_dm(by=user, users=[other_user, carol])
    assert direct.page_context(room=group, user=user) is None


def test_the_others_sidebars_are_told_once_when_they_join_a_dm(
    user, other_user, carol, monkeypatch
):
    told = []
    monkeypatch.setattr(
        "chat.direct.publish_on_commit",
        lambda *outs: told.extend((o.event["user"], o.event["kind"], o.event["seq"]) for o in outs),
    )
    room = direct.open_dm(by=user, users=[other_user])
    assert told == [(other_user.pk, "read", 0)]
    direct.open_dm(by=other_user, users=[user])
    assert told == [(other_user.pk, "read", 0)]
    direct.open_dm(by=user, users=[other_user, carol])
    assert sorted(told[1:]) == sorted([(other_user.pk, "read", 0), (carol.pk, "read", 0)])
    assert len(told) == 3 and room.kind == "dm"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_group_dm_opened_by_its_people_at_once_is_one_room(make_user):
    """Every member opens the same group DMs at the same moment, on their own connections."""
    from itertools import combinations

    from tests.helpers.threads import in_threads

    people = [make_user(f"person{n}") for n in range(5)]
    groups = list(combinations(people, 3))
    opened: dict[int, set[int]] = {k: set() for k in range(len(groups))}

    def open_all(n: int) -> None:
        for k, group in enumerate(groups):
            by = group[n % 3]
            room = direct.open_dm(by=by, users=[u for u in group if u != by])
            opened[k].add(room.pk)

    assert in_threads(6, open_all) == []
    assert all(len(pks) == 1 for pks in opened.values()), opened
    assert Room.objects.filter(kind=Room.Kind.DM).count() == len(groups)
    for k, group in enumerate(groups):
        room = Room.objects.get(pk=next(iter(opened[k])))
        assert set(room.members.all()) == set(group)


@pytest.mark.django_db(transaction=True)
def test_the_migration_keys_open_group_dms_and_the_older_of_two_keeps_the_key(
    user, other_user, carol
):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("chat", "0007_token_check_indexes")], [("chat", "0008_group_dm_key")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("chat", "Room")
        rooms = [
            old.objects.create(slug=f"dm-g-{n}", kind="dm", is_private=True, title="x")
            for n in range(2)  # the same three people twice: the race before the key
        ]
        for room in rooms:
            room.members.add(user.pk, other_user.pk, carol.pk)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    keys = dict(Room.objects.filter(slug__startswith="dm-g-").values_list("slug", "dm_key"))
    assert keys == {"dm-g-0": direct.group_key([user, other_user, carol]), "dm-g-1": None}
    assert direct.open_dm(by=carol, users=[user, other_user]).slug == "dm-g-0"
