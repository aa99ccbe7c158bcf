"""``bench.baselines.bare_daphne``: raw's frames, built the same way (the load generator
drives it over real sockets in ``test_smoke``)."""

from __future__ import annotations

import json

from bench.baselines import bare_daphne


def test_the_ready_frame_matches_raws():
    ready = json.loads(bare_daphne.ready_text("r1"))
    assert ready["type"] == "ready"
    assert ready["room"]["slug"] == "r1"
    assert ready["messages"] == []


def test_messages_are_numbered_per_room_and_carry_the_client_id():
    first = bare_daphne.message_payload("floor-x", {"body": "hi", "client_id": "c1"})
    second = bare_daphne.message_payload("floor-x", {"body": "again"})
    other = bare_daphne.message_payload("floor-y", {"body": "elsewhere"})
    assert (first["seq"], second["seq"], other["seq"]) == (1, 2, 1)
    assert first["client_id"] == "c1"
    assert first["body"] == "hi"
    assert second["id"] > first["id"]
