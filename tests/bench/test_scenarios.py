"""``bench.scenarios``: scenario 7 (crowds connecting over many rooms) and its verdict."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from bench import scenarios
from bench.scenarios import FULL, SCENARIOS, verdict


def test_scenario_7_spreads_n_connections_over_r_rooms_as_protocol_2_clients():
    sizes = dataclasses.replace(FULL, crowd_connections=300, crowd_rooms=3)
    plan = SCENARIOS["7"].plan(["ws://127.0.0.1:1"], None, sizes)

    assert len(plan.conns) == 300
    assert {c.room for c in plan.conns} == {"crowd-000", "crowd-001", "crowd-002"}
    assert all(c.url.endswith("/?v=2") for c in plan.conns)
    assert plan.connect_concurrency == scenarios.IDLE_CONNECT_CONCURRENCY
    assert SCENARIOS["7"].rooms(sizes) == ["crowd-000", "crowd-001", "crowd-002"]


def test_scenario_7_is_met_within_one_and_a_half_times_raw():
    raw = SimpleNamespace(connect_all_ready_s=10.0)

    def product(seconds):
        return SimpleNamespace(
            connect_all_ready_s=seconds, connected=1, connections=1, latency_ms={}
        )

    assert verdict("7", product(14.9), {"raw": raw}) == (True, "1.49× raw")
    assert verdict("7", product(15.1), {"raw": raw}) == (False, "1.51× raw")
    assert verdict("7", product(12.0), {})[0] is None


def _step(p99, lost=0, connected=1000):
    return SimpleNamespace(
        latency_ms={"p99": p99}, lost=lost, connected=connected, connections=1000, sent=10
    )


def test_scenario_8_steps_are_scenario_3_rooms_at_a_raised_rate():
    plan = scenarios.ramp_plan(["ws://127.0.0.1:1"], None, FULL, 2.5)

    assert len(plan.conns) == 1000
    assert {c.rate for c in plan.conns} == {2.5}
    assert {c.room for c in plan.conns} == set(scenarios.small_rooms(FULL))
    assert plan.duration == FULL.ramp_duration
    assert scenarios.stored_rate(FULL, 2.5) == 2500
    assert "2,500 stored msg/s" in plan.label


def test_scenario_8_counts_the_highest_rate_below_the_first_miss():
    steps = [(1000.0, _step(40)), (2000.0, _step(90)), (3000.0, _step(140)), (4000.0, _step(60))]
    assert scenarios.highest_rate(steps) == 2000.0  # 4,000 after a miss does not count
    assert scenarios.highest_rate([(1000.0, _step(40, lost=1))]) is None
    assert scenarios.highest_rate([(1000.0, _step(40, connected=999))]) is None
    assert not scenarios.ramp_step_ok(_step(None))
