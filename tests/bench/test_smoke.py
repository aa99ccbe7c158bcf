"""Smoke test of the benchmark suite: the raw and daphne baselines under the load generator.

No numbers are judged (performance lives in ``make bench``): only that the suite's
moving parts work together, so a broken load generator shows up in ``make test``.
"""

from __future__ import annotations

import pytest

from bench import servers
from bench.loadgen import CLOSED_LOOP, LoadPlan, build_conns, run_load
from bench.probe import Probe

pytestmark = [pytest.mark.processes, pytest.mark.redis]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "start", [servers.raw_server, servers.daphne_server], ids=["raw", "daphne"]
)
def test_loadgen_drives_a_baseline(tmp_path, start):
    server = start(tmp_path).start()
    try:
        conns = build_conns(
            [server.url], ["smoke-a", "smoke-b"], 10, rate=CLOSED_LOOP, senders_per_room=1
        )
        plan = LoadPlan(conns=conns, duration=2.0, drain=3.0, workers=2, label="smoke")
        result = run_load(plan, Probe([server.pid]), quiet=True)
    finally:
        server.stop()

    assert result.connected == 20, result.connect_failures
    assert result.sent > 0
    # Every member of each room (the sender too) got every message of its room, in order.
    assert result.received == result.sent * 10
    assert result.deliveries_per_s > 0
    assert result.lost == 0
    assert result.disorder == 0
    assert result.servers[0].rss_ready > 0
