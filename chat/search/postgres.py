"""Search on PostgreSQL: ``chat_message.search_vector`` and its GIN index (``0003_search``).

The stored column (``to_tsvector('simple', ...)`` of the body's letters and digits,
see the migration) is what the partial GIN index
covers and what the planner has statistics for: a rare word is a bitmap scan of the
index, a common one a walk down the primary key that stops after ``limit`` rows.
``ts_headline`` runs only on the page of results.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from chat.search.highlight import ELLIPSIS, LESS_THAN, START, STOP
from chat.search.query import Query, to_tsquery

CONFIG = "simple"
# One passage (no MaxFragments: fragment mode drops the punctuation at its ends);
# chat messages are short, a long one is cut around its best match.
HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=1"


def find(
    query: Query,
    *,
    room_ids: list[int],
    author_id: int | None,
    since: datetime | None,
    until: datetime | None,
    first_id: int,
    before: int | None,
    limit: int,
) -> list[tuple[int, str]]:
    """``(message id, marked snippet)`` of the newest ``limit`` matches with
    ``first_id <= id < before``."""
    tsquery, tsquery_params = to_tsquery(query, CONFIG)
    where = [f"search_vector @@ ({tsquery})", "deleted_at IS NULL", "room_id = ANY(%s)"]
    params: list = [*tsquery_params, room_ids]
    for clause, value in (
        ("author_id = %s", author_id),
        ("created_at >= %s", since),
        ("created_at < %s", until),
        ("id >= %s", first_id or None),
        ("id < %s", before),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    # The tsquery is written twice, not shared through a CTE: the planner estimates
    # how common the words are only from a constant it can see.
    sql = (
        f"SELECT m.id, ts_headline('{CONFIG}', replace(m.body, '<', %s), ({tsquery}), %s), m.body FROM"  # noqa: S608 - fixed clauses; values are parameters
        f" (SELECT id, body FROM chat_message WHERE {' AND '.join(where)}"
        " ORDER BY id DESC LIMIT %s) m ORDER BY m.id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [LESS_THAN, *tsquery_params, HEADLINE_OPTIONS, *params, limit])
        return [(pk, _with_ellipses(headline, body)) for pk, headline, body in cursor.fetchall()]


def _with_ellipses(headline: str, body: str) -> str:
    """The headline with "<" back, and "…" where it cuts the body (as SQLite's snippet)."""
    headline = headline.replace(LESS_THAN, "<")
    plain = headline.replace(START, "").replace(STOP, "")
    if not body.startswith(plain):
        headline = ELLIPSIS + headline
    if not body.endswith(plain):
        headline += ELLIPSIS
    return headline
