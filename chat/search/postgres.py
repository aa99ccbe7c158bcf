"""Search on PostgreSQL: ``chat_message.search_vector`` and its GIN index (``0003_search``).

The stored column (``to_tsvector('simple', body)``) is what the partial GIN index
covers and what the planner has statistics for: a rare word is a bitmap scan of the
index, a common one a walk down the primary key that stops after ``limit`` rows.
``ts_headline`` runs only on the page of results.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from chat.search.highlight import START, STOP
from chat.search.query import Query, to_tsquery

CONFIG = "simple"
HEADLINE_OPTIONS = (
    f"StartSel={START}, StopSel={STOP}, MaxWords=24, MinWords=10, ShortWord=1, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


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
        f"SELECT m.id, ts_headline('{CONFIG}', m.body, ({tsquery}), %s) FROM"  # noqa: S608 - fixed clauses; values are parameters
        f" (SELECT id, body FROM chat_message WHERE {' AND '.join(where)}"
        " ORDER BY id DESC LIMIT %s) m ORDER BY m.id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*tsquery_params, HEADLINE_OPTIONS, *params, limit])
        return [(row[0], row[1]) for row in cursor.fetchall()]
