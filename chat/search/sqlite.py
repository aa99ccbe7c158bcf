"""Search on SQLite: the FTS5 table ``chat_message_fts`` (migration ``0003_search``).

The FTS5 table drives the query (``CROSS JOIN`` keeps SQLite from starting at the
messages) and hands out matches newest first by rowid, so a common word stops after
``limit`` rows instead of sorting every match.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

from chat.search.highlight import START, STOP
from chat.search.query import Query, to_fts5

# Words of context in a snippet (SQLite's maximum is 64).
SNIPPET_TOKENS = 20


def find(
    query: Query,
    *,
    room_ids: list[int],
    author_id: int | None,
    since: datetime | None,
    until: datetime | None,
    before: int | None,
    limit: int,
) -> list[tuple[int, str]]:
    """``(message id, marked snippet)`` of the newest ``limit`` matches."""
    adapt = connection.ops.adapt_datetimefield_value
    where = ["chat_message_fts MATCH %s", "m.deleted_at IS NULL"]
    params: list = [
        START,
        STOP,
        to_fts5(query),
    ]
    where.append("m.room_id IN (SELECT value FROM json_each(%s))")
    params.append(json.dumps(room_ids))
    if author_id is not None:
        where.append("m.author_id = %s")
        params.append(author_id)
    if since is not None:
        where.append("m.created_at >= %s")
        params.append(adapt(since))
    if until is not None:
        where.append("m.created_at < %s")
        params.append(adapt(until))
    if before is not None:
        where.append("chat_message_fts.rowid < %s")
        params.append(before)
    sql = (
        "SELECT chat_message_fts.rowid,"  # noqa: S608 - fixed clauses; values are parameters
        f" snippet(chat_message_fts, 0, %s, %s, '…', {SNIPPET_TOKENS})"
        " FROM chat_message_fts CROSS JOIN chat_message m ON m.id = chat_message_fts.rowid"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY chat_message_fts.rowid DESC LIMIT %s"
    )
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]
