"""Signed-in sessions for child processes and browsers that share the test database."""

from __future__ import annotations


def session_cookie(user) -> str:
    """A signed-in session for ``user`` in the test database (what logging in would store)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value
