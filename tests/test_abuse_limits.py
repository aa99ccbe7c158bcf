"""Sign-ups and room creation are limited per client address and per user, in both modes."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat import abuse_limits
from chat.models import Room

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-pass-42"


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def mode(request, settings, monkeypatch):
    settings.CHAT_REDIS_URL = (
        request.getfixturevalue("redis_url") if request.param == "redis" else ""
    )
    if request.param == "redis":
        # The refused form re-renders the lobby, whose online counts come from Redis
        # presence through async_to_sync: a new event loop per call in a sync test,
        # which the loop-bound presence client does not survive (under daphne the
        # view has one loop). Presence is not what these tests are about.
        from chat.views import pages

        monkeypatch.setattr(pages, "online_counts", lambda rooms: None)
    monkeypatch.setattr(abuse_limits, "SIGNUPS_PER_ADDRESS", 2)
    monkeypatch.setattr(abuse_limits, "ROOMS_PER_USER", 2)
    monkeypatch.setattr(abuse_limits, "ROOMS_PER_ADDRESS", 3)
    return request.param


def sign_up(name: str, address: str):
    return Client().post(
        "/accounts/signup/",
        {"username": name, "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR=address,
    )


def test_sign_ups_per_address(mode):
    assert sign_up("one", "203.0.113.1").status_code == 302
    assert sign_up("two", "203.0.113.1").status_code == 302

    refused = sign_up("three", "203.0.113.1")

    assert refused.status_code == 429
    assert "Too many sign-ups" in refused.content.decode()
    assert not get_user_model().objects.filter(username="three").exists()
    assert sign_up("four", "198.51.100.1").status_code == 302


def create(user, slug: str, address: str):
    client = Client()
    client.force_login(user)
    return client.post("/rooms/", {"slug": slug, "title": slug}, REMOTE_ADDR=address)


def test_room_creation_per_user(mode, user):
    assert create(user, "r-1", "203.0.113.2").status_code == 302
    assert create(user, "r-2", "198.51.100.2").status_code == 302

    refused = create(user, "r-3", "192.0.2.2")

    assert refused.status_code == 429
    assert "created many rooms" in refused.content.decode()
    assert not Room.objects.filter(slug="r-3").exists()


def test_room_creation_per_address(mode, make_user):
    for n in range(3):
        assert create(make_user(f"maker{n}"), f"a-{n}", "203.0.113.3").status_code == 302

    assert create(make_user("maker9"), "a-9", "203.0.113.3").status_code == 429
    assert not Room.objects.filter(slug="a-9").exists()


def test_searches_are_counted_per_user_over_chat_search_rate(mode, settings):
    settings.CHAT_SEARCH_RATE = "2/10s"
    assert abuse_limits.search_wait(user_id=1) is None
    assert abuse_limits.search_wait(user_id=1) is None
    wait = abuse_limits.search_wait(user_id=1)
    assert wait is not None and 1 <= wait <= 10
    assert abuse_limits.search_wait(user_id=2) is None  # their own window

    settings.CHAT_SEARCH_RATE = ""
    assert abuse_limits.search_wait(user_id=1) is None
