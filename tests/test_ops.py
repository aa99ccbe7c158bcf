"""``/healthz`` and ``/metrics`` (chat.views.ops), in process through Django's test client."""

import pytest

from chat import health, metrics
from tests.helpers.processes import free_port
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.django_db


def healthz(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


def test_healthz_in_embedded_mode(client, settings):
    settings.CHAT_REDIS_URL = ""

    status, body = healthz(client)

    assert status == 200
    assert body == {"status": "ok", "database": "ok", "redis": "not configured"}


@pytest.mark.redis
def test_healthz_in_redis_mode(client, settings, redis_url):
    settings.CHAT_REDIS_URL = redis_url

    status, body = healthz(client)

    assert status == 200
    assert body == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_configured_but_nobody_listens(client, settings, caplog):
    settings.CHAT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    status, body = healthz(client)

    assert status == 503
    assert body == {"status": "error", "database": "ok", "redis": "error"}
    # An expected state, logged once as a warning, not as a server ERROR per probe.
    assert [r.levelname for r in caplog.records if "healthz" in r.getMessage()] == ["WARNING"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.redis
@pytest.mark.processes
def test_healthz_follows_redis_going_down_hanging_and_coming_back(client, settings, redis_server):
    settings.CHAT_REDIS_URL = redis_server.url()
    assert healthz(client)[0] == 200

    redis_server.pause(3)  # answers nothing: the probe must give up on its own
    assert healthz(client) == (503, {"status": "error", "database": "ok", "redis": "error"})
    wait_until(lambda: healthz(client)[0] == 200, 10, "healthz to recover after the pause")

    redis_server.stop()
    assert healthz(client)[1]["redis"] == "error"

    redis_server.start()
    assert healthz(client) == (200, {"status": "ok", "database": "ok", "redis": "ok"})


def test_healthz_is_503_when_the_database_fails(client, settings, monkeypatch):
    settings.CHAT_REDIS_URL = ""
    monkeypatch.setattr(health, "database_problem", lambda alias="default": "connection refused")

    status, body = healthz(client)

    assert status == 503
    assert body == {"status": "error", "database": "error", "redis": "not configured"}
    assert "refused" not in str(body)  # details go to the log, not to the public


def test_healthz_is_not_cached_and_only_answers_get(client):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_metrics_exposes_the_chat_metrics_in_prometheus_text(client, settings):
    metrics.ERRORS.labels("bad_request").inc()
    settings.CHAT_METRICS_TOKEN = "scraper-token"  # who may read: tests/test_metrics_access.py

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scraper-token")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "chat_connections",
        "chat_messages_stored_total",
        "chat_deliveries_total",
        "chat_persist_seconds_bucket",
    ):
        assert name in text
    assert 'chat_errors_total{code="bad_request"}' in text


def test_redact_hides_passwords_only():
    assert health.redact("postgres://chat:s3cret@db:5432/x") == "postgres://chat:***@db:5432/x"
    assert health.redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert health.redact("redis://cache:6379/0") == "redis://cache:6379/0"
