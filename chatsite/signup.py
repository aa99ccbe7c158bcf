"""The demo site's sign-up page: accounts belong to the site, not to the chat app.

A host project keeps its own accounts (log in, sign up, its own user model); the
chat only links to ``LOGIN_URL``. The demo needs somewhere for visitors to make an
account, so it has this page at ``/accounts/signup/``.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from chat import abuse_limits
from chat.client_address import request_address

# Usernames travel in URL paths (the room page's moderation links): ASCII letters,
# digits and _ . @ + -, starting with a letter, digit or underscore, so "." and ".."
# (which a browser resolves as path segments) cannot be names.
USERNAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*\Z"


class SignupForm(UserCreationForm):
    """Django's sign-up form (username and password twice, with the password validators)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def clean_username(self) -> str:
        """Django's checks, then the URL-safe set of ``USERNAME_PATTERN``."""
        username = super().clean_username()
        if username and not re.match(USERNAME_PATTERN, username):
            raise forms.ValidationError(
                "Use only letters A-Z, digits and _ . @ + -, starting with a letter, a digit or _.",
                code="invalid_username",
            )
        return username


def safe_next(request: HttpRequest) -> str | None:
    """The ``next`` URL from the query or form when it points at this site, else None."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, sign in, and go where the user was heading (or the lobby)."""
    if request.user.is_authenticated:
        return redirect(safe_next(request) or reverse("chat:lobby"))
    if request.method == "POST":
        form = SignupForm(request.POST)
        wait = None
        if form.is_valid():
            wait = abuse_limits.signup_wait(address=request_address(request))
            if wait is not None:
                form.add_error(
                    None, f"Too many sign-ups from your address. Try again in {wait} seconds."
                )
        if form.is_valid():
            user = form.save()
            # The site's first backend: the sign-in throttle's ModelBackend.
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            return redirect(safe_next(request) or reverse("chat:lobby"))
        status = 400 if wait is None else 429
    else:
        form = SignupForm()
        status = 200
    context = {"form": form, "next": safe_next(request) or ""}
    return render(request, "registration/signup.html", context, status=status)
