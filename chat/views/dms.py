"""Direct messages over HTTP: open one from the page or the API, block and unblock.

HTTP only: who may talk to whom and what is stored is ``chat.direct``'s. The page
POSTs with the CSRF token (``dms/``, ``dms/block``); the terminal client POSTs to
``api/dms`` with its bearer token (no cookie, so no CSRF). Both answer
``{"ok": true, "slug", "url"}`` and the room is then entered as any other.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chat import direct, membership, services
from chat.views.pages import json_error
from chat.wire.errors import ChatError, ErrorCode

# The HTTP status of a refused DM.
STATUS_FOR_ERROR = {ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403}
# One name per person, at most this many names in a request (the setting caps it lower).
MAX_NAMES = 50


def _refusal(error: ChatError) -> JsonResponse:
    return json_error(STATUS_FOR_ERROR.get(error.code, 400), error.detail)


def _open(request: HttpRequest, user) -> JsonResponse:
    # Repeated fields or one field of names between commas (the lobby's box).
    names = [n for f in request.POST.getlist("username") for n in f.split(",") if n.strip()]
    names = names[:MAX_NAMES]
    if not names:
        return json_error(400, "name the person to message (username)")
    try:
        people = [membership.user_named(name) for name in names]
        room = direct.open_dm(by=user, users=people)
    except ChatError as error:
        return _refusal(error)
    url = reverse("chat:room", kwargs={"slug": room.slug})
    return JsonResponse({"ok": True, "slug": room.slug, "title": room.title, "url": url})


@require_POST
def open_dm(request: HttpRequest) -> JsonResponse:
    """POST ``username`` (once per person, or names between commas): the DM with
    them, opened or found."""
    if not request.user.is_authenticated:
        return json_error(401, "sign in first")
    return _open(request, request.user)


# The terminal client: a bearer token, no cookie to forge.
@csrf_exempt
@never_cache
@require_POST
def api_open_dm(request: HttpRequest) -> JsonResponse:
    """POST ``username`` with ``Authorization: Bearer <token>``: as ``open_dm``."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    user = services.user_for_token(key.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        response = json_error(401, "invalid or revoked token")
        response["WWW-Authenticate"] = 'Bearer realm="chat"'
        return response
    return _open(request, user)


@require_POST
def block(request: HttpRequest) -> JsonResponse:
    """POST ``username`` and ``blocked`` (``1`` to block, ``0`` to unblock)."""
    if not request.user.is_authenticated:
        return json_error(401, "sign in first")
    try:
        user = membership.user_named(request.POST.get("username", ""))
        if request.POST.get("blocked", "1") == "1":
            direct.block_user(by=request.user, user=user)
            blocked = True
        else:
            direct.unblock_user(by=request.user, user=user)
            blocked = False
    except ChatError as error:
        return _refusal(error)
    return JsonResponse({"ok": True, "user": user.get_username(), "blocked": blocked})
