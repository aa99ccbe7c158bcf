"""Embedded-mode presence: counts over tabs, the per-user cap, a crowd in one call."""

from chat.stores.presence import Arriving, LocalPresence


async def test_a_crowd_registers_as_single_arrivals_would():
    store = LocalPresence()
    got = await store.arrive_many(
        [
            Arriving(room_id=1, user_id=7, username="alice", limit=2),
            Arriving(room_id=1, user_id=7, username="alice", limit=2),
            Arriving(room_id=2, user_id=7, username="alice", limit=2),  # over her cap
            Arriving(room_id=1, user_id=8, username="bob", limit=2),
        ]
    )
    assert [(a.accepted, a.first_in_room) for a in got] == [
        (True, True),
        (True, False),
        (False, False),
        (True, True),
    ]
    assert await store.online(1) == ["alice", "bob"] and await store.online(2) == []
    assert await store.depart(room_id=1, user_id=7) is False
    assert await store.depart(room_id=1, user_id=7) is True
