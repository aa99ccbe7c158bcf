"""The HTML pages over HTTP (Django test client): lobby, create room, room, sign-up,
login redirects, CSRF, and the room page's moderator actions."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from chat import services
from chat.conf import REACTIONS
from chat.models import Ban, Message, ModerationAction, Mute, Room
from chat.stores import presence
from tests.helpers.accounts import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_presence():
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


def room_config(response) -> dict:
    match = re.search(
        r'<script id="room-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the room page has no json_script config"
    return json.loads(match.group(1))


# --- lobby ------------------------------------------------------------------------


def test_lobby_lists_public_rooms_with_online_count_and_last_activity(client, room, user):
    services.post_message(room=room, author=user, body="hello")
    async_to_sync(presence.presence().arrive)(
        room_id=room.pk, user_id=user.pk, username="alice", limit=5
    )
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/rooms/lobby/"' in html
    assert 'data-online="1"' in html
    assert "1 online" in html
    room.refresh_from_db()
    assert f'datetime="{room.last_message_at.isoformat()}"' in html
    assert "active <time" in html and ">just now</time>" in html


@pytest.mark.redis
def test_a_lobby_served_by_wsgi_shows_online_counts_every_time_in_redis_mode(
    client, room, user, redis_mode
):
    # Under WSGI (the test client too) each async_to_sync call runs in an event loop
    # of its own; the presence store outlives them. Before, every other request
    # lost its counts ("Event loop is closed", logged).
    async_to_sync(presence.presence().arrive)(
        room_id=room.pk, user_id=user.pk, username="alice", limit=5
    )
    for _ in range(3):
        assert 'data-online="1"' in client.get("/").content.decode()


def test_lobby_says_how_long_ago_in_one_unit():
    from datetime import timedelta

    from django.utils import timezone

    from chat.views.pages import activity

    now = timezone.now()
    assert activity(now - timedelta(seconds=20), now) == "just now"
    assert activity(now - timedelta(minutes=25, seconds=5), now) == "25\xa0minutes ago"
    assert activity(now - timedelta(hours=3, minutes=10), now) == "3\xa0hours ago"
    assert activity(None, now) == ""


def test_lobby_hides_private_rooms_from_outsiders_and_shows_them_to_members(
    client, make_room, user, other_user
):
    secret = make_room("secret", is_private=True)
    secret.members.add(other_user)
    client.force_login(user)
    assert "/rooms/secret/" not in client.get("/").content.decode()
    client.force_login(other_user)
    assert "/rooms/secret/" in client.get("/").content.decode()


def test_lobby_escapes_room_titles(client, make_room):
    make_room("xss", title="<img src=x onerror=alert(1)>")
    html = client.get("/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html


def test_lobby_shows_the_create_form_only_to_signed_in_users(client, user):
    assert 'action="/rooms/"' not in client.get("/").content.decode()
    client.force_login(user)
    assert 'action="/rooms/"' in client.get("/").content.decode()


def test_pages_send_a_csp_without_inline_script(alice_client, room):
    for url in ("/", "/rooms/lobby/", "/accounts/login/", "/accounts/signup/"):
        response = alice_client.get(url, follow=True)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        for tag in re.findall(r"<script\b[^>]*>", response.content.decode()):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert " style=" not in response.content.decode()
        assert not re.search(r"\son[a-z]+=", response.content.decode()), url


# --- create room ------------------------------------------------------------------


def test_create_room_redirects_to_it_and_makes_the_creator_moderator(alice_client, user):
    response = alice_client.post(
        "/rooms/", {"title": "Book club", "slug": "Book-Club", "description": "Novels"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/rooms/book-club/"
    room = Room.objects.get(slug="book-club")
    assert room.title == "Book club"
    assert room.moderators.filter(pk=user.pk).exists()


@pytest.mark.parametrize("slug", ["has space", "ünï", "-edge", "a", "double--hyphen", "x" * 51])
def test_create_room_refuses_a_bad_slug(alice_client, slug):
    response = alice_client.post("/rooms/", {"title": "T", "slug": slug})
    assert response.status_code == 400
    assert 'id="id_slug_error"' in response.content.decode()
    assert not Room.objects.exists()


def test_create_room_with_a_taken_slug_says_so(alice_client, room):
    response = alice_client.post("/rooms/", {"title": "Another", "slug": "lobby"})
    assert response.status_code == 400
    assert "A room with the address “lobby” already exists" in response.content.decode()
    assert Room.objects.count() == 1


def test_create_room_needs_sign_in(client):
    response = client.post("/rooms/", {"title": "T", "slug": "t1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/rooms/")
    assert not Room.objects.exists()


def test_create_room_needs_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/rooms/", {"title": "T", "slug": "t1"})
    assert response.status_code == 403
    assert not Room.objects.exists()


# --- room page --------------------------------------------------------------------


def test_room_needs_sign_in_and_login_returns_there(client, room, user):
    response = client.get("/rooms/lobby/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/rooms/lobby/"
    page = client.get(response["Location"])
    assert 'name="next" value="/rooms/lobby/"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/rooms/lobby/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/rooms/lobby/"
    assert response.cookies["sessionid"]["samesite"] == "Lax"
    assert response.cookies["sessionid"]["httponly"]


def test_room_page_carries_its_config(alice_client, room, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 123
    settings.CHAT_EDIT_WINDOW_SECONDS = 600
    response = alice_client.get("/rooms/lobby/")
    assert response.status_code == 200
    config = room_config(response)
    assert config["user"] == "alice"
    assert config["maxLength"] == 123
    assert config["editWindow"] == 600  # the page offers Edit only within it
    assert config["wsPath"] == "/ws/rooms/lobby/"
    assert config["roomUrl"] == "/rooms/lobby/"
    assert config["isModerator"] is False
    assert config["locked"] is False
    assert config["reactions"] == list(REACTIONS)  # the picker offers the server's set
    assert 'type="module" src="/static/chat/js/room.js"' in response.content.decode()


def test_room_page_knows_a_moderator(alice_client, room, user):
    room.moderators.add(user)
    assert room_config(alice_client.get("/rooms/lobby/"))["isModerator"] is True


def test_unknown_room_is_404(alice_client):
    assert alice_client.get("/rooms/nope/").status_code == 404


def test_private_room_is_403_for_outsiders(alice_client, make_room):
    make_room("secret", is_private=True)
    response = alice_client.get("/rooms/secret/")
    assert response.status_code == 403
    assert "private" in response.content.decode()


def test_archived_room_is_410(alice_client, make_room):
    make_room("old", is_archived=True)
    assert alice_client.get("/rooms/old/").status_code == 410


def test_banned_user_gets_403(alice_client, room, user, other_user):
    services.ban_user(room=room, user=user, by=other_user)
    response = alice_client.get("/rooms/lobby/")
    assert response.status_code == 403
    assert "banned" in response.content.decode()


def test_static_modules_are_served(client):
    for path in (
        "/static/chat/js/room.js",
        "/static/chat/js/socket.js",
        "/static/chat/css/chat.css",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()  # a FileResponse: its file stays open until closed


# --- accounts ---------------------------------------------------------------------


def test_signup_signs_in_and_returns_to_next(client, room):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-unusual-pass",
            "password2": "a-long-unusual-pass",
            "next": "/rooms/lobby/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/rooms/lobby/"
    assert client.get("/rooms/lobby/").status_code == 200
    assert get_user_model().objects.filter(username="carol").exists()


def test_signup_ignores_a_foreign_next(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-unusual-pass",
            "password2": "a-long-unusual-pass",
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_signup_shows_errors(client, user):
    response = client.post(
        "/accounts/signup/",
        {"username": "alice", "password1": "a-long-unusual-pass", "password2": "different-pass"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "already exists" in html
    assert "didn’t match" in html or "didn't match" in html


def test_signup_needs_csrf():
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-unusual-pass",
            "password2": "a-long-unusual-pass",
        },
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="carol").exists()


def test_logout_is_a_post(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert alice_client.get("/rooms/lobby/").status_code == 302


# --- moderator actions --------------------------------------------------------------


@pytest.fixture
def bobs_message(room, other_user):
    return services.post_message(room=room, author=other_user, body="spam").message


def test_delete_needs_a_moderator(alice_client, room, bobs_message):
    response = alice_client.post(f"/rooms/lobby/messages/{bobs_message.pk}/delete")
    assert response.status_code == 403
    assert response.json()["ok"] is False
    bobs_message.refresh_from_db()
    assert bobs_message.deleted_at is None


def test_moderator_deletes_a_message_with_a_reason(alice_client, room, user, bobs_message):
    room.moderators.add(user)
    response = alice_client.post(
        f"/rooms/lobby/messages/{bobs_message.pk}/delete", {"reason": "spam"}
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "id": bobs_message.pk}
    bobs_message.refresh_from_db()
    assert bobs_message.deleted_by == user
    action = ModerationAction.objects.get(kind=ModerationAction.Kind.DELETE)
    assert action.reason == "spam"


def test_the_author_deletes_their_own_through_the_same_url_without_an_audit_entry(
    alice_client, room, user, settings
):
    mine = services.post_message(room=room, author=user, body="oops").message
    response = alice_client.post(f"/rooms/lobby/messages/{mine.pk}/delete")
    assert response.status_code == 200 and response.json() == {"ok": True, "id": mine.pk}
    mine.refresh_from_db()
    assert mine.deleted_by == user
    assert not ModerationAction.objects.exists()
    settings.CHAT_EDIT_WINDOW_SECONDS = 0
    later = services.post_message(room=room, author=user, body="kept").message
    response = alice_client.post(f"/rooms/lobby/messages/{later.pk}/delete")
    assert response.status_code == 400 and "cannot delete" in response.json()["detail"]


def test_delete_of_another_rooms_message_is_404(alice_client, room, user, make_room, other_user):
    room.moderators.add(user)
    elsewhere = make_room("elsewhere")
    message = services.post_message(room=elsewhere, author=other_user, body="hi").message
    response = alice_client.post(f"/rooms/lobby/messages/{message.pk}/delete")
    assert response.status_code == 404
    assert not Message.objects.filter(deleted_at__isnull=False).exists()


def test_moderator_actions_need_post_sign_in_and_csrf(client, room, user, bobs_message):
    url = f"/rooms/lobby/messages/{bobs_message.pk}/delete"
    assert client.post(url).status_code == 401
    room.moderators.add(user)
    client.force_login(user)
    assert client.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(url).status_code == 403
    bobs_message.refresh_from_db()
    assert bobs_message.deleted_at is None


def test_moderator_mutes_for_a_while_and_bans_until_lifted(alice_client, room, user, other_user):
    room.moderators.add(user)
    response = alice_client.post("/rooms/lobby/users/bob/mute", {"minutes": "10", "reason": "calm"})
    assert response.status_code == 200
    mute = Mute.objects.get(room=room, user=other_user)
    assert mute.until is not None and mute.reason == "calm"
    response = alice_client.post("/rooms/lobby/users/bob/ban", {"minutes": ""})
    assert response.status_code == 200
    assert Ban.objects.get(room=room, user=other_user).until is None


def test_sanctions_refuse_self_unknown_users_and_bad_durations(
    alice_client, room, user, other_user
):
    room.moderators.add(user)
    assert alice_client.post("/rooms/lobby/users/alice/ban").status_code == 400
    assert alice_client.post("/rooms/lobby/users/nobody/ban").status_code == 404
    response = alice_client.post("/rooms/lobby/users/bob/mute", {"minutes": "-5"})
    assert response.status_code == 400
    assert not Ban.objects.exists() and not Mute.objects.exists()


def test_sanctions_need_a_moderator(alice_client, room, other_user):
    assert alice_client.post("/rooms/lobby/users/bob/ban").status_code == 403
    assert not Ban.objects.exists()


# --- a host's base template and login page ------------------------------------------


def test_pages_extend_the_configured_base_template(client, room, user, settings):
    # The admin's base_site.html defines the two blocks the chat fills: title and content.
    settings.CHAT_BASE_TEMPLATE = "admin/base_site.html"
    client.force_login(user)

    for url in ("/", "/rooms/lobby/"):
        page = client.get(url).content.decode()
        assert "Django administration" in page, url  # the base's own header
        assert 'class="chat-app' in page, url
        assert "/static/chat/css/chat.css" in page, url
    assert 'id="room-config"' in client.get("/rooms/lobby/").content.decode()


def test_pages_send_strangers_to_the_hosts_login_url(client, room, user, settings):
    settings.LOGIN_URL = "/members/sign-in/"

    response = client.get("/rooms/lobby/")
    assert response["Location"] == "/members/sign-in/?next=/rooms/lobby/"
    assert 'href="/members/sign-in/?next=/"' in client.get("/").content.decode()

    client.force_login(user)
    page = client.get("/rooms/lobby/").content.decode()
    config = json.loads(re.search(r'id="room-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["loginUrl"] == "/members/sign-in/?next=/rooms/lobby/"
