"""The hot paths' reads as SQL: every WebSocket connect, and every batch of messages.

A connect reads the bearer token's user and the room with the user's relation to it.
Built with the ORM, those two queries cost ~3.5 ms of Python each time (query
building and compiling; the SQL itself runs in well under 0.1 ms), on the one
database thread every connection of a process shares: a crowd of 1,000 arriving at
once waited seconds on it. Here the SQL text is built from the models' own table and
column names, so it follows custom user models and db_table settings, and ``raw()``
still returns model instances.

A batch of messages looks up rows by exact (room, user[, client_id]) keys. As
``room IN (..) AND user IN (..)`` SQLite probes the index for every combination of
the lists (100 rooms x 500 authors = 50,000 probes per query); joining the exact
keys as a VALUES list probes once per key, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connections, models

from .models import ApiToken, Ban, Room


def _column(model, name: str) -> str:
    return model._meta.get_field(name).column


@functools.cache
def _room_sql(vendor: str) -> str:
    quote = connections["default"].ops.quote_name
    room, ban = Room._meta, Ban._meta
    members, moderators = Room.members.through, Room.moderators.through
    room_pk = f"{quote(room.db_table)}.{quote(room.pk.column)}"

    def relation(through) -> str:
        return (
            f"EXISTS (SELECT 1 FROM {quote(through._meta.db_table)} r"  # noqa: S608 - names, not values
            f" WHERE r.{quote(_column(through, 'room'))} = {room_pk}"
            f" AND r.{quote(_column(through, 'user'))} = %s)"
        )

    until = quote(_column(Ban, "until"))
    return (
        f"SELECT {quote(room.db_table)}.*,"  # noqa: S608 - names from the models; values are parameters
        f" {relation(members)} AS user_is_member,"
        f" {relation(moderators)} AS user_moderates,"
        f" EXISTS (SELECT 1 FROM {quote(ban.db_table)} b"
        f" WHERE b.{quote(_column(Ban, 'room'))} = {room_pk}"
        f" AND b.{quote(_column(Ban, 'user'))} = %s"
        f" AND (b.{until} IS NULL OR b.{until} > %s)) AS user_is_banned"
        f" FROM {quote(room.db_table)} WHERE {quote(room.db_table)}.{quote(_column(Room, 'slug'))} = %s"
    )


@functools.cache
def _token_user_sql(vendor: str) -> str:
    quote = connections["default"].ops.quote_name
    user_model = get_user_model()
    users, tokens = quote(user_model._meta.db_table), quote(ApiToken._meta.db_table)
    used = f"t.{quote(_column(ApiToken, 'last_used_at'))}"
    return (
        f"SELECT {users}.*, t.{quote(ApiToken._meta.pk.column)} AS chat_token_id,"  # noqa: S608 - as above
        f" CASE WHEN {used} IS NULL OR {used} < %s THEN 1 ELSE 0 END AS chat_token_stale"
        f" FROM {tokens} t JOIN {users}"
        f" ON {users}.{quote(user_model._meta.pk.column)} = t.{quote(_column(ApiToken, 'user'))}"
        f" WHERE t.{quote(_column(ApiToken, 'key_hash'))} = %s"
        f" AND t.{quote(_column(ApiToken, 'revoked_at'))} IS NULL"
    )


def rows_matching(
    model: type[models.Model],
    fields: tuple[str, ...],
    keys: Iterable[tuple],
    *,
    in_force_at: datetime | None = None,
) -> list[models.Model]:
    """``model`` rows whose ``fields`` equal one of ``keys``, in one query.

    With ``in_force_at``, only rows whose ``until`` is empty or after it (bans, mutes).
    """
    keys = list(keys)
    if not keys:
        return []
    quote = connections["default"].ops.quote_name
    on = " AND ".join(
        f"t.{quote(_column(model, name))} = k.column{n}" for n, name in enumerate(fields, 1)
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [value for key in keys for value in key]
    sql = (
        f"SELECT t.* FROM (VALUES {', '.join([row] * len(keys))}) AS k"  # noqa: S608 - as above
        f" JOIN {quote(model._meta.db_table)} t ON {on}"
    )
    if in_force_at is not None:
        until = f"t.{quote(_column(model, 'until'))}"
        sql += f" WHERE ({until} IS NULL OR {until} > %s)"
        params.append(_when(in_force_at))
    return list(model.objects.raw(sql, params))


def _when(moment: datetime):
    return connections["default"].ops.adapt_datetimefield_value(moment)


def room_with_access(*, slug: str, user_id: int, now: datetime) -> Room | None:
    """The room by slug, with ``user_is_member``, ``user_moderates`` and ``user_is_banned``."""
    sql = _room_sql(connections["default"].vendor)
    rows = list(Room.objects.raw(sql, [user_id, user_id, user_id, _when(now), slug]))
    if not rows:
        return None
    room = rows[0]
    # SQLite answers EXISTS with 0/1; callers get booleans on every database.
    for name in ("user_is_member", "user_moderates", "user_is_banned"):
        setattr(room, name, bool(getattr(room, name)))
    return room


def token_user(*, key_hash: str, used_before: datetime):
    """The user of the unrevoked token ``key_hash``, or None.

    The user carries ``chat_token_id`` and ``chat_token_stale`` (its last use is
    older than ``used_before``, or never).
    """
    sql = _token_user_sql(connections["default"].vendor)
    rows = list(get_user_model().objects.raw(sql, [_when(used_before), key_hash]))
    if not rows:
        return None
    user = rows[0]
    user.chat_token_stale = bool(user.chat_token_stale)
    return user
