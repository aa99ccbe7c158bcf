"""Smoke test of the search benchmark's code: 1,000 messages, one round, both databases.

No time is judged (that is ``make bench``); only that the bulk fill goes through the
search indexes and that every benchmark query runs and finds what was planted.
"""

from __future__ import annotations

import pytest

from bench import search, search_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_fill_and_measure_a_small_database():
    search_data.fill(1000, log=lambda text: None)

    assert search_data.stored_messages() == 1000
    measured = {row["label"]: row for row in search_data.measure(repeat=1)}

    assert set(measured) == {query.label for query in search_data.QUERIES}
    assert all(len(row["ms"]) == 1 for row in measured.values())
    assert measured["common word (about half of all messages)"]["results"] == 20
    assert measured["no match"]["results"] == 0
    assert measured["rare word (40 messages)"]["results"] > 0


def test_report_judges_against_the_target():
    result = {
        "vendor": "sqlite",
        "fill_s": 1.0,
        "queries": [
            {"label": "fast", "text": "a", "filters": {}, "results": 1, "ms": [1.0, 2.0]},
            {"label": "slow", "text": "b", "filters": {}, "results": 1, "ms": [150.0, 250.0]},
        ],
    }
    meta = {"date": "d", "command": "c", "commit": "x", "messages": 2, "repeat": 2, "machine": {}}

    text = search.report([result], meta, judged=True)

    assert "| fast | `a` | — | 1 | 1.5 | 2.0 | ✅ under |" in text
    assert "| slow | `b` | — | 1 | 200.0 | 250.0 | ❌ over |" in text
    assert search.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
