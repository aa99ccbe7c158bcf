"""Sign-up keeps usernames to a URL-safe set: "." and ".." could not be moderated,
because the room page's moderation URLs resolved them as path segments."""

from __future__ import annotations

import pytest

from chatsite.signup import SignupForm

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-pass-42"


def form(username: str) -> SignupForm:
    return SignupForm({"username": username, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.parametrize("username", [".", "..", "...", ".hidden", "-dash", "ünï", "a/b", "a%2e"])
def test_path_like_or_non_ascii_usernames_are_refused(username):
    signup = form(username)
    assert not signup.is_valid()
    assert "username" in signup.errors


@pytest.mark.parametrize("username", ["alice", "a.b", "_bot", "a@b.c", "x+y", "Bob-2"])
def test_ordinary_usernames_still_work(username):
    assert form(username).is_valid(), form(username).errors


def test_the_signup_page_refuses_dot_dot(client):
    response = client.post(
        "/accounts/signup/", {"username": "..", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 400
    assert "Use only letters" in response.content.decode()
