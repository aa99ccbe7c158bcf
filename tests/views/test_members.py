"""The members views over HTTP: the permission table of docs/moderation.md cell by
cell, CSRF, the invite page (signed in or not; expired, revoked, used-up and forged
links) and the JSON the room page's members panel reads.

Each refused cell also checks that nothing changed: members, moderators, invite
links and the audit trail are the same before and after.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat import membership, services
from chat.models import Invite, ModerationAction

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "outsider", "member", "moderator", "staff"]


@pytest.fixture
def world(make_user, user):
    """``secret``: private, moderated by alice (its creator), with members bob and carol;
    dave is signed in but not a member; erin is staff with the chat permissions."""
    room = services.create_room(slug="secret", title="Secret", by=user, is_private=True)
    bob, carol = make_user("bob"), make_user("carol")
    room.members.add(bob, carol)
    erin = make_user("erin", is_staff=True)
    erin.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="chat",
            codename__in=["view_message", "change_message", "change_room"],
        )
    )
    actors = {
        "anonymous": None,
        "outsider": make_user("dave"),
        "member": bob,
        "moderator": user,
        "staff": erin,
    }
    invite = membership.create_invite(room=room, by=user, max_uses=None)
    return room, actors, invite


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def state(room) -> tuple:
    return (
        set(room.members.values_list("username", flat=True)),
        set(room.moderators.values_list("username", flat=True)),
        list(Invite.objects.order_by("id").values_list("id", "revoked_at", "uses")),
        ModerationAction.objects.count(),
    )


def do(action: str, client: Client, room, invite):
    base = f"/rooms/{room.slug}/"
    if action == "view private room":
        return client.get(base)
    if action == "invite by name":
        return client.post(base + "members/add", {"username": "frank"})
    if action == "create link":
        return client.post(base + "invites", {"expires": "3600", "uses": "1"})
    if action == "revoke link":
        return client.post(f"{base}invites/{invite.pk}/revoke")
    if action == "accept link":
        return client.post(reverse("chat:invite", args=[membership.invite_token(invite)]))
    if action == "remove member":
        return client.post(base + "members/carol/remove")
    if action == "make moderator":
        return client.post(base + "members/carol/moderator")
    if action == "leave":
        return client.post(base + "leave")
    raise AssertionError(action)


# (status, whether something is stored) per actor, in ACTORS order. docs/moderation.md
# has the same table in words; 302 to the login page for pages, 401 JSON for actions.
LOGIN, ROOM = "login", "room"
TABLE = {
    "view private room": [(LOGIN, False), (403, False), (200, False), (200, False), (200, False)],
    "invite by name": [(401, False), (403, False), (403, False), (200, True), (200, True)],
    "create link": [(401, False), (403, False), (403, False), (200, True), (200, True)],
    "revoke link": [(401, False), (403, False), (403, False), (200, True), (200, True)],
    # Anyone signed in who holds the link; a member just lands in the room.
    "accept link": [(LOGIN, False), (ROOM, True), (ROOM, False), (ROOM, False), (ROOM, True)],
    "remove member": [(401, False), (403, False), (403, False), (200, True), (200, True)],
    "make moderator": [(401, False), (403, False), (403, False), (200, True), (200, True)],
    # The moderator here is the room's only one, with members left: refused. Staff
    # who are not members have nothing to leave (200, nothing stored).
    "leave": [(401, False), (403, False), (200, True), (403, False), (200, False)],
}
CELLS = [
    pytest.param(action, actor, *TABLE[action][index], id=f"{action}-{actor}")
    for action in TABLE
    for index, actor in enumerate(ACTORS)
]


@pytest.mark.parametrize(("action", "actor", "expected", "stores"), CELLS)
def test_permission_table(action, actor, expected, stores, world, make_user):
    room, actors, invite = world
    make_user("frank")
    before = state(room)
    response = do(action, client_for(actors[actor]), room, invite)
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/") or "login" in response.url
        assert "next=" in response.url
    elif expected == ROOM:
        assert response.status_code == 302 and response.url == f"/rooms/{room.slug}/"
    else:
        assert response.status_code == expected, response.content[:300]
    assert (state(room) != before) is stores


def test_the_table_in_the_docs_has_every_cell():
    """docs/moderation.md lists the same actions and actors as TABLE."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "moderation.md").read_text()
    for action in TABLE:
        assert f"| {action} |" in doc, action


def test_every_change_needs_the_csrf_token(world):
    room, actors, _ = world
    client = Client(enforce_csrf_checks=True)
    client.force_login(actors["moderator"])
    before = state(room)
    assert client.post(f"/rooms/{room.slug}/members/add", {"username": "bob"}).status_code == 403
    assert client.post(f"/rooms/{room.slug}/members/bob/remove").status_code == 403
    assert client.post(f"/rooms/{room.slug}/leave").status_code == 403
    assert state(room) == before


def test_inviting_an_unknown_name_says_so(world):
    room, actors, _ = world
    before = state(room)
    response = client_for(actors["moderator"]).post(
        f"/rooms/{room.slug}/members/add", {"username": "nobody"}
    )
    assert response.status_code == 404
    assert response.json() == {"ok": False, "detail": "there is no user called “nobody”"}
    assert state(room) == before


def test_an_outsider_learns_nothing_about_names(world):
    room, actors, _ = world
    response = client_for(actors["member"]).post(
        f"/rooms/{room.slug}/members/add", {"username": "nobody"}
    )
    assert response.status_code == 403
    assert "only moderators" in response.json()["detail"]


def test_bad_invite_settings_are_a_400(world):
    room, actors, _ = world
    before = state(room)
    response = client_for(actors["moderator"]).post(
        f"/rooms/{room.slug}/invites", {"expires": "99", "uses": "1"}
    )
    assert response.status_code == 400
    assert state(room) == before


def test_a_new_link_comes_back_absolute_and_works(world, make_user):
    room, actors, _ = world
    response = client_for(actors["moderator"]).post(
        f"/rooms/{room.slug}/invites", {"expires": "86400", "uses": "any"}
    )
    invite = response.json()["invite"]
    assert invite["url"].startswith("http://testserver/invites/")
    assert invite["maxUses"] is None and invite["uses"] == 0
    stored = Invite.objects.get(pk=invite["id"])
    assert timedelta(hours=23) < stored.expires_at - timezone.now() <= timedelta(days=1)
    frank = client_for(make_user("frank"))
    path = invite["url"].removeprefix("http://testserver")
    page = frank.get(path)
    assert page.status_code == 200
    assert "Join the room" in page.content.decode()
    assert frank.post(path).url == f"/rooms/{room.slug}/"
    assert frank.get(f"/rooms/{room.slug}/").status_code == 200


def test_members_json_lists_members_and_shows_links_only_to_moderators(world):
    room, actors, invite = world
    as_moderator = client_for(actors["moderator"]).get(f"/rooms/{room.slug}/members").json()
    assert as_moderator["canManage"] is True
    assert as_moderator["members"] == [
        {"username": "alice", "moderator": True},
        {"username": "bob", "moderator": False},
        {"username": "carol", "moderator": False},
    ]
    assert [i["id"] for i in as_moderator["invites"]] == [invite.pk]
    as_member = client_for(actors["member"]).get(f"/rooms/{room.slug}/members").json()
    assert as_member["canManage"] is False and as_member["invites"] == []
    assert client_for(actors["outsider"]).get(f"/rooms/{room.slug}/members").status_code == 403
    assert client_for(None).get(f"/rooms/{room.slug}/members").status_code == 401


def test_the_invite_page_sends_signed_out_visitors_to_log_in_and_back(world):
    _, _, invite = world
    path = reverse("chat:invite", args=[membership.invite_token(invite)])
    response = Client().get(path)
    assert response.status_code == 302
    assert "next=" + path.replace(":", "%3A") in response.url


@pytest.mark.parametrize(
    ("how", "status", "text"),
    [
        ("expired", 403, "This invite link has expired."),
        ("revoked", 403, "This invite link was revoked."),
        ("used up", 403, "This invite link has been used up."),
        ("forged", 404, "This invite link is not valid."),
    ],
)
def test_an_ended_or_forged_link_gets_a_clear_page_and_stores_nothing(
    how, status, text, world, make_user
):
    room, actors, _ = world
    invite = membership.create_invite(room=room, by=actors["moderator"], max_uses=1)
    if how == "expired":
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(1))
    elif how == "revoked":
        membership.revoke_invite(invite=invite, by=actors["moderator"])
    elif how == "used up":
        Invite.objects.filter(pk=invite.pk).update(uses=1)
    token = membership.invite_token(invite)
    if how == "forged":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    frank = client_for(make_user("frank"))
    before = state(room)
    for response in (frank.get(f"/invites/{token}/"), frank.post(f"/invites/{token}/")):
        assert response.status_code == status
        html = response.content.decode()
        assert text in html and "This invite link does not work" in html
    assert state(room) == before


def test_a_banned_user_is_refused_at_the_invite_page(world, make_user):
    room, actors, invite = world
    frank = make_user("frank")
    services.ban_user(room=room, user=frank, by=actors["moderator"])
    before = state(room)
    response = client_for(frank).post(f"/invites/{membership.invite_token(invite)}/")
    assert response.status_code == 403
    assert "banned" in response.content.decode()
    assert state(room) == before


def test_the_room_page_offers_the_members_panel_in_private_rooms_only(world, make_room):
    room, actors, _ = world
    html = client_for(actors["member"]).get(f"/rooms/{room.slug}/").content.decode()
    assert 'id="members-open"' in html and 'id="members-dialog"' in html
    public = services.create_room(slug="open", title="Open", by=actors["moderator"])
    html = client_for(actors["member"]).get(f"/rooms/{public.slug}/").content.decode()
    assert 'id="members-open"' not in html


def test_the_create_room_form_no_longer_sends_people_to_the_admin(client, user):
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "only people you invite can enter" in html
    assert "add in the admin" not in html


def test_the_history_api_follows_membership(world, make_user):
    """Joining by link opens the HTTP API to the room; removal closes it again."""
    room, actors, invite = world
    frank = make_user("frank")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {services.issue_token(user=frank)}")
    url = f"/api/rooms/{room.slug}/messages"
    assert api.get(url).status_code == 403
    client_for(frank).post(f"/invites/{membership.invite_token(invite)}/")
    assert api.get(url).status_code == 200
    client_for(actors["moderator"]).post(f"/rooms/{room.slug}/members/frank/remove")
    assert api.get(url).status_code == 403


def test_a_single_use_link_is_not_used_twice_even_from_a_stale_read(world, make_user, monkeypatch):
    """The use is counted by a conditional update: a second person with the same
    single-use link gets "used up" even if they read the invite before the first
    joined (as without a row lock)."""
    room, actors, _ = world
    invite = membership.create_invite(room=room, by=actors["moderator"], max_uses=1)
    token = membership.invite_token(invite)
    frank, gina = make_user("frank"), make_user("gina")
    membership.accept_invite(token=token, user=frank)
    stale = Invite.objects.get(pk=invite.pk)
    stale.uses = 0  # what a concurrent reader saw before frank's commit

    class StaleManager:
        def select_related(self, *args):
            return self

        def get(self, **kwargs):
            return stale

    monkeypatch.setattr(Invite.objects, "select_for_update", StaleManager)
    with pytest.raises(membership.ChatError, match="used up"):
        membership.accept_invite(token=token, user=gina)
    assert not room.members.filter(pk=gina.pk).exists()
    assert Invite.objects.get(pk=invite.pk).uses == 1
