"""Password guessing is throttled on every path that checks a password (chat.signin).

The limits are lowered so a test needs only a few checks, and the checks here hash
with Django's fast test hasher (MD5): what is counted, refused and cleared does not
depend on the hasher, and the real one costs most of a second per check. The live
tests (tests/http/test_signin_live.py) keep the site's own hasher in real daphne
processes. Both modes: embedded (process memory) and Redis (shared by every process).
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from chat import signin
from chat.stores.sliding_window import LocalWindows
from tests.helpers.accounts import PASSWORD

pytestmark = pytest.mark.django_db

THROTTLED = "Too many sign-in attempts"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def _password_hash(fast_hasher) -> str:
    """Every test user's password (``make_user``), hashed with the fast test hasher."""
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def mode(request, settings, monkeypatch):
    """Run the test in embedded mode and again with the windows in Redis."""
    if request.param == "redis":
        settings.CHAT_REDIS_URL = request.getfixturevalue("redis_url")
    monkeypatch.setattr(signin, "PAIR_LIMIT", 2)
    monkeypatch.setattr(signin, "ADDRESS_LIMIT", 4)
    monkeypatch.setattr(signin, "ACCOUNT_LIMIT", 4)
    return request.param


def sign_in(path: str, username: str, password: str, address: str):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_guessing_one_account_is_stopped_on_both_forms(mode, path, staff_user):
    for guess in range(signin.PAIR_LIMIT):
        response = sign_in(path, "admin", f"guess{guess}", "203.0.113.1")
        assert response.status_code == 200 and THROTTLED not in response.content.decode()

    # The right password from the guessing address is refused without a hash...
    refused = sign_in(path, "admin", PASSWORD, "203.0.113.1")
    assert refused.status_code == 200
    assert THROTTLED in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session

    # ...but the account's owner elsewhere is not locked out by the attacker.
    assert sign_in(path, "admin", PASSWORD, "198.51.100.7").status_code == 302


def test_one_address_spraying_many_accounts_is_stopped(mode, make_user):
    for n in range(signin.ADDRESS_LIMIT):
        assert sign_in("/accounts/login/", f"victim{n}", "guess", "203.0.113.2").status_code == 200
    make_user("fresh")

    refused = sign_in("/accounts/login/", "fresh", PASSWORD, "203.0.113.2")

    assert THROTTLED in refused.content.decode()


def test_guesses_spread_over_addresses_are_stopped_per_account(mode, user):
    for n in range(signin.ACCOUNT_LIMIT):
        sign_in("/accounts/login/", "alice", "guess", f"203.0.113.{10 + n}")

    refused = sign_in("/accounts/login/", "alice", PASSWORD, "198.51.100.99")

    assert THROTTLED in refused.content.decode()


def test_successful_sign_ins_do_not_use_up_an_address(mode, make_user):
    # A whole office behind one address signs in, more people than ADDRESS_LIMIT.
    for n in range(signin.ADDRESS_LIMIT + 2):
        make_user(f"colleague{n}")
        assert (
            sign_in("/accounts/login/", f"colleague{n}", PASSWORD, "192.0.2.1").status_code == 302
        )


def test_a_typo_then_the_right_password_clears_the_pair(mode, user):
    sign_in("/accounts/login/", "alice", "typo", "192.0.2.5")
    assert sign_in("/accounts/login/", "alice", PASSWORD, "192.0.2.5").status_code == 302
    # Another typo is allowed again: the pair started over.
    sign_in("/accounts/login/", "alice", "typo", "192.0.2.5")
    assert sign_in("/accounts/login/", "alice", PASSWORD, "192.0.2.5").status_code == 302


def test_the_api_token_exchange_is_throttled(mode, user):
    for _ in range(signin.PAIR_LIMIT):
        response = Client().post(
            "/api/token",
            {"username": "alice", "password": "guess"},
            content_type="application/json",
            REMOTE_ADDR="203.0.113.3",
        )
        assert response.status_code == 401

    response = Client().post(
        "/api/token",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.3",
    )
    assert response.status_code == 429


def test_password_reset_mails_are_throttled(mode, user):
    for _ in range(signin.RESET_LIMIT):
        response = Client().post(
            "/accounts/password_reset/", {"email": user.email}, REMOTE_ADDR="203.0.113.4"
        )
        assert response.status_code == 302
    sent = len(mail.outbox)

    refused = Client().post(
        "/accounts/password_reset/", {"email": user.email}, REMOTE_ADDR="203.0.113.4"
    )

    assert refused.status_code == 200
    assert THROTTLED in refused.content.decode()
    assert len(mail.outbox) == sent == signin.RESET_LIMIT


def test_a_redis_outage_fails_open(settings, user):
    # Sign-in must not depend on Redis: a dead Redis logs and lets the check run.
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:1/0"
    assert sign_in("/accounts/login/", "alice", PASSWORD, "192.0.2.9").status_code == 302


def test_retry_after_is_when_the_oldest_attempt_leaves_the_window():
    now = [1000.0]
    windows = LocalWindows(clock=lambda: now[0])
    for _ in range(2):
        assert windows.hit("k", limit=2, period=300) is None
        now[0] += 10
    assert windows.hit("k", limit=2, period=300) == pytest.approx(280)
