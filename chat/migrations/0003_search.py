"""Full-text search indexes, one kind per database (see ``chat.search``).

PostgreSQL: a stored ``search_vector`` column (``to_tsvector('simple', body)`` over
the body's letters and digits, kept
current by the database on every insert and edit) with a GIN index over the
messages that are not deleted. SQLite: an FTS5 table over ``chat_message.body``
(external content, so the text is stored once) kept in step by triggers that index
only messages that are not deleted. On any other database both steps do nothing.

Neither touches the model state: Django never reads or writes these columns and
tables; ``chat.search`` queries them with its own SQL. The ``(created_at, id)`` index
is an ordinary model index: it turns a date range into an id range.
"""

from django.db import migrations, models

POSTGRES_FORWARD = [
    # Words are runs of letters and digits, as in SQLite's unicode61 tokenizer and the
    # search box's parser: without the regexp_replace PostgreSQL's parser would keep
    # "example.com" or "a@b.org" whole (no "example" in it) and drop "<b>" tags.
    "ALTER TABLE chat_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "
    "regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED",
    "CREATE INDEX chat_message_search ON chat_message USING gin (search_vector) "
    "WHERE deleted_at IS NULL",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS chat_message_search",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector",
]

# ``remove_diacritics 0``: "café" does not find "cafe", as on PostgreSQL's 'simple'.
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE chat_message_fts USING fts5(body, content='chat_message', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER chat_message_fts_insert AFTER INSERT ON chat_message "
    "WHEN new.deleted_at IS NULL BEGIN "
    "INSERT INTO chat_message_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER chat_message_fts_delete AFTER DELETE ON chat_message "
    "WHEN old.deleted_at IS NULL BEGIN "
    "INSERT INTO chat_message_fts(chat_message_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    # An edit, a deletion (deleted_at set) or a restore: out with the old text if it
    # was indexed, then in with the new one if it is to be. One trigger, so the two
    # steps run in this order (FTS5 needs the old text removed before the new).
    "CREATE TRIGGER chat_message_fts_update AFTER UPDATE OF body, deleted_at "
    "ON chat_message BEGIN "
    "INSERT INTO chat_message_fts(chat_message_fts, rowid, body) "
    "SELECT 'delete', old.id, old.body WHERE old.deleted_at IS NULL; "
    "INSERT INTO chat_message_fts(rowid, body) "
    "SELECT new.id, new.body WHERE new.deleted_at IS NULL; END",
    # Messages stored before this migration.
    "INSERT INTO chat_message_fts(rowid, body) "
    "SELECT id, body FROM chat_message WHERE deleted_at IS NULL",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS chat_message_fts_insert",
    "DROP TRIGGER IF EXISTS chat_message_fts_delete",
    "DROP TRIGGER IF EXISTS chat_message_fts_update",
    "DROP TABLE IF EXISTS chat_message_fts",
]

STATEMENTS = {
    "postgresql": (POSTGRES_FORWARD, POSTGRES_BACKWARD),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def _run(schema_editor, backward: bool) -> None:
    forward_sql, backward_sql = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for statement in backward_sql if backward else forward_sql:
        schema_editor.execute(statement)


def forward(apps, schema_editor) -> None:
    _run(schema_editor, backward=False)


def backward(apps, schema_editor) -> None:
    _run(schema_editor, backward=True)


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_team_chat")]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["created_at", "id"], name="chat_msg_created_id"),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
