"""Text the database cannot store (NUL, unpaired surrogates) is a 400 on every HTTP path.

On PostgreSQL a NUL in ``POST /api/token``'s username, or in a moderator's mute
URL, was a 500 (with a debug page showing ``REDIS_URL``). ``make test`` runs this
module on PostgreSQL too (``postgres`` marker).
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.helpers.accounts import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def anonymous():
    return Client(raise_request_exception=False)


@pytest.fixture
def moderator(room, user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    room.moderators.add(user)
    return client


def assert_bad_request(response):
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "a\\u0000b", "password": "x"}',
        '{"username": "alice", "password": "x\\u0000"}',
        '{"username": "a\\ud800b", "password": "x"}',
        '{"a\\u0000": 1, "username": "alice", "password": "x"}',
    ],
)
def test_api_token_refuses_invalid_text(anonymous, user, body):
    assert_bad_request(anonymous.post("/api/token", body, content_type="application/json"))


@pytest.mark.parametrize("verb", ["mute", "ban"])
def test_moderation_urls_refuse_a_nul_username(moderator, room, verb):
    assert_bad_request(moderator.post(f"/rooms/{room.slug}/users/a%00b/{verb}", {"minutes": "5"}))


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/login/", {"username": "a\x00b", "password": PASSWORD}),
        ("/admin/login/", {"username": "a\x00b", "password": PASSWORD}),
        ("/accounts/signup/", {"username": "a\x00", "password1": "x", "password2": "x"}),
        ("/accounts/password_reset/", {"email": "a\x00@example.com"}),
    ],
)
def test_forms_refuse_invalid_text(anonymous, user, path, data):
    assert_bad_request(anonymous.post(path, data))


def test_create_room_refuses_invalid_text(moderator):
    assert_bad_request(moderator.post("/rooms/", {"slug": "ok", "title": "a\x00b"}))


@pytest.mark.parametrize(
    "path", ["/?q=%00", "/api/rooms/lobby/messages?limit=%00", "/rooms/a%00b/", "/%00"]
)
def test_urls_and_queries_refuse_a_nul(anonymous, room, path):
    assert_bad_request(anonymous.get(path))


def test_a_nul_in_the_session_cookie_is_refused(anonymous, room):
    anonymous.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert_bad_request(anonymous.get(f"/rooms/{room.slug}/"))


def test_a_nul_in_a_header_is_refused(anonymous, room):
    assert_bad_request(anonymous.get("/", HTTP_X_ANYTHING="a\x00b"))


def test_valid_json_and_forms_still_pass(anonymous, user):
    response = anonymous.post(
        "/api/token",
        json.dumps({"username": "alice", "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 200
