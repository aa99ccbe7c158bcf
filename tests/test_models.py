"""Invariants the database itself enforces (run on SQLite and, marked, on PostgreSQL)."""

import pytest
from django.db import IntegrityError, connection, transaction

from chat.models import ApiToken, Ban, Message, Mute, Report

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def message(room, author, seq, client_id=None, body="hi"):
    return Message(room=room, author=author, seq=seq, client_id=client_id, body=body)


def test_two_messages_cannot_share_a_seq_in_one_room(room, user, other_user):
    message(room, user, 1).save()

    with pytest.raises(IntegrityError), transaction.atomic():
        message(room, other_user, 1).save()

    assert Message.objects.filter(room=room).count() == 1


def test_the_same_seq_is_fine_in_another_room(room, make_room, user):
    message(room, user, 1).save()
    message(make_room(), user, 1).save()

    assert Message.objects.filter(seq=1).count() == 2


def test_a_client_id_is_unique_per_author_and_room(room, make_room, user, other_user):
    message(room, user, 1, client_id="c-1").save()

    with pytest.raises(IntegrityError), transaction.atomic():
        message(room, user, 2, client_id="c-1").save()

    # Another author, or another room, may use the same client_id.
    message(room, other_user, 2, client_id="c-1").save()
    message(make_room(), user, 1, client_id="c-1").save()
    assert Message.objects.filter(client_id="c-1").count() == 3


def test_messages_without_client_id_do_not_collide(room, user):
    Message.objects.bulk_create([message(room, user, seq) for seq in (1, 2, 3)])

    assert Message.objects.filter(room=room, client_id__isnull=True).count() == 3


def test_one_ban_and_one_mute_per_user_and_room(room, user):
    Ban.objects.create(room=room, user=user)
    Mute.objects.create(room=room, user=user)

    with pytest.raises(IntegrityError), transaction.atomic():
        Ban.objects.create(room=room, user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Mute.objects.create(room=room, user=user)


def test_a_user_reports_a_message_once(room, user, other_user):
    reported = Message.objects.create(room=room, author=user, seq=1, body="spam")
    Report.objects.create(message=reported, reporter=other_user)

    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.create(message=reported, reporter=other_user)


def test_token_hashes_are_unique(user, other_user):
    ApiToken.objects.create(user=user, key_hash="a" * 64, prefix="aaaaaaaa")

    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(user=other_user, key_hash="a" * 64, prefix="aaaaaaaa")


def test_a_seq_range_of_one_room_is_read_through_the_room_seq_index(room, user):
    Message.objects.bulk_create([message(room, user, seq) for seq in range(1, 201)])
    query = Message.objects.filter(room=room, seq__gt=50, seq__lte=100).order_by("seq")

    plan = query.explain()

    assert list(query.values_list("seq", flat=True)) == list(range(51, 101))
    if connection.vendor == "sqlite":
        # The unique (room, seq) constraint is the index (SQLite names it autoindex).
        assert "SEARCH chat_message USING INDEX" in plan
        assert "(room_id=? AND seq>? AND seq<?)" in plan
