"""The hot paths' SQL: every WebSocket connect, and every batch of messages.

A connect reads the bearer token's user and the room with the user's relation to it.
Built with the ORM, those two queries cost ~3.5 ms of Python each time (query
building and compiling; the SQL itself runs in well under 0.1 ms), on the one
database thread every connection of a process shares: a crowd of 1,000 arriving at
once waited seconds on it. Here the SQL text is built from the models' own table and
column names, so it follows custom user models and db_table settings, and ``raw()``
still returns model instances.

A batch of messages asks one question per (room, author, client_id) key: is the
author banned, muted (until when), a moderator, a member, and which message did that
client_id store already? One statement answers all of them for the whole batch
(``batch_access``): five queries, each building model instances, cost a busy
process's database thread more than the INSERT did.

A batch of messages looks up rows by exact (room, user[, client_id]) keys. As
``room IN (..) AND user IN (..)`` SQLite probes the index for every combination of
the lists (100 rooms x 500 authors = 50,000 probes per query); joining the exact
keys as a VALUES list probes once per key, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connections, models
from django.utils.dateparse import parse_datetime

from chat.models import ApiToken, Ban, Message, Mute, Room


def _column(model, name: str) -> str:
    return model._meta.get_field(name).column


@functools.cache
def _room_sql(vendor: str) -> str:
    """Rooms by slug, each joined with one user (``k.column2``) and their relation to it."""
    quote = connections["default"].ops.quote_name
    room = Room._meta
    members, moderators = Room.members.through, Room.moderators.through
    rooms = quote(room.db_table)
    room_pk = f"{rooms}.{quote(room.pk.column)}"

    def relation(through) -> str:
        return (
            f"EXISTS (SELECT 1 FROM {quote(through._meta.db_table)} r"  # noqa: S608 - names, not values
            f" WHERE r.{quote(_column(through, 'room'))} = {room_pk}"
            f" AND r.{quote(_column(through, 'user'))} = k.column2)"
        )

    def sanction(model, alias: str) -> str:
        until = f"{alias}.{quote(_column(model, 'until'))}"
        return (
            f" FROM {quote(model._meta.db_table)} {alias}"  # noqa: S608 - names, not values
            f" WHERE {alias}.{quote(_column(model, 'room'))} = {room_pk}"
            f" AND {alias}.{quote(_column(model, 'user'))} = k.column2"
            f" AND ({until} IS NULL OR {until} > %s)"
        )

    mute_until = quote(_column(Mute, "until"))
    # "{values}" is filled with one "(%s, %s)" per (slug, user) pair; the three "%s"
    # before it are the time the bans and mutes are in force at.
    return (
        f"SELECT {rooms}.*, k.column2 AS chat_user_id,"  # noqa: S608 - names from the models; values are parameters
        f" {relation(members)} AS user_is_member,"
        f" {relation(moderators)} AS user_moderates,"
        f" EXISTS (SELECT 1{sanction(Ban, 'b')}) AS user_is_banned,"
        f" EXISTS (SELECT 1{sanction(Mute, 'm')}) AS user_is_muted,"
        f" (SELECT m.{mute_until}{sanction(Mute, 'm')}) AS user_mute_until"
        f" FROM (VALUES {{values}}) AS k"
        f" JOIN {rooms} ON {rooms}.{quote(_column(Room, 'slug'))} = k.column1"
    )


@functools.cache
def _token_user_sql(vendor: str) -> str:
    """Users by token hash; "{hashes}" is filled with one "%s" per hash."""
    quote = connections["default"].ops.quote_name
    user_model = get_user_model()
    users, tokens = quote(user_model._meta.db_table), quote(ApiToken._meta.db_table)
    used = f"t.{quote(_column(ApiToken, 'last_used_at'))}"
    key_hash = f"t.{quote(_column(ApiToken, 'key_hash'))}"
    return (
        f"SELECT {users}.*, t.{quote(ApiToken._meta.pk.column)} AS chat_token_id,"  # noqa: S608 - as above
        f" {key_hash} AS chat_token_hash,"
        f" CASE WHEN {used} IS NULL OR {used} < %s THEN 1 ELSE 0 END AS chat_token_stale"
        f" FROM {tokens} t JOIN {users}"
        f" ON {users}.{quote(user_model._meta.pk.column)} = t.{quote(_column(ApiToken, 'user'))}"
        f" WHERE {key_hash} IN ({{hashes}})"
        f" AND t.{quote(_column(ApiToken, 'revoked_at'))} IS NULL"
        f" AND t.{quote(_column(ApiToken, 'created_at'))} > %s"
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


def rooms_with_access(
    pairs: Iterable[tuple[str, int]], *, now: datetime
) -> dict[tuple[str, int], Room]:
    """For each (slug, user id): the room, with ``user_is_member``, ``user_moderates``,
    ``user_is_banned``, ``user_is_muted`` and ``user_mute_until`` (None: until lifted)
    for that user; pairs whose slug is no room are left out."""
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return {}
    sql = _room_sql(connections["default"].vendor).format(
        values=", ".join(["(%s, %s)"] * len(pairs))
    )
    when = _when(now)
    params = [when, when, when, *(value for pair in pairs for value in pair)]
    found = {}
    for room in Room.objects.raw(sql, params):
        # SQLite answers EXISTS with 0/1; callers get booleans on every database.
        for name in ("user_is_member", "user_moderates", "user_is_banned", "user_is_muted"):
            setattr(room, name, bool(getattr(room, name)))
        room.user_mute_until = _datetime(room.user_mute_until)
        found[(room.slug, int(room.chat_user_id))] = room
    return found


def room_with_access(*, slug: str, user_id: int, now: datetime) -> Room | None:
    """``rooms_with_access`` for one pair: the room, or None."""
    return rooms_with_access([(slug, user_id)], now=now).get((slug, user_id))


def token_users(
    key_hashes: Iterable[str], *, used_before: datetime, issued_after: datetime
) -> dict[str, models.Model]:
    """The users of the unrevoked tokens among ``key_hashes`` issued after ``issued_after``, by hash.

    Each user carries ``chat_token_id`` and ``chat_token_stale`` (its last use is
    older than ``used_before``, or never).
    """
    key_hashes = list(dict.fromkeys(key_hashes))
    if not key_hashes:
        return {}
    sql = _token_user_sql(connections["default"].vendor).format(
        hashes=", ".join(["%s"] * len(key_hashes))
    )
    found = {}
    params = [_when(used_before), *key_hashes, _when(issued_after)]
    for user in get_user_model().objects.raw(sql, params):
        user.chat_token_stale = bool(user.chat_token_stale)
        found[user.chat_token_hash] = user
    return found


def lock_rooms(room_ids: list[int]) -> dict[int, Room]:
    """The rooms of a batch by pk, locked until commit, in pk order (two batches never
    deadlock).

    ``Room.objects.select_for_update().filter(pk__in=...).order_by("pk")`` reads the
    same rows, but building and compiling it was half of a one-message batch's time
    on the database thread (~0.4 ms of ~0.8). PostgreSQL locks the rows (``FOR
    UPDATE``); SQLite has no row locks and needs none: the batch's ``IMMEDIATE``
    transaction holds the write lock already.
    """
    connection = connections["default"]
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    pk = quote(Room._meta.pk.column)
    sql = (
        f"SELECT * FROM {quote(Room._meta.db_table)}"  # noqa: S608 - names from the model; values are parameters
        f" WHERE {pk} IN ({', '.join(['%s'] * len(room_ids))}) ORDER BY {pk}{lock}"
    )
    return {room.pk: room for room in Room.objects.raw(sql, list(room_ids))}


def insert_messages(messages: list[Message]) -> None:
    """INSERT a batch in one statement and set each message's id.

    ``bulk_create`` does the same, but builds the statement field by field and
    value by value in Python, which under load was the costliest part of a batch.
    (SQLite 3.35+ and PostgreSQL both have INSERT ... RETURNING.)
    """
    connection = connections["default"]
    quote = connection.ops.quote_name
    fields = ("room", "author", "body", "seq", "client_id", "created_at")
    # The reply column only in a batch with a reply: plain batches keep their statement.
    replies = any(message.reply_to_id is not None for message in messages)
    if replies:
        fields += ("reply_to",)
    columns = ", ".join(quote(_column(Message, name)) for name in fields)
    created_at = _when(messages[0].created_at)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list = []
    for message in messages:
        params += [
            message.room_id,
            message.author_id,
            message.body,
            message.seq,
            message.client_id,
            created_at,
        ]
        if replies:
            params.append(message.reply_to_id)
    sql = (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) "  # noqa: S608 - as above
        f"VALUES {', '.join([row] * len(messages))} RETURNING {quote(Message._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [found[0] for found in cursor.fetchall()]
    for message, pk in zip(messages, ids, strict=True):
        message.pk = pk
        message._state.adding = False


def set_last_seqs(seqs: dict[int, int], now: datetime) -> None:
    """Move each room's ``last_seq`` (and last activity) on: one statement, many rows.

    An ORM ``update(last_seq=Case(When...))`` spent milliseconds of Python building
    its CASE per batch; executemany is a C loop in both database drivers.
    """
    connection = connections["default"]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Room._meta.db_table)}"  # noqa: S608 - as above
        f" SET {quote(_column(Room, 'last_seq'))} = %s,"
        f" {quote(_column(Room, 'last_message_at'))} = %s"
        f" WHERE {quote(Room._meta.pk.column)} = %s"
    )
    when = _when(now)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(seq, when, room_id) for room_id, seq in sorted(seqs.items())])


@dataclass(frozen=True, slots=True)
class Access:
    """One (room, author, client_id) key of a batch: the author's standing in the room."""

    banned: bool
    muted: bool
    mute_until: datetime | None  # None with ``muted``: until lifted
    moderates: bool  # a room moderator (staff moderators are the caller's business)
    member: bool
    stored_id: int | None  # the message this client_id stored already, if any


@functools.cache
def _access_sql(vendor: str) -> str:
    """Per key ``(room, user, client_id)`` of a VALUES list, the columns of ``Access``."""
    quote = connections["default"].ops.quote_name
    members, moderators = Room.members.through, Room.moderators.through

    def row_of(model, user_field: str = "user", extra: str = "") -> str:
        return (
            f" FROM {quote(model._meta.db_table)} x"  # noqa: S608 - names from the models
            f" WHERE x.{quote(_column(model, 'room'))} = k.column1"
            f" AND x.{quote(_column(model, user_field))} = k.column2{extra}"
        )

    def in_force(model) -> str:
        until = f"x.{quote(_column(model, 'until'))}"
        return f" AND ({until} IS NULL OR {until} > %s)"

    mute_until = quote(_column(Mute, "until"))
    client_id = f" AND x.{quote(_column(Message, 'client_id'))} = k.column3"
    # "{values}" is filled with one "(%s, %s, %s)" per key; the two "%s" above come first.
    return (
        f"SELECT EXISTS (SELECT 1{row_of(Ban, extra=in_force(Ban))}),"  # noqa: S608 - as above
        f" EXISTS (SELECT 1{row_of(Mute, extra=in_force(Mute))}),"
        f" (SELECT x.{mute_until}{row_of(Mute)}),"
        f" EXISTS (SELECT 1{row_of(moderators)}),"
        f" EXISTS (SELECT 1{row_of(members)}),"
        f" (SELECT x.{quote(Message._meta.pk.column)}{row_of(Message, 'author', client_id)})"
        f" FROM (VALUES {{values}}) AS k"
    )


def batch_access(keys: list[tuple[int, int, str | None]], *, now: datetime) -> list[Access]:
    """``Access`` of each ``(room id, user id, client_id or None)`` key, in order: one query."""
    if not keys:
        return []
    connection = connections["default"]
    sql = _access_sql(connection.vendor).format(values=", ".join(["(%s, %s, %s)"] * len(keys)))
    when = _when(now)
    params = [when, when, *(value for key in keys for value in key)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Access(
            banned=bool(banned),
            muted=bool(muted),
            mute_until=_datetime(until) if muted else None,
            moderates=bool(moderates),
            member=bool(member),
            stored_id=stored_id,
        )
        for banned, muted, until, moderates, member, stored_id in rows
    ]


def _datetime(value) -> datetime | None:
    # PostgreSQL answers an aware datetime; SQLite a naive one or its text (UTC, as
    # Django wrote it), depending on how the driver typed the subquery's column.
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
