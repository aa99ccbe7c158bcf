"""Search on SQLite: the FTS5 table ``chat_message_fts`` (migration ``0003_search``).

The FTS5 table drives the query (``CROSS JOIN`` keeps SQLite from starting at the
messages) and hands out matches newest first by rowid, so a common word stops after
``limit`` rows instead of sorting every match.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.db import connection

from chat.search.highlight import START, STOP
from chat.search.query import Query, to_fts5

logger = logging.getLogger(__name__)

# Words of context in a snippet (SQLite's maximum is 64).
SNIPPET_TOKENS = 20


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
    if first_id:
        where.append("chat_message_fts.rowid >= %s")
        params.append(first_id)
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


# --- keeping the index in step after a table rebuild ----------------------------------

# The triggers of migration 0003_search (a migration keeps its own frozen copy).
TRIGGERS = {
    "chat_message_fts_insert": (
        "CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message "
        "WHEN new.deleted_at IS NULL BEGIN "
        "INSERT INTO chat_message_fts(rowid, body) VALUES (new.id, new.body); END"
    ),
    "chat_message_fts_delete": (
        "CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message "
        "WHEN old.deleted_at IS NULL BEGIN "
        "INSERT INTO chat_message_fts(chat_message_fts, rowid, body) "
        "VALUES ('delete', old.id, old.body); END"
    ),
    "chat_message_fts_update": (
        "CREATE TRIGGER IF NOT EXISTS chat_message_fts_update "
        "AFTER UPDATE OF body, deleted_at ON chat_message BEGIN "
        "INSERT INTO chat_message_fts(chat_message_fts, rowid, body) "
        "SELECT 'delete', old.id, old.body WHERE old.deleted_at IS NULL; "
        "INSERT INTO chat_message_fts(rowid, body) "
        "SELECT new.id, new.body WHERE new.deleted_at IS NULL; END"
    ),
}


def repair(db) -> bool:
    """Recreate the index's triggers and rebuild it if a migration dropped them.

    Django's SQLite schema editor rebuilds a table for many changes (copy, drop,
    rename), and dropping ``chat_message`` drops its triggers with it: the index
    would silently stop following new messages. Runs after every ``migrate``
    (``post_migrate``); returns whether it had to repair. A no-op elsewhere.
    """
    if db.vendor != "sqlite":
        return False
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT type, name FROM sqlite_master WHERE name = 'chat_message_fts' "
            "OR (type = 'trigger' AND tbl_name = 'chat_message')"
        )
        present = {name for _, name in cursor.fetchall()}
        if "chat_message_fts" not in present or set(TRIGGERS) <= present:
            return False
        logger.warning("search index: triggers missing after a migration; rebuilding the index")
        for statement in TRIGGERS.values():
            cursor.execute(statement)
        cursor.execute("INSERT INTO chat_message_fts(chat_message_fts) VALUES ('delete-all')")
        cursor.execute(
            "INSERT INTO chat_message_fts(rowid, body) "
            "SELECT id, body FROM chat_message WHERE deleted_at IS NULL"
        )
    return True
