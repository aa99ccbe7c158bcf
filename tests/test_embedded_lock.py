"""Embedded mode refuses a second server on the same SQLite file (its cache would go stale).

A moderation done by another process left the first server's in-memory history
cache stale: ``ready`` then showed a deleted message's body.
"""

from __future__ import annotations

import pytest

from tests.helpers.processes import DaphneServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def test_a_second_embedded_server_on_the_same_database_is_refused(live_env):
    if not live_env["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("embedded mode's database is SQLite")
    with DaphneServer(live_env):
        second = DaphneServer(live_env)
        with pytest.raises(RuntimeError) as refused:
            second.start(timeout=20)
        second.cleanup()
    assert "another chat server already serves the embedded database" in str(refused.value)
    # Once the first has stopped, the database is free again.
    with DaphneServer(live_env) as again:
        assert again.is_running()


@pytest.mark.redis
def test_redis_mode_runs_several(live_env, redis_url):
    env = live_env | {"REDIS_URL": redis_url}
    with DaphneServer(env) as first, DaphneServer(env) as second:
        assert first.is_running() and second.is_running()
