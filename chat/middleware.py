"""HTTP middleware: a Content-Security-Policy that forbids inline script; invalid text refused."""

import json
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from chat.conf import MULTIPART_SLACK, chat_settings
from chat.wire import protocol

# The room page is plain ES modules served from 'self'; nothing inline runs.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    """Add the site's Content-Security-Policy to every HTML response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/admin/"):
            # The admin ships inline scripts in places; it keeps Django's defaults.
            return response
        response.setdefault("Content-Security-Policy", POLICY)
        return response


class InvalidTextMiddleware:
    """Answer 400 to text the database cannot store, before any view or session lookup.

    A NUL character (or an unpaired surrogate) in a URL, query, cookie, header, form
    field or JSON string reached PostgreSQL, which refuses it: a 500 instead of a
    400. Checked once here, for every path, so no view has to remember it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = invalid_text_in(request)
        if problem is not None:
            return JsonResponse({"error": "bad_request", "detail": problem}, status=400)
        return self.get_response(request)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _bad_text(value: str) -> bool:
    return protocol.text_problem(value) is not None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON document, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def invalid_text_in(request: HttpRequest) -> str | None:
    """Which part of the request holds text the database cannot store, or None."""
    if _bad_text(request.path):
        return "the URL contains a NUL character or invalid text"
    for part, mapping in (("query", request.GET), ("cookie", request.COOKIES)):
        for key, values in mapping.lists() if part == "query" else mapping.items():
            for value in [key, *(values if isinstance(values, list) else [values])]:
                if _bad_text(value):
                    return f"a {part} parameter contains a NUL character or invalid text"
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and _bad_text(value):
            return "a header contains a NUL character or invalid text"
    if request.method in ("POST", "PUT", "PATCH"):
        content_type = request.content_type or ""
        if content_type == "application/json":
            try:
                document = json.loads(request.body or b"null")
            except (ValueError, RecursionError):
                return None  # not JSON: the view says so in its own words
            if any(_bad_text(text) for text in _strings(document)):
                return "a JSON string contains a NUL character or invalid text"
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if content_type == "multipart/form-data" and _declared_length(request) > (
                chat_settings().max_upload_bytes + MULTIPART_SLACK
            ):
                return None  # not worth parsing: an upload this big is refused (413) unread
            for key, values in request.POST.lists():
                if any(_bad_text(text) for text in [key, *values] if isinstance(text, str)):
                    return "a form field contains a NUL character or invalid text"
    return None
