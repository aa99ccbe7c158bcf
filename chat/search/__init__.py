"""Full-text search over the messages a user may read: the one selector.

``search(user=..., text=..., filters=...)`` parses the text (``chat.search.query``),
takes the rooms from ``selectors.readable_rooms`` (the same rule as entering a room),
and asks the database's own full-text index, chosen by ``connection.vendor``:
PostgreSQL's ``tsvector``/GIN (``chat.search.postgres``) or SQLite's FTS5
(``chat.search.sqlite``); both indexes come from migration ``0003_search``.

Results are newest first, ``limit`` at a time; ``Page.next_before`` is the cursor
for the next page. Deleted messages are never indexed (nor matched). No count of
matches is ever computed, so nothing about rooms the user cannot read leaks, not
even a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from chat import selectors
from chat.models import Message
from chat.search.highlight import Segments, segments
from chat.search.postgres import find as find_postgres
from chat.search.query import QueryError, parse
from chat.search.sqlite import find as find_sqlite
from chat.wire import protocol

DEFAULT_LIMIT = 20
# Messages read from each end of a date range to find its ids (see _id_range).
BOUND_WINDOW = 20_000
MAX_LIMIT = 50
# The one place that chooses: the database's own full-text search.
BACKENDS = {"postgresql": find_postgres, "sqlite": find_sqlite}


class SearchError(ValueError):
    """A search refused before any query ran: ``code`` for programs, ``detail`` for people.

    Codes: ``bad_query``, ``bad_date``, ``bad_request``, ``unknown_room``,
    ``unknown_user``; ``unavailable`` on a database without full-text search here.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a search: one room (slug), one author (username), a time range
    (``since`` inclusive, ``until`` exclusive), a cursor (ids below ``before``)."""

    room: str | None = None
    author: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class Hit:
    """One message found: where it is and a snippet with the matched words marked."""

    id: int
    seq: int
    room: str
    room_title: str
    user: str
    created_at: datetime
    snippet: Segments

    def as_json(self) -> dict[str, Any]:
        """The API's result object; the snippet is ``[[text, highlighted], ...]``."""
        return {
            "id": self.id,
            "seq": self.seq,
            "room": self.room,
            "user": self.user,
            "ts": protocol.timestamp(self.created_at),
            "snippet": [[text, marked] for text, marked in self.snippet],
        }


@dataclass(frozen=True, slots=True)
class Page:
    """Results newest first; ``next_before`` is set when there may be more."""

    results: list[Hit]
    next_before: int | None


def search(*, user: Any, text: str, filters: Filters = Filters()) -> Page:
    """The messages matching ``text`` in the rooms ``user`` may read; ``SearchError``."""
    try:
        query = parse(text)
    except QueryError as error:
        raise SearchError("bad_query", error.detail) from None
    room_ids = _room_ids(user, filters.room)
    author_id = _author_id(filters.author)
    if not room_ids:
        return Page([], None)
    ids = _id_range(filters.since, filters.until)
    if ids is None:
        return Page([], None)
    first_id, last_id = ids
    before = filters.before
    if last_id and (before is None or before > last_id):
        before = last_id + 1
    find = BACKENDS.get(connection.vendor)
    if find is None:
        raise SearchError(
            "unavailable", f"search needs PostgreSQL or SQLite, not {connection.vendor}"
        )
    found = find(
        query,
        room_ids=room_ids,
        author_id=author_id,
        since=filters.since,
        until=filters.until,
        first_id=first_id,
        before=before,
        limit=filters.limit + 1,
    )
    more = len(found) > filters.limit
    found = found[: filters.limit]
    return Page(_hits(found, query), found[-1][0] if more else None)


def _id_range(since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
    """The first and last message id sent in ``[since, until)``: (0, 0) without a range,
    None when nothing was sent then.

    Messages are searched newest first by id, and neither database can tell that ids
    grow with ``created_at``: given only the times, a common word in an old week walks
    every newer message (or PostgreSQL answers ``MIN(id)`` by walking the primary
    key). The ids bound the walk (the time conditions still apply). Each end is read
    from the ``(created_at, id)`` index among the ``BOUND_WINDOW`` messages nearest
    to it in time, so the cost does not grow with the range: exact unless a message's
    id and time disagree by more than that many messages.
    """
    if since is None and until is None:
        return 0, 0
    adapt = connection.ops.adapt_datetimefield_value
    where, params = [], []
    if since is not None:
        where.append("created_at >= %s")
        params.append(adapt(since))
    if until is not None:
        where.append("created_at < %s")
        params.append(adapt(until))
    inner = f"SELECT id FROM chat_message WHERE {' AND '.join(where)}"  # noqa: S608 - fixed clauses
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MIN(id) FROM ({inner} ORDER BY created_at LIMIT %s) f),"  # noqa: S608
            f" (SELECT MAX(id) FROM ({inner} ORDER BY created_at DESC LIMIT %s) l)",
            [*params, BOUND_WINDOW, *params, BOUND_WINDOW],
        )
        first, last = cursor.fetchone()
    return None if first is None else (first, last)


def _room_ids(user: Any, slug: str | None) -> list[int]:
    rooms = selectors.readable_rooms(user=user)
    if slug is not None:
        rooms = rooms.filter(slug=slug)
    ids = list(rooms.values_list("pk", flat=True))
    if slug is not None and not ids:
        # The same answer for a room that does not exist and one the user may not
        # read: its existence is not theirs to learn.
        raise SearchError("unknown_room", f"no room “{slug}” that you can read")
    return ids


def _author_id(username: str | None) -> int | None:
    if username is None:
        return None
    users = get_user_model()
    found = users.objects.filter(**{users.USERNAME_FIELD: username}).values_list("pk", flat=True)
    author_id = found.first()
    if author_id is None:
        raise SearchError("unknown_user", f"no user “{username}”")
    return author_id


def _hits(found: list[tuple[int, str]], query) -> list[Hit]:
    """The rooms, authors and times of the ids found, in the order found (one query)."""
    username = f"author__{get_user_model().USERNAME_FIELD}"
    # deleted_at again: a message deleted since the search query is not shown.
    rows = Message.objects.filter(
        pk__in=[pk for pk, _ in found], deleted_at__isnull=True
    ).values_list("pk", "seq", "room__slug", "room__title", username, "created_at", "body")
    by_id = {row[0]: row for row in rows}
    hits = []
    for pk, marked in found:
        row = by_id.get(pk)
        if row is None:
            continue
        _, seq, slug, title, author, created_at, body = row
        hits.append(Hit(pk, seq, slug, title, author, created_at, segments(marked, body, query)))
    return hits


# --- request parameters (shared by the HTTP API and the search page) ---------------


def _moment(name: str, value: str, *, end: bool) -> datetime:
    """A date (``YYYY-MM-DD``, a whole UTC day) or an ISO 8601 time; ``SearchError``."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SearchError(
            "bad_date", f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(name: str, value: str, maximum: int) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18 or int(value) < 1:
        raise SearchError("bad_request", f"{name} must be a positive integer")
    if int(value) > maximum:
        raise SearchError("bad_request", f"{name} must be at most {maximum}")
    return int(value)


def request_filters(params: Any) -> tuple[str, Filters]:
    """``(text, Filters)`` from ``q``, ``room``, ``author``, ``from``, ``to``, ``before``
    and ``limit`` (a ``QueryDict`` or any mapping of strings); ``SearchError``.

    ``to`` as a date includes that whole day.
    """
    get = lambda name: (params.get(name) or "").strip() or None  # noqa: E731
    since = _moment("from", get("from"), end=False) if get("from") else None
    until = _moment("to", get("to"), end=True) if get("to") else None
    if since and until and since >= until:
        raise SearchError("bad_date", "from must be before to")
    filters = Filters(
        room=get("room"),
        author=get("author"),
        since=since,
        until=until,
        before=_positive("before", get("before"), 2**62) if get("before") else None,
        limit=_positive("limit", get("limit"), MAX_LIMIT) if get("limit") else DEFAULT_LIMIT,
    )
    return params.get("q") or "", filters


def search_request(*, user: Any, params: Any) -> Page:
    """``search`` with the filters of a request's query string (API and page share it)."""
    text, filters = request_filters(params)
    return search(user=user, text=text, filters=filters)


__all__ = ["Filters", "Hit", "Page", "SearchError", "request_filters", "search", "search_request"]
