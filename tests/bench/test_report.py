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
