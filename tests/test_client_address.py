"""``X-Forwarded-For`` is believed only from ``CHAT_TRUSTED_PROXIES``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.client_address import client_address, scope_address
from chat.conf import chat_settings


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.CHAT_TRUSTED_PROXIES = []
    assert client_address("203.0.113.5", "10.0.0.1") == "203.0.113.5"


def test_a_trusted_proxy_names_the_client_from_the_right(settings):
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    # The client spoofed the first hop; nginx appended the real address.
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.7") == "203.0.113.7"
    # Two trusted hops (load balancer, then nginx) are skipped.
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.7, 10.1.2.3") == "203.0.113.7"


def test_an_untrusted_peer_cannot_name_someone_else(settings):
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("198.51.100.1", "127.0.0.1") == "198.51.100.1"


def test_garbage_in_the_header_falls_back_to_the_peer(settings):
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("127.0.0.1", "not-an-address") == "127.0.0.1"


def test_scope_address_reads_the_asgi_scope(settings):
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1"]
    scope = {"client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
    assert scope_address(scope) == "203.0.113.9"


def test_a_bad_setting_is_refused(settings):
    settings.CHAT_TRUSTED_PROXIES = "127.0.0.1,nonsense"
    with pytest.raises(ImproperlyConfigured, match="CHAT_TRUSTED_PROXIES"):
        chat_settings()
