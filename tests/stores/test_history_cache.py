"""The history cache proves what it returns, or the database answers (and refills it)."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers

from chat import history, services
from chat.stores import history_cache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["local", "redis"])
def cache_mode(request, settings):
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        settings.CHAT_REDIS_URL = request.getfixturevalue("redis_url")
    else:
        settings.CHAT_REDIS_URL = ""
    history_cache.reset()
    channel_layers.backends.clear()
    yield request.param
    history_cache.reset()


def _post(room, user, count):
    for n in range(count):
        services.post_message(room=room, author=user, body=f"m{n + 1}")
    room.refresh_from_db()
    return room


def seqs(entries):
    return [seq for seq, _ in entries]


async def test_empty_cache_falls_back_to_the_database_and_refills(cache_mode, room, user):
    room = await sync_to_async(_post)(room, user, 8)
    await history_cache.cache().clear(room.pk)
    assert seqs(await history.latest(room=room, count=5, last_seq=8)) == [4, 5, 6, 7, 8]
    assert seqs(await history_cache.cache().tail(room.pk, 100)) == list(range(1, 9))


async def test_a_hole_in_the_cache_is_never_returned(cache_mode, room, user):
    room = await sync_to_async(_post)(room, user, 10)
    await history_cache.cache().clear(room.pk)
    entries = history.entries_of(await sync_to_async(_payloads)(room))
    # Entries 1..4 and 7..10 (5 and 6 were lost, or are still on their way).
    await history_cache.cache().add(room.pk, entries[:4] + entries[6:])
    assert seqs(await history_cache.cache().tail(room.pk, 100)) == [1, 2, 3, 4, 7, 8, 9, 10]
    assert seqs(await history.latest(room=room, count=8, last_seq=10)) == list(range(3, 11))
    assert seqs(await history.after(room=room, seq=2, count=8, last_seq=10)) == list(range(3, 11))
    assert seqs(await history.before(room=room, seq=9, count=6)) == [3, 4, 5, 6, 7, 8]


async def test_a_stale_cache_is_not_trusted_for_the_latest(cache_mode, room, user):
    room = await sync_to_async(_post)(room, user, 6)
    await history_cache.cache().clear(room.pk)
    entries = history.entries_of(await sync_to_async(_payloads)(room))
    await history_cache.cache().add(room.pk, entries[:4])  # the cache missed 5 and 6
    assert seqs(await history.latest(room=room, count=3, last_seq=6)) == [4, 5, 6]


async def test_the_cache_is_trimmed_to_its_size(cache_mode, room, user, settings):
    settings.CHAT_CACHE_MESSAGES = 5
    room = await sync_to_async(_post)(room, user, 9)
    await history_cache.cache().clear(room.pk)
    await history_cache.remember(room.pk, history.entries_of(await sync_to_async(_payloads)(room)))
    assert seqs(await history_cache.cache().tail(room.pk, 100)) == [5, 6, 7, 8, 9]
    assert seqs(await history.before(room=room, seq=5, count=3)) == [2, 3, 4]  # from the database


async def test_a_broken_cache_is_logged_and_the_database_answers(room, user, settings, caplog):
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    history_cache.reset()
    try:
        room = await sync_to_async(_post)(room, user, 3)
        assert seqs(await history.latest(room=room, count=10, last_seq=3)) == [1, 2, 3]
        assert seqs(await history.after(room=room, seq=1, count=10, last_seq=3)) == [2, 3]
        assert "history cache unavailable" in caplog.text
    finally:
        history_cache.reset()


async def test_replace_turns_a_cached_message_into_its_tombstone(cache_mode, room, user):
    room = await sync_to_async(_post)(room, user, 3)
    await history_cache.cache().clear(room.pk)
    await history.latest(room=room, count=3, last_seq=3)  # fills the cache
    message = await room.messages.aget(seq=2)
    await sync_to_async(services.delete_message)(message=message, by=user)
    tombstone = history.entries_of(await sync_to_async(_payloads)(room))[1]
    await history_cache.replace(room.pk, tombstone)
    cached = dict(await history_cache.cache().tail(room.pk, 3))
    assert '"deleted":true' in cached[2]


def _payloads(room):
    from chat import selectors

    return selectors.messages_before(room=room, before_seq=None, limit=1000)


async def test_add_many_caches_every_room_of_a_batch_in_one_call(cache_mode, room, user, make_room):
    other = await sync_to_async(make_room)("second-room", created_by=user)
    await history_cache.cache().clear(room.pk)
    await history_cache.cache().clear(other.pk)
    await history_cache.remember_many({room.pk: [(1, "a"), (2, "b")], other.pk: [(7, "x")]})
    assert await history_cache.cache().tail(room.pk, 10) == [(1, "a"), (2, "b")]
    assert await history_cache.cache().tail(other.pk, 10) == [(7, "x")]


@pytest.mark.redis
async def test_add_many_loads_its_script_again_after_redis_forgot_it(room, settings, redis_url):
    # A restarted Redis has no scripts: the pipeline's EVALSHAs answer NOSCRIPT. (A
    # wrong sha stands in for the restart: the shared Redis is never flushed.)
    settings.CHAT_REDIS_URL = redis_url
    history_cache.reset()
    try:
        cache = history_cache.cache()
        await cache.clear(room.pk)
        cache._add.sha = "0" * 40
        await cache.add_many({room.pk: [(1, "a")]})
        assert await cache.tail(room.pk, 10) == [(1, "a")]
    finally:
        history_cache.reset()


async def test_tails_reads_every_rooms_entries_after_a_seq_and_its_newest_at_once(
    cache_mode, room, user, make_room
):
    other = await sync_to_async(make_room)("second-room", created_by=user)
    empty = await sync_to_async(make_room)("empty-room", created_by=user)
    for cleared in (room, other, empty):
        await history_cache.cache().clear(cleared.pk)
    await history_cache.remember_many(
        {room.pk: [(1, "a"), (2, "b"), (3, "c")], other.pk: [(5, "e"), (7, "g")]}
    )

    found = await history_cache.cache().tails({room.pk: 1, other.pk: 7, empty.pk: 0}, 10)

    assert found == {
        room.pk: ([(2, "b"), (3, "c")], (3, "c")),
        other.pk: ([], (7, "g")),
        empty.pk: ([], None),
    }


async def test_cached_tails_answer_only_a_gapless_run_and_the_newest(cache_mode, room, user):
    await history_cache.cache().clear(room.pk)
    await history_cache.remember(room.pk, [(3, "c"), (4, "d"), (6, "f")])

    assert await history.cached_tails({room.pk: 2}) == {room.pk: ([(3, "c"), (4, "d")], (6, "f"))}
    assert await history.cached_tails({room.pk: 1}) == {room.pk: ([], (6, "f"))}  # 2 missing


async def test_cached_tails_of_a_broken_cache_are_empty(room, settings, caplog):
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    history_cache.reset()
    try:
        assert await history.cached_tails({room.pk: 0}) == {room.pk: ([], None)}
    finally:
        history_cache.reset()
    assert "history cache unavailable" in caplog.text


@pytest.mark.redis
async def test_add_many_is_one_script_run_for_every_room_each_trimmed(
    room, user, make_room, settings, redis_url
):
    settings.CHAT_REDIS_URL = redis_url
    settings.CHAT_CACHE_MESSAGES = 2
    history_cache.reset()
    other = await sync_to_async(make_room)("second-room", created_by=user)
    try:
        cache = history_cache.cache()
        for cleared in (room, other):
            await cache.clear(cleared.pk)
        await cache.add(room.pk, [(3, "tombstone")])  # got there first: stays
        script, runs = cache._add, []

        async def counted(**kwargs):
            runs.append(kwargs["keys"])
            return await script(**kwargs)

        cache._add = counted
        await cache.add_many({room.pk: [(1, "a"), (2, "b"), (3, "c")], other.pk: [(9, "i")]})

        assert runs == [[cache.key(room.pk), cache.key(other.pk)]]
        assert await cache.tail(room.pk, 10) == [(2, "b"), (3, "tombstone")]
        assert await cache.tail(other.pk, 10) == [(9, "i")]
    finally:
        history_cache.reset()
