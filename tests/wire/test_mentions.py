"""The ``@name`` grammar (chat.wire.mentions): what counts as a mention candidate."""

import pytest

from chat.wire import mentions
from chat.wire.mentions import Found, find, resolve


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("hi @bob", [("bob",)]),
        ("@bob hi", [("bob",)]),
        ("(@bob)", [("bob",)]),
        ("@bob, @carol!", [("bob",), ("carol",)]),
        ("thanks @bob.", [("bob.", "bob")]),
        ("ask @alice@example.com.", [("alice@example.com.", "alice@example.com")]),
        ("@bob @bob @bob", [("bob",)]),
        ("@jean-luc_2 hi", [("jean-luc_2",)]),
        ("@Zoë", [("Zoë",)]),
    ],
)
def test_names_are_found_in_order_with_trailing_punctuation_tried_off(body, names):
    assert find(body).names == tuple(names)


@pytest.mark.parametrize(
    "body",
    [
        "no at sign",
        "mail bob@example.com",
        "see https://social.example/@bob",
        "a lone @ sign",
        "`@bob` in code",
        "```\n@bob in a block\n```",
        "@.",
    ],
)
def test_addresses_urls_code_and_bare_signs_mention_nobody(body):
    assert find(body) == Found()


def test_an_unclosed_fence_is_text_and_mentions_still_count():
    assert find("```\n@bob").names == (("bob",),)
    assert find("```py\nx\n```\n@carol `@dave`").names == (("carol",),)


@pytest.mark.parametrize("body", ["@room", "hey @room!", "@ROOM.", "@Room look"])
def test_at_room_is_the_room_keyword_never_a_name(body):
    found = find(body)
    assert found.room and found.names == ()


def test_at_rooms_is_a_name():
    assert find("@rooms").names == (("rooms",),) and not find("@rooms").room


def test_at_most_max_mentions_distinct_names_count():
    body = " ".join(f"@u{n}" for n in range(mentions.MAX_MENTIONS + 10))
    found = find(body)
    assert len(found.names) == mentions.MAX_MENTIONS
    assert found.names[-1] == (f"u{mentions.MAX_MENTIONS - 1}",)


def test_overlong_names_are_ignored():
    assert find("@" + "x" * (mentions.MAX_NAME_LENGTH + 1)) == Found()


def test_resolve_prefers_the_longest_known_name_and_keeps_order():
    found = find("@carol. then @bob. and @nobody @carol")
    assert found.candidates() == {"carol.", "carol", "bob.", "bob", "nobody"}
    assert resolve(found, {"bob", "bob.", "carol"}) == ["carol", "bob."]
    assert resolve(found, set()) == []
