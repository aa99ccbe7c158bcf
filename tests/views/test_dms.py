"""The DM views over HTTP: opening from the page (CSRF) and the API (bearer token),
blocking, the DM room page's access rule and the staff-view audit, the lobby, and
the admin's audit rule."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat import direct, services
from chat.models import ModerationAction, Room

pytestmark = pytest.mark.django_db


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_page_opens_a_dm_by_username_and_answers_its_url(user, other_user):
    response = client_for(user).post(reverse("chat:open_dm"), {"username": "bob"})
    assert response.status_code == 200
    room = Room.objects.get(kind=Room.Kind.DM)
    assert response.json() == {
        "ok": True,
        "slug": room.slug,
        "title": "alice, bob",
        "url": reverse("chat:room", kwargs={"slug": room.slug}),
    }
    again = client_for(other_user).post(reverse("chat:open_dm"), {"username": "alice"})
    assert again.json()["slug"] == room.slug


def test_opening_a_dm_needs_the_csrf_token_and_a_sign_in(user, other_user):
    csrf = client_for(user, enforce_csrf_checks=True)
    assert csrf.post(reverse("chat:open_dm"), {"username": "bob"}).status_code == 403
    assert Client().post(reverse("chat:open_dm"), {"username": "bob"}).status_code == 401
    assert client_for(user).get(reverse("chat:open_dm")).status_code == 405
    assert not Room.objects.exists()


def test_refusals_are_json_and_store_nothing(user, other_user):
    client = client_for(user)
    unknown = client.post(reverse("chat:open_dm"), {"username": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["detail"]
    assert client.post(reverse("chat:open_dm"), {}).status_code == 400
    direct.block_user(by=other_user, user=user)
    blocked = client.post(reverse("chat:open_dm"), {"username": "bob"})
    assert blocked.status_code == 403
    assert blocked.json() == {"ok": False, "detail": "bob does not take direct messages from you"}
    assert not Room.objects.exists()


def test_the_api_opens_a_dm_with_a_bearer_token_and_no_csrf(user, other_user, token):
    url = reverse("chat:api_dms")
    client = Client(enforce_csrf_checks=True)
    response = client.post(url, {"username": "bob"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["slug"] == direct.pair_slug(user, other_user)
    refused = client.post(url, {"username": "bob"}, HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    # A session cookie alone is not enough here (the page has its own, CSRF-checked view).
    assert client_for(user).post(url, {"username": "bob"}).status_code == 401


def test_block_and_unblock_from_the_page(user, other_user):
    client = client_for(user)
    url = reverse("chat:block_user")
    assert client.post(url, {"username": "bob", "blocked": "1"}).json()["blocked"] is True
    assert direct.blocks(blocker=user, blocked=other_user)
    assert client.post(url, {"username": "bob", "blocked": "0"}).json()["blocked"] is False
    assert not direct.blocks(blocker=user, blocked=other_user)
    assert (
        client_for(user, enforce_csrf_checks=True).post(url, {"username": "bob"}).status_code == 403
    )
    assert not direct.blocks(blocker=user, blocked=other_user)


def test_the_dm_page_is_for_its_members_and_shows_the_block_button(user, other_user, make_user):
    dm = direct.open_dm(by=user, users=[other_user])
    url = reverse("chat:room", kwargs={"slug": dm.slug})
    page = client_for(user).get(url)
    assert page.status_code == 200
    assert b'id="dm-block"' in page.content and b'data-user="bob"' in page.content
    assert client_for(make_user("carol")).get(url).status_code == 403
    assert not ModerationAction.objects.exists()


def test_staff_opening_someone_elses_dm_is_recorded(user, other_user, make_user):
    dm = direct.open_dm(by=user, users=[other_user])
    boss = make_user("boss", is_staff=True, is_superuser=True)
    page = client_for(boss).get(reverse("chat:room", kwargs={"slug": dm.slug}))
    assert page.status_code == 200
    assert b'id="dm-block"' not in page.content
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor, action.room) == ("dm_view", boss, dm)


def test_the_lobby_never_lists_dms(user, other_user, make_user, room):
    direct.open_dm(by=user, users=[other_user])
    for who in (user, make_user("boss", is_staff=True, is_superuser=True)):
        listed = client_for(who).get(reverse("chat:lobby")).context["rooms"]
        assert [entry["room"].slug for entry in listed] == ["lobby"]


def test_a_room_cannot_take_a_dms_address(user):
    response = client_for(user).post(
        reverse("chat:create_room"), {"slug": "dm-1-2", "title": "Sneaky"}
    )
    assert response.status_code == 400
    assert not Room.objects.filter(slug="dm-1-2").exists()


def test_the_admin_filters_dms_and_records_staff_opening_one(user, other_user, make_user):
    dm = direct.open_dm(by=user, users=[other_user])
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client = client_for(boss)
    listing = client.get(reverse("admin:chat_room_changelist"), {"kind__exact": "dm"})
    assert listing.status_code == 200 and dm.slug in listing.content.decode()
    page = client.get(reverse("admin:chat_room_change", args=[dm.pk]))
    assert page.status_code == 200
    assert ModerationAction.objects.filter(kind="dm_view", actor=boss, room=dm).count() == 1


def test_the_admin_message_list_leaves_dms_out_and_opening_one_is_recorded(
    user, other_user, make_user, room
):
    dm = direct.open_dm(by=user, users=[other_user])
    secret = services.post_message(room=dm, author=user, body="just between us").message
    services.post_message(room=room, author=user, body="hello all")
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client = client_for(boss)
    listing = client.get(reverse("admin:chat_message_changelist")).content.decode()
    assert "hello all" in listing and "just between us" not in listing
    assert not ModerationAction.objects.exists()
    page = client.get(reverse("admin:chat_message_change", args=[secret.pk]))
    assert page.status_code == 200
    assert ModerationAction.objects.get().kind == "dm_view"


def test_names_between_commas_open_a_group_dm(user, other_user, make_user):
    make_user("carol")
    response = client_for(user).post(reverse("chat:open_dm"), {"username": " bob, carol ,"})
    assert response.status_code == 200
    room = Room.objects.get(slug=response.json()["slug"])
    assert room.title == "alice, bob, carol" and room.members.count() == 3
