"""JSON API for non-browser clients: token exchange, history pages and search.

``POST /api/token`` trades a username and password for a bearer token (the
terminal client does this once); ``GET /api/rooms/<slug>/messages`` reads a
history page with the same access checks and history functions as the WebSocket;
``GET /api/search`` searches the rooms the user may read (``chat.search``).
Every error is JSON: ``{"error": code, "detail": sentence}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import abuse_limits, history, search, selectors, services
from chat.conf import chat_settings
from chat.signin import SignInThrottled
from chat.wire.errors import HTTP_STATUS_FOR_CLOSE, CloseCode, ErrorCode, Refusal

logger = logging.getLogger(__name__)

# The JSON body of a token request is two short strings; anything bigger is not one.
MAX_TOKEN_REQUEST_BYTES = 4096

NOT_AUTHENTICATED = "not_authenticated"
ARCHIVED = "archived"


def error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    """A JSON error response."""
    response = JsonResponse({"error": str(code), "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def refusal_response(refusal: Refusal) -> JsonResponse:
    """The HTTP answer for a ``Refusal`` from the selectors."""
    status = HTTP_STATUS_FOR_CLOSE.get(refusal.close_code, 403)
    code = {401: NOT_AUTHENTICATED, 410: ARCHIVED}.get(status, refusal.code)
    response = error(status, code, refusal.detail)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="chat"'
    return response


# --- POST /api/token ---------------------------------------------------------


def _credentials(request: HttpRequest) -> tuple[str, str] | JsonResponse:
    """``(username, password)`` from the JSON body, or the 400 response saying what is wrong."""
    if len(request.body) > MAX_TOKEN_REQUEST_BYTES:
        return error(400, ErrorCode.BAD_REQUEST, "the request body is too large")
    try:
        data = json.loads(request.body or b"")
    except (ValueError, RecursionError):
        return error(
            400, ErrorCode.BAD_REQUEST, 'send JSON: {"username": "...", "password": "..."}'
        )
    if not isinstance(data, dict):
        return error(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str):
        return error(400, ErrorCode.BAD_REQUEST, "username and password must be strings")
    return username, password


# Non-browser clients send their credentials in the body; there is no cookie to forge.
@csrf_exempt
@never_cache
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    """Exchange ``{"username", "password"}`` for ``{"token"}``; throttled by ``chat.signin``."""
    credentials = _credentials(request)
    if isinstance(credentials, JsonResponse):
        return credentials
    username, password = credentials
    try:
        user = authenticate(request, username=username, password=password)
    except SignInThrottled as throttled:
        # Refused before the password hasher ran: it costs nothing and learns nothing.
        wait = throttled.retry_after
        return error(
            429,
            ErrorCode.RATE_LIMITED,
            f"too many sign-in attempts; try again in {wait} s",
            Retry_After=str(wait),
        )
    if user is None:
        logger.info("token refused username=%r", username[:150])
        return error(401, NOT_AUTHENTICATED, "wrong username or password")
    return JsonResponse({"token": services.issue_token(user=user)})


# --- GET /api/rooms/<slug>/messages -----------------------------------------


def _int_param(request: HttpRequest, name: str) -> int | None:
    """A positive integer query parameter, None when absent; ``ValueError`` when malformed."""
    value = request.GET.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18 or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer")
    return int(value)


async def request_user(request: HttpRequest) -> Any:
    """The user of a bearer token, else of the session; ``Refusal`` for a bad token."""
    header = request.headers.get("Authorization")
    if header is None:
        return await request.auser()
    scheme, _, key = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and key.strip():
        user = await sync_to_async(services.user_for_token)(key.strip())
    if user is None:
        raise Refusal(CloseCode.NOT_AUTHENTICATED, "invalid or revoked token")
    return user


def _page(request: HttpRequest) -> tuple[int | None, int]:
    page_max = chat_settings().history_page_max
    before_seq = _int_param(request, "before_seq")
    limit = _int_param(request, "limit")
    if limit is None:
        limit = page_max
    if limit > page_max:
        raise ValueError(f"limit must be an integer from 1 to {page_max}")
    return before_seq, limit


@never_cache
@require_GET
async def messages(request: HttpRequest, slug: str) -> HttpResponse:
    """``{"messages": [...], "has_more": bool}``: the newest ``limit`` messages before ``before_seq``."""
    try:
        before_seq, limit = _page(request)
    except ValueError as exc:
        return error(400, ErrorCode.BAD_REQUEST, str(exc))
    try:
        user = await request_user(request)
        room = await sync_to_async(selectors.room_for_user)(slug=slug, user=user)
    except Refusal as refusal:
        return refusal_response(refusal)
    entries = await history.before(room=room, seq=before_seq, count=limit)
    has_more = bool(entries) and entries[0][0] > 1
    # The cache holds each message already encoded: splice, do not re-encode.
    body = '{"messages":[' + ",".join(text for _, text in entries) + "]"
    body += ',"has_more":' + ("true" if has_more else "false") + "}"
    return HttpResponse(body, content_type="application/json")


# --- GET /api/search -----------------------------------------------------------


def search_throttled(wait: int) -> JsonResponse:
    """The 429 for a user over ``CHAT_SEARCH_RATE``."""
    return error(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many searches; try again in {wait} s",
        Retry_After=str(wait),
    )


@never_cache
@require_GET
async def search_messages(request: HttpRequest) -> HttpResponse:
    """``{"results": [...], "next_before": id|null}``: messages matching ``q``, newest first.

    Filters ``room``, ``author``, ``from``, ``to``, ``before``, ``limit``; a 400 with
    ``error`` (``bad_query``, ``bad_date``, ``bad_request``, ``unknown_room``,
    ``unknown_user``) and ``detail`` otherwise; a 429 ``rate_limited`` with
    ``Retry-After`` past ``CHAT_SEARCH_RATE``.
    """
    try:
        user = await request_user(request)
        if not user.is_authenticated:
            raise Refusal(CloseCode.NOT_AUTHENTICATED)
    except Refusal as refusal:
        return refusal_response(refusal)
    wait = await sync_to_async(abuse_limits.search_wait)(user_id=user.pk)
    if wait is not None:
        return search_throttled(wait)
    try:
        page = await sync_to_async(search.search_request)(user=user, params=request.GET)
    except search.SearchError as refused:
        return error(400, refused.code, refused.detail)
    results = [hit.as_json() for hit in page.results]
    return JsonResponse({"results": results, "next_before": page.next_before})
