"""The ``react`` frame: parsed into ``React`` or refused with ``bad_request``."""

import json

import pytest

from chat.wire import protocol
from chat.wire.errors import ChatError


def _parse(frame: dict) -> protocol.Command:
    return protocol.parse(json.dumps(frame), max_length=100, page_max=50)


def test_react_defaults_to_adding():
    assert _parse({"type": "react", "id": 7, "emoji": "👍"}) == protocol.React(7, "👍", True)
    assert _parse({"type": "react", "id": 7, "emoji": "❤️", "active": False}) == (
        protocol.React(7, "❤️", False)
    )


def test_any_short_text_parses_the_server_checks_the_set():
    # The wire has no Django: chat.reactions refuses emoji outside chat.conf.REACTIONS.
    assert _parse({"type": "react", "id": 1, "emoji": "🤡"}).emoji == "🤡"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "react", "emoji": "👍"},
        {"type": "react", "id": "7", "emoji": "👍"},
        {"type": "react", "id": True, "emoji": "👍"},
        {"type": "react", "id": 7},
        {"type": "react", "id": 7, "emoji": 1},
        {"type": "react", "id": 7, "emoji": ""},
        {"type": "react", "id": 7, "emoji": "x" * 17},
        {"type": "react", "id": 7, "emoji": "\x00"},
        {"type": "react", "id": 7, "emoji": "👍", "active": "no"},
        {"type": "react", "id": 7, "emoji": "👍", "active": None},
    ],
)
def test_malformed_react_is_bad_request(frame):
    with pytest.raises(ChatError) as refused:
        _parse(frame)
    assert refused.value.code == "bad_request"


def test_a_message_payload_shows_reactions_only_when_there_are_some():
    base = dict(id=1, seq=1, room="r", user="u", body="b", ts="t", client_id=None)
    assert "reactions" not in protocol.message_payload(**base, reactions=[])
    summary = [{"emoji": "👍", "count": 1, "users": ["u"]}]
    assert protocol.message_payload(**base, reactions=summary)["reactions"] == summary
    assert protocol.message_payload(**base, deleted=True, reactions=summary) == {
        "id": 1,
        "seq": 1,
        "deleted": True,
    }
