"""Search over HTTP: ``GET /api/search`` (session or token) and the search page.

Every path answers from ``chat.search``; these tests check what each path adds:
authentication, the 400s with codes, and that no private room of someone else shows
(in results, in the room filter's choices, in the error for its slug).
"""

from __future__ import annotations

import pytest
from django.test import Client

from chat import services
from chat.models import Ban

pytestmark = pytest.mark.django_db

API = "/api/search"
PAGE = "/search/"


def post(room, author, body):
    return services.post_message(room=room, author=author, body=body).message


@pytest.fixture
def rooms(make_room, user, other_user):
    """Public ``general``; private ``hideout`` of bob only; ``banned-from`` (alice banned)."""
    general = make_room("general", title="General")
    hideout = make_room("hideout", title="Hideout", is_private=True)
    hideout.members.add(other_user)
    banned_from = make_room("banned-from", title="Banned From")
    Ban.objects.create(room=banned_from, user=user)
    post(general, other_user, "the deploy is at <b>noon</b>")
    post(hideout, other_user, "secret deploy in the hideout")
    post(banned_from, other_user, "deploy where alice is banned")
    return general, hideout, banned_from


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- GET /api/search -------------------------------------------------------------


def test_api_results_with_segments_and_a_link_back(rooms, user):
    response = signed_in(user).get(API, {"q": "deploy"})

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    (result,) = response.json()["results"]
    assert result["room"] == "general"
    assert result["user"] == "bob"
    assert result["seq"] == 1
    assert ["deploy", True] in result["snippet"]
    # Markup in a message is text in a segment, never HTML.
    assert "".join(text for text, _ in result["snippet"]) == "the deploy is at <b>noon</b>"
    assert set(result) == {"id", "seq", "room", "user", "ts", "snippet"}
    assert response.json()["next_before"] is None


def test_api_with_a_bearer_token(rooms, user, token, other_token):
    client = Client()
    mine = client.get(API, {"q": "deploy"}, headers={"Authorization": f"Bearer {token}"})
    bobs = client.get(API, {"q": "deploy"}, headers={"Authorization": f"Bearer {other_token}"})

    assert [r["room"] for r in mine.json()["results"]] == ["general"]
    assert [r["room"] for r in bobs.json()["results"]] == ["banned-from", "hideout", "general"]


def test_api_refuses_anonymous_and_bad_tokens(rooms):
    anonymous = Client().get(API, {"q": "deploy"})
    bad = Client().get(API, {"q": "deploy"}, headers={"Authorization": "Bearer nope"})

    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_authenticated"
    assert bad.status_code == 401


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "bad_query"),
        ({"q": "   "}, "bad_query"),
        ({"q": "x" * 201}, "bad_query"),
        ({"q": "***"}, "bad_query"),
        ({"q": "deploy", "from": "yesterday"}, "bad_date"),
        ({"q": "deploy", "to": "2026-02-30"}, "bad_date"),
        ({"q": "deploy", "from": "2026-03-02", "to": "2026-03-01"}, "bad_date"),
        ({"q": "deploy", "room": "no-such-room"}, "unknown_room"),
        ({"q": "deploy", "room": "hideout"}, "unknown_room"),
        ({"q": "deploy", "room": "banned-from"}, "unknown_room"),
        ({"q": "deploy", "author": "nobody"}, "unknown_user"),
        ({"q": "deploy", "before": "-1"}, "bad_request"),
        ({"q": "deploy", "limit": "500"}, "bad_request"),
    ],
)
def test_api_errors_are_400_with_a_code(rooms, user, params, code):
    response = signed_in(user).get(API, params)

    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["detail"]


def test_api_private_room_is_refused_exactly_like_a_missing_one(rooms, user):
    client = signed_in(user)
    private = client.get(API, {"q": "deploy", "room": "hideout"}).json()
    missing = client.get(API, {"q": "deploy", "room": "hideouu"}).json()

    assert private["detail"].replace("hideout", "X") == missing["detail"].replace("hideouu", "X")


def test_api_filters_by_room_author_and_dates(rooms, user, other_user):
    client = signed_in(other_user)

    in_room = client.get(API, {"q": "deploy", "room": "hideout"}).json()["results"]
    by_alice = client.get(API, {"q": "deploy", "author": "alice"}).json()["results"]
    past = client.get(API, {"q": "deploy", "to": "2020-01-01"}).json()["results"]

    assert [r["room"] for r in in_room] == ["hideout"]
    assert by_alice == []
    assert past == []


def test_api_pages_with_before(rooms, user):
    general = rooms[0]
    for n in range(3):
        post(general, user, f"deploy {n}")
    client = signed_in(user)

    first = client.get(API, {"q": "deploy", "limit": "2"}).json()
    second = client.get(API, {"q": "deploy", "limit": "2", "before": first["next_before"]}).json()

    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 4
    assert second["next_before"] is None


# --- the search page -------------------------------------------------------------


def test_page_needs_sign_in(rooms):
    response = Client().get(PAGE, {"q": "deploy"})

    assert response.status_code == 302
    assert "/login" in response["Location"] or "login" in response["Location"]


def test_page_shows_results_marked_and_linked_to_the_room_at_the_message(rooms, user):
    response = signed_in(user).get(PAGE, {"q": "deploy"})
    html = response.content.decode()

    assert response.status_code == 200
    assert "<mark>deploy</mark>" in html
    assert "&lt;b&gt;noon&lt;/b&gt;" in html  # escaped, not rendered
    assert 'href="/rooms/general/?at=1"' in html
    assert "hideout" not in html.lower()
    assert "banned" not in html.lower()


def test_page_room_choices_are_the_readable_rooms(rooms, user, other_user):
    alice = signed_in(user).get(PAGE).content.decode()
    bob = signed_in(other_user).get(PAGE).content.decode()

    assert 'value="general"' in alice
    assert 'value="hideout"' not in alice
    assert 'value="banned-from"' not in alice
    assert 'value="hideout"' in bob


def test_page_shows_a_refusal_with_400(rooms, user):
    response = signed_in(user).get(PAGE, {"q": '"', "room": "hideout"})

    assert response.status_code == 400
    assert "search-problem" in response.content.decode()


def test_room_and_lobby_pages_have_the_search_box(rooms, user):
    client = signed_in(user)

    assert 'action="/search/"' in client.get("/rooms/general/").content.decode()
    assert 'action="/search/"' in client.get("/").content.decode()


def test_a_result_link_into_a_room_the_user_cannot_read_is_refused(rooms, user):
    response = signed_in(user).get("/rooms/hideout/?at=1")

    assert response.status_code == 403
    assert "secret deploy" not in response.content.decode()


def test_unsupported_database_is_a_clear_error(rooms, user, monkeypatch):
    from chat import search

    monkeypatch.setattr(search, "BACKENDS", {})
    response = signed_in(user).get(API, {"q": "deploy"})

    assert response.status_code == 400
    assert response.json()["error"] == "unavailable"


def test_searches_are_rate_limited_per_user_with_429_and_retry_after(
    rooms, user, other_user, settings
):
    """Full-text search is the costliest read: ``CHAT_SEARCH_RATE`` per user, API and
    page together."""
    settings.CHAT_SEARCH_RATE = "3/m"
    client = signed_in(user)
    assert client.get(API, {"q": "deploy"}).status_code == 200
    assert client.get(PAGE, {"q": "deploy"}).status_code == 200
    assert client.get(API, {"q": "noon"}).status_code == 200

    refused = client.get(API, {"q": "deploy"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    page = client.get(PAGE, {"q": "deploy"})
    assert page.status_code == 429 and "try again in" in page.content.decode()
    assert client.get(PAGE).status_code == 200  # the empty form is no search
    assert signed_in(other_user).get(API, {"q": "deploy"}).status_code == 200

    settings.CHAT_SEARCH_RATE = ""
    assert client.get(API, {"q": "deploy"}).status_code == 200
