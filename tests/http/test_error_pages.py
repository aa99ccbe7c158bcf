"""A room that does not exist, or that refuses the user, gets a chat-styled page with a
way back, with DEBUG on and off (not Django's technical page, whose inline styles the
CSP blocks, nor the host's bare "Not Found")."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["debug", "no-debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


def assert_chat_page(response, template):
    page = response.content.decode()
    assert template in [t.name for t in response.templates]
    assert "templates/base.html" in [t.origin.name[-19:] for t in response.templates if t.origin]
    assert 'href="/static/chat/css/chat.css"' in page
    assert '<a href="/">Back to the rooms</a>' in page
    assert "<style" not in page  # the CSP allows only the stylesheets
    return page


def test_unknown_room_is_a_chat_styled_404(debug, alice_client):
    response = alice_client.get("/rooms/nope/")
    assert response.status_code == 404
    page = assert_chat_page(response, "chat/not_found.html")
    assert "There is no room #nope" in page
    assert "Page not found" not in page  # not Django's technical 404


def test_refused_room_is_a_chat_styled_403(debug, alice_client, make_room):
    make_room("secret", is_private=True)
    response = alice_client.get("/rooms/secret/")
    assert response.status_code == 403
    page = assert_chat_page(response, "chat/room_refused.html")
    assert "You can’t enter #secret" in page


def test_other_unknown_paths_stay_with_the_hosts_404_handler(settings, alice_client):
    settings.DEBUG = False
    response = alice_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "chat/not_found.html" not in [t.name for t in response.templates]
