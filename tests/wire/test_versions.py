"""The ``v`` query parameter: which protocol version a connection speaks."""

import pytest

from chat.wire import versions
from chat.wire.errors import CloseCode, Refusal


def test_a_client_that_does_not_ask_gets_version_1():
    assert versions.parse_version(b"") == versions.ORIGINAL == 1
    assert versions.parse_version(b"since=4") == 1
    assert versions.parse_version(b"v=") == 1  # blank, as for since: not given


@pytest.mark.parametrize(("query", "version"), [(b"v=1", 1), (b"v=2", 2), (b"since=3&v=2", 2)])
def test_a_known_version_is_used(query, version):
    assert versions.parse_version(query) == version


def test_a_newer_client_gets_the_newest_version_the_server_knows():
    assert versions.parse_version(b"v=9") == versions.LATEST == versions.BATCHED_PRESENCE


@pytest.mark.parametrize("query", [b"v=0", b"v=x", b"v=-1", b"v=1234567", "v=２".encode()])
def test_a_malformed_version_is_refused_with_4400(query):
    with pytest.raises(Refusal) as refused:
        versions.parse_version(query)
    assert refused.value.close_code == CloseCode.BAD_REQUEST


def test_the_client_query_names_the_version_and_since():
    assert versions.query() == "v=2"
    assert versions.query(since=7) == "v=2&since=7"
    assert versions.query(version=1) == "v=1"
