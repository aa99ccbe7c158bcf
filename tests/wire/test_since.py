"""``chat.wire.since``: the ``since`` query parameter, or a 4400 refusal."""

import pytest

from chat.wire.errors import CloseCode, Refusal
from chat.wire.since import MAX_DIGITS, parse_changes, parse_since


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", None),
        (b"other=1", None),
        (b"since=", None),  # a blank value counts as absent
        (b"since=0", 0),
        (b"since=42", 42),
        (b"since=007", 7),
        (b"since=1&since=9", 9),  # the last one wins
        (b"token=x&since=5", 5),
        (("since=" + "9" * MAX_DIGITS).encode(), int("9" * MAX_DIGITS)),
    ],
)
def test_since_values(query, expected):
    assert parse_since(query) == expected


@pytest.mark.parametrize(
    "value",
    ["-1", "+1", "1.5", "abc", "1e3", " 1", "%D9%A3", "9" * (MAX_DIGITS + 1)],
    ids=["negative", "plus", "decimal", "letters", "exponent", "space", "arabic-digit", "long"],
)
def test_a_malformed_since_is_refused_with_4400(value):
    with pytest.raises(Refusal) as refused:
        parse_since(f"since={value}".encode())
    assert refused.value.close_code == CloseCode.BAD_REQUEST
    assert "since" in refused.value.detail


def test_the_query_string_is_read_as_latin1_bytes():
    # ASGI gives the raw bytes; a stray high byte is refused, not a UnicodeDecodeError.
    with pytest.raises(Refusal):
        parse_since(b"since=1\xff")


@pytest.mark.parametrize(
    ("query", "expected"),
    [(b"since=3", None), (b"since=3&changes=0", 0), (b"changes=12&since=3", 12)],
)
def test_changes_values(query, expected):
    assert parse_changes(query) == expected


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "9" * (MAX_DIGITS + 1)])
def test_a_malformed_changes_is_refused_with_4400(value):
    with pytest.raises(Refusal) as refused:
        parse_changes(f"since=1&changes={value}".encode())
    assert refused.value.close_code == CloseCode.BAD_REQUEST
    assert "changes" in refused.value.detail
