"""The page's online list follows a crowd through protocol 2's ``presence`` frames."""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.sync.client import connect

from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

GUESTS = [f"guest{n}" for n in range(8)]


def test_a_crowd_comes_and_goes_in_the_online_list(
    server, open_ui, user, room, make_user, make_token
):
    tokens = [make_token(make_user(name)) for name in GUESTS]
    alice = open_ui(server.url, user=user)
    received: list[str] = []
    # The room's socket only (the page also opens /ws/me/ for its sidebar).
    alice.page.on(
        "websocket",
        lambda ws: (
            "/ws/rooms/" in ws.url
            and ws.on("framereceived", lambda payload: received.append(payload))
        ),
    )
    alice.open_room("lobby")

    with contextlib.ExitStack() as stack:
        for token in tokens:
            ws = stack.enter_context(
                connect(
                    server.ws_url("/ws/rooms/lobby/?v=2"),
                    additional_headers={"Authorization": f"Bearer {token}"},
                )
            )
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        wait_until(lambda: alice.online() == ["alice", *GUESTS], 10, "the crowd online")
    wait_until(lambda: alice.online() == ["alice"], 10, "the crowd gone")

    frames = [json.loads(text) for text in received if isinstance(text, str)]
    assert frames[0]["type"] == "ready" and frames[0]["protocol"] == 2
    kinds = [frame["type"] for frame in frames]
    assert "presence" in kinds
    assert "join" not in kinds and "leave" not in kinds
    assert not alice.errors
