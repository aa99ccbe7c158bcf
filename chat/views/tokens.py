""" "Your API tokens": a signed-in user sees their tokens and revokes one or all."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from chat import selectors, services
from chat.models import ApiToken


def _status(token: ApiToken, now) -> str:
    if token.revoked_at is not None:
        return "revoked"
    expiry = selectors.token_expiry(token)
    return "expired" if expiry is not None and expiry <= now else "active"


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens, newest first, with when each expires and a revoke button."""
    now = timezone.now()
    rows = [
        {"token": token, "expires": selectors.token_expiry(token), "status": _status(token, now)}
        for token in ApiToken.objects.filter(user=request.user).order_by("-created_at")
    ]
    active = sum(row["status"] == "active" for row in rows)
    return render(request, "chat/tokens.html", {"rows": rows, "active": active})


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens; its connections close with 4401."""
    mine = ApiToken.objects.filter(pk=token_id, user=request.user)
    if not mine.exists():
        raise Http404("no such token")
    services.revoke_tokens(tokens=mine, by=request.user)
    return redirect("chat:tokens")


@login_required
@require_POST
def revoke_all_tokens(request: HttpRequest) -> HttpResponse:
    """Revoke every token of the user."""
    services.revoke_tokens(tokens=ApiToken.objects.filter(user=request.user), by=request.user)
    return redirect("chat:tokens")
