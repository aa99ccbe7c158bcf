"""The demo site's sign-up page: accounts belong to the site, not to the chat app.

A host project keeps its own accounts (log in, sign up, its own user model); the
chat only links to ``LOGIN_URL``. The demo needs somewhere for visitors to make an
account, so it has this page at ``/accounts/signup/``.
"""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


class SignupForm(UserCreationForm):
    """Django's sign-up form (username and password twice, with the password validators)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


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
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(safe_next(request) or reverse("chat:lobby"))
        status = 400
    else:
        form = SignupForm()
        status = 200
    context = {"form": form, "next": safe_next(request) or ""}
    return render(request, "registration/signup.html", context, status=status)
