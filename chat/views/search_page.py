"""The search page: a form and the results, each linking to its room at that message.

The same ``chat.search.search_request`` as ``GET /api/search``; snippets are rendered
as text nodes and ``<mark>`` elements by the template (auto-escaped), never as HTML
from the database.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from chat import abuse_limits, search, selectors
from chat.views.pages import render_page

# Rooms offered in the page's room filter.
ROOM_CHOICES = 200
FIELDS = ("q", "room", "author", "from", "to")


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """``?q=`` searches; without ``q`` the empty form. Refusals render with status 400,
    and with 429 and ``Retry-After`` past ``CHAT_SEARCH_RATE`` (shared with the API)."""
    values = {name: request.GET.get(name, "").strip() for name in FIELDS}
    context: dict = {
        "values": values,
        "rooms": selectors.readable_rooms(user=request.user).order_by("title")[:ROOM_CHOICES],
        "results": None,
        "problem": None,
    }
    status = 200
    wait = abuse_limits.search_wait(user_id=request.user.pk) if "q" in request.GET else None
    if wait is not None:
        context["problem"], status = f"too many searches; try again in {wait} s", 429
    elif "q" in request.GET:
        try:
            page = search.search_request(user=request.user, params=request.GET)
        except search.SearchError as refused:
            context["problem"], status = refused.detail, 400
        else:
            context["results"] = [
                {"hit": hit, "url": room_url_at(hit.room, hit.seq)} for hit in page.results
            ]
            if page.next_before:
                older = {k: v for k, v in values.items() if v} | {"before": page.next_before}
                context["older_url"] = f"{reverse('chat:search')}?{urlencode(older)}"
    response = render_page(request, "chat/search.html", context, status=status)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


def room_url_at(slug: str, seq: int) -> str:
    """The room page opened at message ``seq`` (``?at=``: loads that part of history)."""
    return f"{reverse('chat:room', kwargs={'slug': slug})}?{urlencode({'at': seq})}"
