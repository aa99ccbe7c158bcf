"""The Invite admin: staff list every invite link and revoke them through
``chat.membership`` (audited); nobody adds or deletes one there."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from chat import membership, services
from chat.models import Invite, ModerationAction

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/invite/"


@pytest.fixture
def invite(user):
    room = services.create_room(slug="secret", title="Secret", by=user, is_private=True)
    return membership.create_invite(room=room, by=user, max_uses=None)


def test_staff_see_the_links_and_revoke_them(client, staff_user, invite):
    client.force_login(staff_user)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "secret" in html and "0 / ∞" in html and ">open<" in html
    detail = client.get(reverse("admin:chat_invite_change", args=[invite.pk])).content.decode()
    assert reverse("chat:invite", args=[membership.invite_token(invite)]) in detail
    response = client.post(
        CHANGELIST, {"action": "revoke", ACTION_CHECKBOX_NAME: [invite.pk]}, follow=True
    )
    assert "1 invite link(s) revoked." in response.content.decode()
    invite.refresh_from_db()
    assert invite.revoked_at is not None and invite.revoked_by == staff_user
    assert ModerationAction.objects.filter(kind="uninvite", actor=staff_user).exists()


def test_no_add_or_delete_in_the_admin(client, staff_user, invite):
    client.force_login(staff_user)
    assert client.get(reverse("admin:chat_invite_add")).status_code == 403
    assert client.get(reverse("admin:chat_invite_delete", args=[invite.pk])).status_code == 403
    assert Invite.objects.count() == 1


def test_staff_who_may_not_manage_rooms_cannot_revoke(client, make_user, invite):
    clerk = make_user("clerk", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["view_invite", "change_invite"])
    )
    client.force_login(clerk)
    response = client.post(
        CHANGELIST, {"action": "revoke", ACTION_CHECKBOX_NAME: [invite.pk]}, follow=True
    )
    assert "only moderators of this room" in response.content.decode()
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_regular_users_are_sent_to_the_admin_login(client, user, invite):
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response.url
