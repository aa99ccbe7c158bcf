"""The JSON API: ``POST /api/token`` and ``GET /api/rooms/<slug>/messages``."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chat import services, signin
from chat.models import ApiToken, Ban
from chat.stores import history_cache
from tests.helpers.accounts import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/token"


@pytest.fixture(autouse=True)
def fresh_state():
    # Room caches live in process memory; they may not leak from one test into the
    # next (room pks repeat after a rollback). The sign-in windows: tests/conftest.py.
    history_cache.reset()
    yield
    history_cache.reset()


@pytest.fixture
def client():
    # enforce_csrf_checks: the API must work without a CSRF token, like a real client.
    return Client(enforce_csrf_checks=True)


def post_token(client, body, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(TOKEN_URL, data=data, content_type="application/json", **extra)


# --- POST /api/token -----------------------------------------------------------


def test_token_for_right_password_authenticates_the_user(client, user):
    response = post_token(client, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    key = response.json()["token"]
    assert services.user_for_token(key) == user
    assert ApiToken.objects.get(user=user).key_hash == services.hash_token(key)
    assert response["Cache-Control"].startswith("max-age=0")


def test_wrong_password_is_401_with_a_json_error(client, user):
    response = post_token(client, {"username": "alice", "password": "nope"})

    assert response.status_code == 401
    assert response.json() == {"error": "not_authenticated", "detail": "wrong username or password"}
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        {"username": "alice"},
        {"username": 1, "password": PASSWORD},
        {"username": "", "password": PASSWORD},
        "",
    ],
)
def test_malformed_requests_are_400(client, user, body):
    response = post_token(client, body)

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["detail"]


def test_token_needs_post(client):
    assert client.get(TOKEN_URL).status_code == 405


def test_inactive_user_gets_no_token(client, make_user):
    make_user("carol", is_active=False)

    assert post_token(client, {"username": "carol", "password": PASSWORD}).status_code == 401


def test_a_throttled_attempt_is_429_with_retry_after(client, user, monkeypatch):
    # The policy itself is tested in tests/test_signin.py; here the API's answer.
    monkeypatch.setattr(signin, "PAIR_LIMIT", 2)
    for attempt in range(2):
        assert (
            post_token(client, {"username": "alice", "password": f"g{attempt}"}).status_code == 401
        )

    blocked = post_token(client, {"username": "ALICE", "password": PASSWORD})

    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= signin.PERIOD
    assert blocked.json()["error"] == "rate_limited"
    assert "try again in" in blocked.json()["detail"]
    assert not ApiToken.objects.exists()


# --- GET /api/rooms/<slug>/messages ----------------------------------------------
# The history functions read through channels' database_sync_to_async, which closes
# the connection of a rolled-back test transaction: these tests commit.
history_test = pytest.mark.django_db(transaction=True)


def messages_url(slug="lobby", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/rooms/{slug}/messages" + (f"?{query}" if query else "")


@pytest.fixture
def posted(room, user):
    """Five messages in ``lobby``; the third is deleted."""
    messages = [
        services.post_message(room=room, author=user, body=f"m{n}", client_id=f"c{n}")
        for n in range(1, 6)
    ]
    services.delete_message(message=room.messages.get(seq=3), by=user, reason="test")
    return messages


def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {services.issue_token(user=user)}"}


@history_test
def test_history_page_with_a_token(client, user, posted):
    response = client.get(messages_url(limit=3), **bearer(user))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    page = response.json()
    assert [m["seq"] for m in page["messages"]] == [3, 4, 5]
    assert page["messages"][0] == {"id": page["messages"][0]["id"], "seq": 3, "deleted": True}
    assert page["messages"][2]["body"] == "m5" and page["messages"][2]["user"] == "alice"
    assert page["messages"][2]["room"] == "lobby" and page["messages"][2]["client_id"] == "c5"
    assert page["has_more"] is True


@history_test
def test_history_pages_backwards_with_before_seq(client, user, posted):
    page = client.get(messages_url(before_seq=3, limit=5), **bearer(user)).json()

    assert [m["body"] for m in page["messages"]] == ["m1", "m2"]
    assert page["has_more"] is False


@history_test
def test_history_with_a_session(client, user, posted):
    client.force_login(user)

    page = client.get(messages_url()).json()

    assert [m["seq"] for m in page["messages"]] == [1, 2, 3, 4, 5]
    assert page["has_more"] is False


@history_test
def test_history_of_an_empty_room(client, user, room):
    assert client.get(messages_url(), **bearer(user)).json() == {"messages": [], "has_more": False}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "x"},
        {"before_seq": "-1"},
        {"before_seq": "1.5"},
        {"limit": "１"},
    ],
)
def test_bad_page_parameters_are_400(client, user, room, params):
    response = client.get(messages_url(**params), **bearer(user))

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


@history_test
def test_page_limit_follows_the_setting(client, user, room, settings):
    settings.CHAT_HISTORY_PAGE_MAX = 10

    assert client.get(messages_url(limit=11), **bearer(user)).status_code == 400
    assert "1 to 10" in client.get(messages_url(limit=11), **bearer(user)).json()["detail"]
    assert client.get(messages_url(limit=10), **bearer(user)).status_code == 200


def test_anonymous_is_401(client, room):
    response = client.get(messages_url())

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_or_unknown_token_is_401(client, user, room):
    key = services.issue_token(user=user)
    services.revoke_tokens(tokens=ApiToken.objects.filter(user=user))

    for header in (f"Bearer {key}", "Bearer not-a-token", "Basic abc"):
        response = client.get(messages_url(), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response.json() == {
            "error": "not_authenticated",
            "detail": "invalid or revoked token",
        }


def test_refusals_map_to_http_statuses(client, user, other_user, make_room):
    make_room("secret", is_private=True)
    make_room("old", is_archived=True)
    banned = make_room("banned")
    Ban.objects.create(room=banned, user=user, created_by=other_user)
    auth = bearer(user)

    assert client.get(messages_url("secret"), **auth).status_code == 403
    assert client.get(messages_url("nowhere"), **auth).status_code == 404
    archived = client.get(messages_url("old"), **auth)
    assert archived.status_code == 410 and archived.json()["error"] == "archived"
    response = client.get(messages_url("banned"), **auth)
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "detail": "you are banned from this room"}


def test_history_needs_get(user, room):
    assert Client().post(messages_url(), **bearer(user)).status_code == 405
