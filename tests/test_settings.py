"""Settings in both modes, read in a child process because they are module-level."""

import pytest
from channels_redis.core import RedisChannelLayer
from django.db import connection

from tests.helpers.child import settings_with


def test_embedded_mode_uses_in_process_layer_and_cache_and_sqlite_wal():
    loaded = settings_with(REDIS_URL=None, DATABASE_URL=None)

    assert loaded["REDIS_URL"] == ""
    assert loaded["CHANNEL_LAYERS"]["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["CACHES"]["default"]["BACKEND"].endswith("locmem.LocMemCache")
    database = loaded["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"].endswith("db.sqlite3")
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


def test_redis_mode_uses_channels_redis_with_a_socket_timeout_above_the_blocking_pop():
    url = "redis://127.0.0.1:6379/3"
    loaded = settings_with(REDIS_URL=url)

    layer = loaded["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    (host,) = layer["CONFIG"]["hosts"]
    assert host["address"] == url
    # redis-py 8 defaults socket_timeout to 5 s, the layer blocks 5 s in BZPOPMIN:
    # with equal values idle consumers die (channels_redis#422).
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout
    cache = loaded["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == url


def test_database_url_selects_postgresql():
    loaded = settings_with(DATABASE_URL="postgres://chat:secret@db.example:5433/chatdb")

    database = loaded["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.example", 5433, "chatdb")
    assert database["USER"] == "chat"


@pytest.mark.django_db
def test_the_test_database_really_runs_in_wal_mode():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
