"""``chat.realtime.readers``: a moved position is published to the user's sidebars and
saved by the flusher within the window; a failed save is kept for the next round."""

from __future__ import annotations

import asyncio

import pytest

from chat import unread
from chat.models import ReadPosition
from chat.realtime import readers
from chat.stores.read_positions import read_positions

pytestmark = pytest.mark.django_db(transaction=True)


async def _until(predicate, timeout=6.0):
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_reads_are_published_and_saved_once_per_window(embedded, user, room, monkeypatch):
    saves = []
    original = unread.save_read_positions

    def counting(positions):
        saves.append(list(positions))
        return original(positions)

    monkeypatch.setattr(unread, "save_read_positions", counting)
    published = []

    async def send(event):
        published.append(event)

    monkeypatch.setattr(readers, "_send_read", send)
    for seq in range(1, 21):
        moved = await readers.mark(user_id=user.pk, room_id=room.pk, slug="lobby", seq=seq)
        assert moved
    assert not await readers.mark(user_id=user.pk, room_id=room.pk, slug="lobby", seq=5)
    assert [event["seq"] for event in published] == list(range(1, 21))

    async def saved():
        row = await ReadPosition.objects.filter(user=user, room=room).afirst()
        return row is not None and row.seq == 20

    await _until(saved)
    assert saves == [[(user.pk, room.pk, 20)]]  # twenty reads, one write


async def test_a_failed_save_is_kept_for_the_next_round(embedded, user, room, monkeypatch):
    def failing(positions):
        raise RuntimeError("database down")

    monkeypatch.setattr(unread, "save_read_positions", failing)
    await read_positions().advance(user.pk, room.pk, 4)
    await readers.flush(user_id=user.pk, room_id=room.pk)
    assert read_positions().pending.seqs == {(user.pk, room.pk): 4}
    monkeypatch.undo()
    await readers.flush_all()
    assert (await ReadPosition.objects.aget(user=user, room=room)).seq == 4


async def test_opened_prefers_a_newer_unsaved_position(embedded, user, room):
    assert await readers.opened(user_id=user.pk, room_id=room.pk, last_seq=0) == 0
    await read_positions().advance(user.pk, room.pk, 6)
    assert await readers.opened(user_id=user.pk, room_id=room.pk, last_seq=6) == 6


async def test_marks_of_posts_do_not_wait_collapse_and_send_nothing(
    embedded, user, room, monkeypatch
):
    sent = []

    async def send(event):
        sent.append(event)

    monkeypatch.setattr(readers, "_send_read", send)
    for seq in (3, 5, 4):
        readers.mark_later(user_id=user.pk, room_id=room.pk, slug="lobby", seq=seq)
    store = read_positions()
    assert store.pending.seqs == {}  # nothing awaited yet

    async def marked():
        return bool(store.pending.seqs)

    await _until(marked)
    await asyncio.sleep(0.05)
    assert store.pending.seqs == {(user.pk, room.pk): 5}
    assert sent == []  # the room's activity tells the sidebars (watchers)
    await readers.flush_all()
    assert (await ReadPosition.objects.aget(user=user, room=room)).seq == 5


async def test_a_big_flush_goes_in_chunks_and_a_failed_chunk_keeps_the_rest(
    embedded, user, room, monkeypatch
):
    # Each chunk is one trip to the database thread, so message batches go between.
    trips = []
    original = unread.save_read_positions

    def chunked(positions):
        trips.append(len(positions))
        if len(trips) == 2:
            raise RuntimeError("database down")
        return original(positions)

    monkeypatch.setattr(unread, "save_read_positions", chunked)
    monkeypatch.setattr(readers, "SAVE_CHUNK", 1)
    # The first chunk is saved; the second fails: it and the third wait for the next round.
    positions = [(user.pk, room.pk, 7), *[(user.pk, 10_000 + n, 1) for n in range(2)]]
    await readers._save(positions)
    assert trips == [1, 1]
    assert (await ReadPosition.objects.aget(user=user, room=room)).seq == 7
    assert read_positions().pending.seqs == {(user.pk, 10_000 + n): 1 for n in range(2)}
