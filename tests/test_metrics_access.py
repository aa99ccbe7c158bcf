"""``/metrics`` only for a bearer token, configured addresses, or with ``DEBUG`` on.

It was public: the Python version, file-descriptor limits and site-wide counts.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.helpers.processes import DaphneServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False
    settings.CHAT_METRICS_TOKEN = "s3cret-scraper-token"
    settings.CHAT_METRICS_ADDRESSES = []
    settings.CHAT_TRUSTED_PROXIES = []


def test_anonymous_is_refused(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"python_info" not in response.content


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic s3cret-scraper-token", "Bearer "])
def test_a_wrong_token_is_refused(client, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 403


def test_the_token_is_accepted(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")
    assert response.status_code == 200
    assert b"chat_connections" in response.content


def test_a_configured_address_needs_no_token(client, settings):
    settings.CHAT_METRICS_ADDRESSES = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


def test_a_spoofed_forwarded_address_does_not_count(client, settings):
    settings.CHAT_METRICS_ADDRESSES = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403


def test_debug_mode_leaves_it_open(client, settings):
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_real_daphne_refuses_anonymous_scrapers(live_env):
    with DaphneServer(live_env | {"CHAT_METRICS_ADDRESSES": ""}) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/metrics", timeout=5)  # noqa: S310
        refused.value.close()  # an HTTPError holds the response and its socket
        request = urllib.request.Request(
            f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}
        )
        with pytest.raises(urllib.error.HTTPError) as bad_token:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310
        bad_token.value.close()
    assert refused.value.code == 403
