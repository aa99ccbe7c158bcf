"""Real database faults for tests: a held write lock, inserts that fail."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from asgiref.sync import sync_to_async


def hold_write_lock(room_id: int, seconds: float, held: threading.Event) -> None:
    """Take the lock every send needs, keep it ``seconds``, release it (run it in a thread).

    ``BEGIN IMMEDIATE`` on SQLite, the room's row ``FOR UPDATE`` on PostgreSQL.
    """
    from django.db import connection, connections, transaction

    if connection.vendor == "sqlite":
        db = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=10)
        try:
            db.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(seconds)
            db.execute("ROLLBACK")
        finally:
            db.close()
        return
    try:
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("SELECT id FROM chat_room WHERE id = %s FOR UPDATE", [room_id])
            held.set()
            time.sleep(seconds)
    finally:
        connections["default"].close()


@contextmanager
def failing_message_inserts() -> Iterator[None]:
    """Every INSERT into the message table fails in the database (a trigger) while inside.

    The database refuses the write as it would when broken; the transaction rolls back.
    Needs a transactional test: the trigger must be visible to other connections.
    """
    from django.db import connection

    from chat.models import Message

    table = connection.ops.quote_name(Message._meta.db_table)
    if connection.vendor == "sqlite":
        create = [
            f"CREATE TRIGGER chat_test_fail BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS chat_test_fail"]
    elif connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION chat_test_fail() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER chat_test_fail BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION chat_test_fail()",
        ]
        drop = [
            f"DROP TRIGGER IF EXISTS chat_test_fail ON {table}",
            "DROP FUNCTION IF EXISTS chat_test_fail()",
        ]
    else:
        raise NotImplementedError(connection.vendor)
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)


@asynccontextmanager
async def failing_message_inserts_async() -> AsyncIterator[None]:
    """``failing_message_inserts`` for async tests."""
    manager = failing_message_inserts()
    await sync_to_async(manager.__enter__)()
    try:
        yield
    finally:
        await sync_to_async(manager.__exit__)(None, None, None)
