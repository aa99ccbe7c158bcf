"""API tokens: an optional lifetime (CHAT_TOKEN_TTL), and "your tokens" with revoke.

Tokens never expired and users could neither see nor revoke their own.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from chat import services
from chat.models import ApiToken
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_the_page_lists_only_my_tokens(browser, user, other_user):
    mine = services.issue_token(user=user)
    theirs = services.issue_token(user=other_user)

    page = browser.get("/tokens/").content.decode()

    assert mine[:8] in page
    assert theirs[:8] not in page
    assert "active" in page and "never" in page


def test_revoke_one_of_mine(browser, user):
    key = services.issue_token(user=user)
    token = ApiToken.objects.get(user=user)

    response = browser.post(f"/tokens/{token.pk}/revoke")

    assert response.status_code == 302
    assert services.user_for_token(key) is None
    assert "revoked" in browser.get("/tokens/").content.decode()


def test_someone_elses_token_cannot_be_revoked(browser, other_user):
    key = services.issue_token(user=other_user)
    token = ApiToken.objects.get(user=other_user)

    assert browser.post(f"/tokens/{token.pk}/revoke").status_code == 404
    assert services.user_for_token(key) == other_user


def test_revoke_all(browser, user):
    keys = [services.issue_token(user=user) for _ in range(3)]

    browser.post("/tokens/revoke-all")

    assert all(services.user_for_token(key) is None for key in keys)


def test_revoking_needs_post_sign_in_and_csrf(user):
    services.issue_token(user=user)
    token = ApiToken.objects.get(user=user)
    assert Client().post(f"/tokens/{token.pk}/revoke").status_code == 302  # to sign-in
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"/tokens/{token.pk}/revoke").status_code == 403
    assert strict.get(f"/tokens/{token.pk}/revoke").status_code == 405
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_a_token_older_than_the_ttl_no_longer_signs_in(settings, user, room):
    settings.CHAT_TOKEN_TTL = "1h"
    fresh, old = services.issue_token(user=user), services.issue_token(user=user)
    ApiToken.objects.filter(prefix=old[:8]).update(
        created_at=timezone.now() - timedelta(hours=1, seconds=1)
    )

    assert services.user_for_token(fresh) == user
    assert services.user_for_token(old) is None
    api = Client().get("/api/rooms/lobby/messages", HTTP_AUTHORIZATION=f"Bearer {old}")
    assert api.status_code == 401


def test_the_page_shows_when_tokens_expire(settings, browser, user):
    settings.CHAT_TOKEN_TTL = "90d"
    services.issue_token(user=user)
    expires = ApiToken.objects.get(user=user).created_at + timedelta(days=90)

    assert expires.strftime("%Y-%m-%d %H:%M") in browser.get("/tokens/").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_an_open_connection_closes_when_its_token_expires(mode, settings, room, user):  # noqa: F811
    settings.CHAT_TOKEN_TTL = "3600"
    key = await sync_to_async(services.issue_token)(user=user)
    # Issued almost an hour ago: it expires a second into the connection.
    await ApiToken.objects.filter(prefix=key[:8]).aupdate(
        created_at=timezone.now() - timedelta(seconds=3599)
    )
    async with connect("/ws/rooms/lobby/", token=key) as client:
        await client.expect_close(CloseCode.NOT_AUTHENTICATED, timeout=5)


def test_the_lifetime_setting_is_parsed_or_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from chat.conf import chat_settings

    for value, seconds in [("", None), ("3600", 3600), ("90d", 90 * 86400), ("12h", 43200)]:
        settings.CHAT_TOKEN_TTL = value
        assert chat_settings().token_ttl == seconds
    settings.CHAT_TOKEN_TTL = "soon"
    with pytest.raises(ImproperlyConfigured, match="CHAT_TOKEN_TTL"):
        chat_settings()
