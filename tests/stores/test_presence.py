"""Embedded-mode presence: counts over tabs, the per-user cap, a crowd in one call."""

from chat.stores.presence import SIDEBAR, Arriving, LocalPresence


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


async def test_sidebar_sockets_have_a_cap_of_their_own():
    store = LocalPresence()
    room = Arriving(room_id=1, user_id=7, username="alice", limit=1)
    sidebar = Arriving(room_id=SIDEBAR, user_id=7, username="alice", limit=1)
    got = await store.arrive_many([room, sidebar, sidebar, room])
    assert [a.accepted for a in got] == [True, True, False, False]
    await store.depart(room_id=SIDEBAR, user_id=7)
    assert (await store.arrive_many([sidebar]))[0].accepted
    assert await store.online(1) == ["alice"]
