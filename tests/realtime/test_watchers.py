"""``chat.realtime.watchers``: each sidebar socket gets its own counts from one room
summary, at most one frame per room per interval; reads add new rooms to a sidebar."""

from __future__ import annotations

import asyncio
import json

import pytest

from chat.realtime import watchers
from chat.realtime.hub import Hub


class FakeSidebar:
    def __init__(self, user_id: int, username: str, watching: dict[int, str]) -> None:
        self.user_id = user_id
        self.username = username
        self.watching = dict(watching)
        self.token_id = None
        self.frames: list[dict] = []

    async def deliver_sidebar(self, text: str) -> None:
        self.frames.append(json.loads(text))


def _activity(seq: int, *, count=1, authors=None, mentions=None, room_mentions=0) -> dict:
    return {
        "type": "chat.event",
        "kind": "activity",
        "room": 7,
        "slug": "dev",
        "seq": seq,
        "count": count,
        "authors": authors or {},
        "mentions": mentions or {},
        "room_mentions": room_mentions,
    }


async def _until(predicate, timeout=3.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
async def hub(embedded):
    hub = Hub.current()
    yield hub
    await hub.stop()


async def test_each_socket_gets_its_own_new_and_mention_counts(hub, monkeypatch):
    monkeypatch.setattr(watchers, "ACTIVITY_INTERVAL", 0.2)
    alice = FakeSidebar(1, "alice", {7: "dev"})
    bob = FakeSidebar(2, "bob", {7: "dev"})
    for sidebar in (alice, bob):
        await hub.add_sidebar(sidebar)
    assert hub.publisher.watched == {7: hub.watchers.rooms[7]}
    await hub.dispatch(_activity(3, count=3, authors={"bob": 2, "carol": 1}, mentions={"alice": 1}))
    await _until(lambda: alice.frames and bob.frames)
    assert alice.frames == [{"type": "activity", "room": "dev", "seq": 3, "new": 3, "mentions": 1}]
    assert bob.frames == [{"type": "activity", "room": "dev", "seq": 3, "new": 1, "mentions": 0}]

    # Within the interval: held, then sent as one; an older batch arriving late is dropped.
    await hub.dispatch(_activity(4, authors={"carol": 1}))
    await hub.dispatch(_activity(2, authors={"carol": 1}))
    await hub.dispatch(_activity(5, authors={"carol": 1}, room_mentions=1))
    await _until(lambda: len(alice.frames) == 2)
    assert alice.frames[1] == {"type": "activity", "room": "dev", "seq": 5, "new": 2, "mentions": 1}
    await asyncio.sleep(0.3)
    assert len(alice.frames) == 2

    for sidebar in (alice, bob):
        await hub.remove_sidebar(sidebar)
    assert hub.watchers.rooms == {} and hub.watchers.users == {}


async def test_the_author_of_the_newest_message_is_told_they_read_it(hub):
    alice = FakeSidebar(1, "alice", {7: "dev"})
    bob = FakeSidebar(2, "bob", {7: "dev"})
    for sidebar in (alice, bob):
        await hub.add_sidebar(sidebar)
    event = _activity(2, count=2, authors={"bob": 1, "alice": 1}) | {"last_user": "alice"}
    await hub.dispatch(event)
    await _until(lambda: len(alice.frames) == 2 and bob.frames)
    assert alice.frames == [
        {"type": "activity", "room": "dev", "seq": 2, "new": 1, "mentions": 0},
        {"type": "read", "room": "dev", "seq": 2},
    ]
    assert [frame["type"] for frame in bob.frames] == ["activity"]
    for sidebar in (alice, bob):
        await hub.remove_sidebar(sidebar)


async def test_a_read_reaches_the_users_sockets_and_adds_a_new_room(hub):
    alice = FakeSidebar(1, "alice", {})
    other = FakeSidebar(2, "bob", {})
    await hub.add_sidebar(alice)
    await hub.add_sidebar(other)
    await hub.dispatch(
        {"type": "chat.event", "kind": "read", "user": 1, "room": 9, "slug": "new", "seq": 4}
    )
    assert alice.frames == [{"type": "read", "room": "new", "seq": 4}]
    assert other.frames == []
    assert alice.watching == {9: "new"} and 9 in hub.watchers.rooms
    await hub.remove_sidebar(alice)
    await hub.remove_sidebar(other)
