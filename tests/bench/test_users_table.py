"""``bench.users_table``: scenario 9, the seed's table (N connected users over several processes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import redisdb, users_table
from bench.report import Meta
from bench.users_table import FULL, QUICK, Row, layout


def test_100k_users_need_six_processes_with_every_room_on_one_of_them():
    lay = layout(100_000, FULL)

    assert lay.processes == 6
    assert lay.rooms[0] == ("users-big-100000", 1000, 0)
    assert sum(members for _, members, _ in lay.rooms) == 100_000
    assert all(members <= 100 for _, members, _ in lay.rooms[1:])
    per_process = lay.members_per_process()
    assert max(per_process) <= FULL.per_process
    assert max(per_process) - min(per_process) <= 100  # balanced to within one room
    assert lay.workers == 7 and 100_000 / lay.workers < 20_000
    assert lay.sources == [f"127.0.0.{n}" for n in range(2, 12)]


def test_small_sizes_use_one_process_and_only_the_big_room():
    lay = layout(1000, FULL)

    assert lay.processes == 1
    assert lay.rooms == [("users-big-1000", 1000, 0)]
    assert lay.workers == 2
    assert lay.sources == ["127.0.0.2"]


def test_every_member_of_a_room_connects_to_its_process_and_one_member_sends():
    sizes = dataclasses.replace(QUICK, per_process=100, per_source=70)
    lay = layout(200, sizes)
    urls = ["ws://127.0.0.1:1001", "ws://127.0.0.1:1002"]
    conns = users_table.build_conns(lay, urls, [f"t{i}" for i in range(200)])

    assert lay.processes == 2
    assert len({c.token for c in conns}) == 200
    process_of = {slug: process for slug, _, process in lay.rooms}
    for conn in conns:
        assert conn.url.startswith(urls[process_of[conn.room]])
        assert conn.url.endswith("/?v=2")
    senders = [c for c in conns if c.rate != 0]
    assert [c.room for c in senders] == ["users-big-200"]
    assert {c.source for c in conns} == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    # interleaved: both processes get connections from the start
    assert {c.url.split("/ws/")[0] for c in conns[:2]} == set(urls)


def _row(users: int, rss: int, **result) -> Row:
    base = dict(
        connected=users,
        connections=users,
        sent=10,
        refused=0,
        acked=10,
        lost=0,
        received=10 * 5,
        expected=10 * 5,
        disorder=0,
        servers=[SimpleNamespace(rss_ready=rss)],
    )
    base.update(result)
    return Row(users, 6, 7, ["127.0.0.2"], [users], "big", 5, SimpleNamespace(**base), 10)


def test_the_memory_goal_is_met_or_missed_with_the_amount():
    assert "**met** with 300 MB to spare" in users_table.goal_line([_row(100_000, 1_500_000_000)])
    assert "**missed** by 200 MB" in users_table.goal_line([_row(100_000, 2_000_000_000)])
    assert "not measured" in users_table.goal_line([_row(10_000, 1)])
    partial = _row(100_000, 1_000_000_000, connected=90_000)
    assert "not answered" in users_table.goal_line([partial])
    over = _row(100_000, 2_300_000_000, connected=99_000)
    assert "**missed** by at least 500 MB" in users_table.goal_line([over])


def test_every_message_stored_needs_acks_rows_and_deliveries_to_agree():
    assert _row(1000, 1).every_message_stored
    assert not _row(1000, 1, acked=9).every_message_stored
    assert not _row(1000, 1, lost=1, received=49).every_message_stored
    assert not _row(1000, 1, sent=0, acked=0, received=0, expected=0).every_message_stored
    short = _row(1000, 1)
    short.stored_rows = 9
    assert not short.every_message_stored


@pytest.mark.processes
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_tiny_sizes_on_two_processes_end_to_end(tmp_path: Path):
    sizes = dataclasses.replace(QUICK, users=(50, 200), per_process=100, per_source=100)
    with redisdb.claimed_db() as db:
        rows, notes = users_table.run(sizes, tmp_path, db, log=lambda text: None)

    assert [r.users for r in rows] == [50, 200], notes
    for row in rows:
        assert row.all_connected, row.result.connect_failures
        assert row.every_message_stored, (row.result, row.stored_rows)
        assert row.total_rss > 0
    assert rows[1].processes == 2 and len(rows[1].result.servers) == 2
    assert len(rows[1].sources) == 2

    meta = Meta(
        date="2026-01-01",
        mode="quick",
        command="python -m bench.run --quick --scenarios 9",
        commit="abc",
        machine={"nproc": "2", "cpu": "x", "memory": "1 GiB"},
        versions={},
        started="now",
        elapsed_s=1.0,
        sizes=dataclasses.asdict(sizes),
    )
    path = users_table.write(rows, meta, sizes, tmp_path / "out")
    text = path.read_text()
    assert path.name == "2026-01-01-users-quick.md"
    assert "| 200 |" in text and "acked" in text
    assert (tmp_path / "out" / "2026-01-01-users-quick.png").stat().st_size > 1000
    again, meta_again, sizes_again = users_table.load(
        tmp_path / "out" / "2026-01-01-users-quick.json"
    )
    assert sizes_again == sizes and meta_again.command == meta.command
    assert [r.to_dict() for r in again] == [r.to_dict() for r in rows]


def test_error_lines_of_the_server_logs_become_notes(tmp_path: Path):
    log = tmp_path / "product0-1.log"
    log.write_text("started\nERROR chat.realtime: join failed: TimeoutError()\nfine\n")
    proc = SimpleNamespace(name="product0", log_tail=lambda n: log.read_text())

    notes = users_table.server_errors([proc])

    assert notes == [
        "product0 log, last error lines: ERROR chat.realtime: join failed: TimeoutError()"
    ]
