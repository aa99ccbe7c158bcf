"""``chat.unread``: saving coalesced positions never lowers one; first opens make one."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from chat import unread
from chat.models import ReadPosition

pytestmark = pytest.mark.django_db(transaction=True)


def test_save_raises_creates_and_never_lowers(user, other_user, room):
    ReadPosition.objects.create(user=user, room=room, seq=5)
    changed = unread.save_read_positions(
        [(user.pk, room.pk, 3), (user.pk, room.pk, 8), (other_user.pk, room.pk, 2)]
    )
    assert changed == 2
    assert ReadPosition.objects.get(user=user, room=room).seq == 8
    assert ReadPosition.objects.get(user=other_user, room=room).seq == 2
    assert unread.save_read_positions([(user.pk, room.pk, 4)]) == 0
    assert ReadPosition.objects.get(user=user, room=room).seq == 8


def test_concurrent_tabs_saving_end_at_the_highest(user, room):
    # Several tabs (processes) saving at once, in any order: the highest wins.
    ReadPosition.objects.create(user=user, room=room, seq=0)
    seqs = [7, 3, 12, 9, 1, 12, 4]
    errors = []

    def save(seq: int) -> None:
        try:
            unread.save_read_positions([(user.pk, room.pk, seq)])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(seq,)) for seq in seqs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert ReadPosition.objects.get(user=user, room=room).seq == 12


def test_first_open_makes_the_position_at_the_newest_and_later_opens_keep_it(
    user, other_user, room
):
    ReadPosition.objects.create(user=other_user, room=room, seq=2)
    found = unread.open_read_positions([(user.pk, room.pk, 9), (other_user.pk, room.pk, 9)])
    assert found == {(user.pk, room.pk): 9, (other_user.pk, room.pk): 2}
    assert unread.open_read_positions([(user.pk, room.pk, 15)]) == {(user.pk, room.pk): 9}
    assert ReadPosition.objects.filter(room=room).count() == 2


def test_a_big_flush_takes_a_few_statements_not_one_per_row(
    user, make_user, make_room, django_assert_max_num_queries
):
    rooms = [make_room() for _ in range(3)]
    users = [user, *(make_user() for _ in range(99))]
    positions = [(u.pk, r.pk, 1) for u in users for r in rooms]  # 300: two chunks
    with django_assert_max_num_queries(8):
        assert unread.save_read_positions(positions) == 300
    with django_assert_max_num_queries(8):
        assert unread.save_read_positions([(u, r, s + 4) for u, r, s in positions]) == 300
    assert set(ReadPosition.objects.values_list("seq", flat=True)) == {5}
    # Never lowered, even in a big batch.
    unread.save_read_positions([(u, r, 2) for u, r, _ in positions])
    assert set(ReadPosition.objects.values_list("seq", flat=True)) == {5}
