"""``bench.baselines.bare_daphne``: raw's room semantics under stock daphne, driven by
the load generator over real sockets (the frames the bench expects, nothing lost)."""

from __future__ import annotations

import pytest

from bench import servers
from bench.baselines import bare_daphne
from bench.loadgen import CLOSED_LOOP, LoadPlan, build_conns, run_load
from bench.probe import Probe

pytestmark = [pytest.mark.processes]


def test_the_ready_frame_matches_raws():
    assert bare_daphne.ready_text("r1").startswith('{"type": "ready", "room": {"slug": "r1"')


@pytest.mark.timeout(30)
def test_loadgen_drives_the_daphne_floor(tmp_path):
    server = servers.daphne_server(tmp_path).start()
    try:
        conns = build_conns(
            [server.url], ["floor-a", "floor-b"], 10, rate=CLOSED_LOOP, senders_per_room=1
        )
        plan = LoadPlan(conns=conns, duration=2.0, drain=3.0, workers=2, label="floor")
        result = run_load(plan, Probe([server.pid]), quiet=True)
    finally:
        server.stop()

    assert result.connected == 20, result.connect_failures
    assert result.sent > 0
    # Every member of each room got every message of its room, in order.
    assert result.received == result.sent * 10
    assert result.lost == 0
    assert result.disorder == 0
