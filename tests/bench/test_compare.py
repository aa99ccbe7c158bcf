"""``bench.compare``: the before/after table of ``python -m bench.run --compare-with``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bench import compare
from bench.report import Record
from bench.run import compare_groups


def record(side: str, round_no: int, scenario: str, **result) -> Record:
    group = compare.group_key(side, round_no)
    result.setdefault("latency_ms", {"p50": None, "p99": None})
    return Record(group, group, scenario, SimpleNamespace(**result))


def test_rounds_alternate_before_and_after_with_the_earlier_checkout_on_before():
    groups = compare_groups({"1", "4", "9"}, Path("/tmp/earlier"), rounds=2)

    assert [g.key for g in groups] == ["before-1", "after-1", "before-2", "after-2"]
    assert all(g.scenarios == ("4", "1") for g in groups)
    assert [g.checkout for g in groups] == [Path("/tmp/earlier"), None] * 2


def test_the_table_gives_medians_ratio_and_each_sides_spread():
    records = [
        record("before", 1, "1", deliveries_per_s=1000.0),
        record("after", 1, "1", deliveries_per_s=1500.0),
        record("before", 2, "1", deliveries_per_s=1100.0),
        record("after", 2, "1", deliveries_per_s=1300.0),
    ]

    lines = compare.table(records)

    assert len(lines) == 3
    row = lines[2]
    assert "1,000 deliveries/s<br>1,100 deliveries/s" in row
    # median after 1400 / median before 1050
    assert "| 1.33× |" in row
    assert "| 1.10× | 1.15× |" in row


def test_scenarios_run_on_one_side_only_and_ordinary_runs_give_no_table():
    only_before = [record("before", 1, "3", latency_ms={"p50": 1.0, "p99": 2.0}, lost=0)]
    ordinary = [Record("product", "product", "1", SimpleNamespace(deliveries_per_s=1.0))]

    assert compare.table(only_before + ordinary) == []


def test_the_chart_draws_only_a_comparison(tmp_path):
    records = [
        record("before", 1, "1", deliveries_per_s=1000.0),
        record("after", 1, "1", deliveries_per_s=1200.0),
    ]
    path = tmp_path / "chart.png"

    assert compare.chart([], path, "nothing") is False and not path.exists()
    assert compare.chart(records, path, "memory") is True
    assert path.stat().st_size > 1000
