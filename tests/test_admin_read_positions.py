"""Read positions in the admin: listed for moderators, never editable."""

import pytest
from django.urls import reverse

from chat.models import ReadPosition

pytestmark = pytest.mark.django_db


def test_read_positions_are_listed_and_read_only(client, staff_user, user, room):
    staff_user.is_superuser = True  # every permission: still no add, change or delete
    staff_user.save()
    client.force_login(staff_user)
    position = ReadPosition.objects.create(user=user, room=room, seq=3)
    listing = client.get(reverse("admin:chat_readposition_changelist"))
    assert listing.status_code == 200
    assert b"alice" in listing.content and b"lobby" in listing.content
    page = client.get(reverse("admin:chat_readposition_change", args=[position.pk]))
    assert page.status_code == 200 and b'name="seq"' not in page.content
    assert client.get(reverse("admin:chat_readposition_add")).status_code == 403
    client.post(reverse("admin:chat_readposition_change", args=[position.pk]), {"seq": 0})
    assert ReadPosition.objects.get(pk=position.pk).seq == 3
