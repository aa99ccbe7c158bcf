"""Protocol 2 presence: one ``presence`` frame per window; protocol 1 clients keep join/leave."""

import asyncio
from contextlib import AsyncExitStack

import pytest

from chat.realtime import hub
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

V1 = "/ws/rooms/lobby/"
V2 = "/ws/rooms/lobby/?v=2"


async def presence_about(client, name: str, change: str) -> dict:
    """The next ``presence`` frame with ``name`` in ``change`` (``joined`` or ``left``).

    A member's own arrival may come first (``joined: ["alice"]``), alone or with others.
    """
    while True:
        frame = await client.expect("presence")
        if name in frame[change]:
            return frame


async def test_ready_names_the_protocol_version(mode, room, token):
    async with connect(V1, token=token) as old, connect(V2, token=token) as new:
        assert old.ready["protocol"] == 1
        assert new.ready["protocol"] == 2


async def test_a_malformed_version_is_refused_with_4400(mode, room, token):
    async with connect("/ws/rooms/lobby/?v=two", token=token, expect_ready=False) as client:
        await client.expect_close(4400)
    assert client.seen[-1]["type"] == "error"


async def test_arrival_and_departure_come_as_presence_frames(mode, room, token, other_token):
    async with connect(V2, token=token) as alice:
        # Her own arrival may be echoed (joined: ["alice"]): she is online.
        async with connect(V2, token=other_token) as bob:
            joined = await presence_about(alice, "bob", "joined")
            assert joined["left"] == [] and set(joined["joined"]) <= {"alice", "bob"}
            assert bob.ready["online"] == ["alice", "bob"]
        left = await presence_about(alice, "bob", "left")
        assert left == {"type": "presence", "joined": [], "left": ["bob"]}
        assert not [f for f in alice.seen if f["type"] in ("join", "leave")]


async def test_presence_counts_tabs(mode, room, token, other_token):
    async with connect(V2, token=token) as alice:
        async with connect(V2, token=other_token):
            await presence_about(alice, "bob", "joined")
            async with connect(V2, token=other_token):
                pass  # bob's second tab opens and closes: no change
            await alice.send("ping")
            await alice.expect("pong")
            about_bob = [f for f in alice.seen if "bob" in f.get("joined", []) + f.get("left", [])]
            assert len(about_bob) == 1
        await presence_about(alice, "bob", "left")


async def test_old_and_new_clients_in_one_room_each_get_their_frames(
    mode, room, token, make_user, make_token
):
    carol = await asyncio.to_thread(make_token, await asyncio.to_thread(make_user, "carol"))
    async with connect(V1, token=token) as old, connect(V2, token=token) as new:
        async with connect(V2, token=carol):
            await old.expect("join", user="carol")
            await presence_about(new, "carol", "joined")
        await old.expect("leave", user="carol")
        await presence_about(new, "carol", "left")
    assert "presence" not in [f["type"] for f in old.seen]
    assert not [f for f in new.seen if f["type"] in ("join", "leave")]


async def test_a_crowd_arriving_together_costs_a_member_a_few_frames(
    mode, room, token, make_user, make_token, monkeypatch
):
    # A long window, so that a slow machine still gathers the crowd in one or two.
    monkeypatch.setattr(hub, "BATCH_WINDOW", 0.5)
    names = [f"guest{n:02d}" for n in range(12)]

    def tokens():
        return [make_token(make_user(name)) for name in names]

    crowd_tokens = await asyncio.to_thread(tokens)
    async with connect(V2, token=token) as alice, AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(connect(V2, token=t)) for t in crowd_tokens)
        )
        seen: set[str] = set()
        while not seen >= set(names):
            frame = await alice.expect("presence")
            assert frame["left"] == []
            seen.update(frame["joined"])
        frames = [f for f in alice.seen if f["type"] == "presence"]
        # One frame per batch window (alice's own arrival may have had one of its
        # own), not one per arrival: 12 would be the old way.
        assert len(frames) <= 3
        assert not [f for f in alice.seen if f["type"] == "join"]
