"""``files`` in the wire format: the message frame's ids, and the payload's entries."""

import pytest

from chat.wire import protocol
from chat.wire.errors import ChatError, ErrorCode


def parse(frame: str) -> protocol.Command:
    return protocol.parse(frame, max_length=100, page_max=50)


def test_files_are_distinct_ids_in_order():
    command = parse('{"type": "message", "body": "hi", "files": [3, 1, 3]}')
    assert command == protocol.SendMessage(body="hi", files=(3, 1))


@pytest.mark.parametrize("body", ['""', '"   "', None])
def test_with_files_the_body_may_be_blank_or_missing(body):
    field = f', "body": {body}' if body else ""
    command = parse(f'{{"type": "message", "files": [7]{field}}}')
    assert command.body == "" and command.files == (7,)


def test_without_files_a_blank_body_is_still_empty():
    with pytest.raises(ChatError) as refused:
        parse('{"type": "message", "body": " ", "files": []}')
    assert refused.value.code == ErrorCode.EMPTY


@pytest.mark.parametrize(
    "files", ['"1"', "[true]", "[0]", "[1.0]", '["1"]', "{}", str(list(range(1, 12)))]
)
def test_bad_files_are_bad_request(files):
    with pytest.raises(ChatError) as refused:
        parse(f'{{"type": "message", "body": "x", "client_id": "c", "files": {files}}}')
    assert refused.value.code == ErrorCode.BAD_REQUEST and refused.value.client_id == "c"


def test_the_payload_has_files_only_when_there_are_some():
    base = dict(id=1, seq=1, room="r", user="u", body="", ts="t", client_id=None)
    assert "files" not in protocol.message_payload(**base)
    entry = protocol.file_info(
        id=5,
        name="a.txt",
        size=3,
        type="text/plain",
        url="/files/5/a.txt",
        thumbnail_url=None,
        width=None,
        height=None,
    )
    assert protocol.message_payload(**base, files=[entry])["files"] == [entry]
    assert "files" not in protocol.message_payload(**base, files=[entry], deleted=True)


def test_a_reply_of_files_alone_keeps_both():
    command = parse('{"type": "message", "body": "", "files": [4], "reply_to": 9}')
    assert command == protocol.SendMessage(body="", files=(4,), reply_to=9)


def test_the_payload_carries_every_optional_field_together():
    base = dict(id=1, seq=1, room="r", user="u", body="hi @bob", ts="t", client_id=None)
    quote = protocol.reply_quote(id=9, seq=8, user="bob", body="lunch?", deleted=False)
    reactions = [{"emoji": "👍", "count": 1, "users": ["bob"]}]
    files = [{"id": 4}]
    payload = protocol.message_payload(
        **base,
        edited="t2",
        reply_to=quote,
        mentions=["bob"],
        reactions=reactions,
        files=files,
    )
    assert payload["edited"] == "t2" and payload["reply_to"] == quote
    assert payload["mentions"] == ["bob"] and payload["reactions"] == reactions
    assert payload["files"] == files
