"""``bench.report``: scenario 8's summary rows (the ramp's highest rate against 3,000/s)."""

from __future__ import annotations

from types import SimpleNamespace

from bench import report
from bench.report import Record


def _record(group, rate, p99):
    result = SimpleNamespace(
        latency_ms={"p99": p99}, lost=0, connected=1000, connections=1000, sent=10
    )
    return Record(group, f"{group} at {rate:,.0f} msg/s", "8", result, step=rate)


def test_the_ramp_row_names_the_rate_held_the_first_miss_and_the_ratio_to_raw():
    records = [
        _record("raw", 1000.0, 3.0),
        _record("raw", 2000.0, 12.0),
        _record("raw", 3000.0, 1011.0),
        _record(report.PRODUCT, 1000.0, 80.0),
        _record(report.PRODUCT, 2000.0, 250.0),
    ]
    (row,) = report.ramp_rows(records, quick=False)

    assert row.startswith("| 8 (SQLite) |")
    assert "1,000 stored msg/s (at 2,000: p99 250 ms, lost 0)" in row
    assert "2,000 stored msg/s (at 3,000: p99 1,011 ms, lost 0)" in row
    assert "| 0.50× |" in row
    assert row.endswith("| **no** |")


def test_a_ramp_that_never_missed_says_so():
    records = [_record(report.PRODUCT_PG, 3000.0, 50.0)]
    (row,) = report.ramp_rows(records, quick=False)
    assert "3,000 stored msg/s (every step held: the ramp's top)" in row
    assert row.endswith("| yes |")


def test_a_report_saved_before_steps_were_stored_gets_them_from_the_labels():
    item = {"scenario": "8", "label": "product (SQLite) at 2,000 msg/s"}
    assert report._step_of(item) == 2000.0
    assert report._step_of({"scenario": "3", "label": "product (SQLite)"}) is None


def _deliveries(group, scenario, per_s):
    result = SimpleNamespace(deliveries_per_s=per_s, latency_ms={})
    return Record(group, group, scenario, result)


def test_the_floor_table_sets_daphne_against_raw_and_the_product_against_daphne():
    records = [
        _deliveries("raw", "1", 50_000.0),
        _deliveries("daphne", "1", 40_000.0),
        _deliveries(report.PRODUCT, "1", 44_000.0),
    ]
    lines = report.floor_table(records)

    assert lines[0] == "## The daphne floor"
    (row,) = [line for line in lines if line.startswith("| 1 |")]
    assert "| 40,000 deliveries/s | 50,000 deliveries/s | 44,000 deliveries/s |" in row
    assert row.endswith("| 0.80× | 1.10× |")


def test_without_the_floor_there_is_no_floor_section():
    assert report.floor_table([_deliveries("raw", "1", 50_000.0)]) == []
