"""The terminal client shows reactions and toggles its own with /react (no server)."""

from __future__ import annotations

import io
import json

import pytest

from chat.cli import interactive, render, script

THUMBS = {"emoji": "👍", "count": 2, "users": ["bob", "carol"]}
PARTY = {"emoji": "🎉", "count": 1, "users": ["carol"]}


def _message(seq=12, **fields):
    return {"id": 100 + seq, "seq": seq, "user": "alice", "body": "ship it", "ts": ""} | fields


def test_a_message_line_ends_with_its_reactions():
    assert render.message_line(_message(reactions=[THUMBS, PARTY])).endswith(
        "alice: ship it  [👍 2 🎉 1]"
    )
    assert render.message_line(_message()).endswith("alice: ship it")


def test_reaction_text_from_a_hostile_server_is_cleaned():
    line = render.reactions_line(_message(reactions=[{"emoji": "\x1b[2J", "count": "\x07"}]))
    assert "\x1b" not in line and "\x07" not in line


def test_the_reactions_line_names_the_message():
    assert (
        render.reactions_line(_message(reactions=[THUMBS]))
        == "  reactions on #12 (alice: ship it): 👍 2"
    )
    assert render.reactions_line(_message()).endswith(": none")


def test_an_update_prints_what_changed(capsys):
    view = interactive.InteractiveView("general")
    view.message(_message())
    capsys.readouterr()
    view.frame({"type": "update", "change": 1, "message": _message(reactions=[THUMBS])})
    view.frame({"type": "update", "change": 2, "message": _message(reactions=[THUMBS], edited="x")})
    view.frame({"type": "update", "change": 3, "message": _message(edited="x")})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "  reactions on #12 (alice: ship it): 👍 2"
    # An edit is a change of its own: the message as it is now.
    assert lines[1].startswith("-- message #12 is now: ")
    assert lines[1].endswith("ship it (edited)  [👍 2]")
    assert lines[2] == "  reactions on #12 (alice: ship it): none"
    assert len(lines) == 3


class FakeSession:
    def __init__(self, connected=True):
        self.sent: list[tuple[int, str, bool]] = []
        self.connected = connected

    async def react(self, message_id, emoji, *, active=True):
        if self.connected:
            self.sent.append((message_id, emoji, active))
        return self.connected


@pytest.fixture
def view():
    view = interactive.InteractiveView("general")
    view.user = "carol"
    view.message(_message(seq=11, reactions=[THUMBS]))
    view.message(_message(seq=12))
    return view


async def test_react_defaults_to_the_latest_message_and_toggles(view):
    session = FakeSession()
    assert await interactive.handle_input("/react 🎉", session, view)
    assert await interactive.handle_input("/react 11 👍", session, view)  # carol has it
    assert session.sent == [(112, "🎉", True), (111, "👍", False)]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("/react", "usage"),
        ("/react x 👍", "usage"),
        ("/react 1 2 3", "usage"),
        ("/react 99 👍", "no message #99"),
    ],
)
async def test_react_explains_what_it_cannot_do(view, capsys, line, said):
    session = FakeSession()
    await interactive.handle_input(line, session, view)
    assert said in capsys.readouterr().out and session.sent == []


async def test_react_offline_says_so(view, capsys):
    await interactive.handle_input("/react 👍", FakeSession(connected=False), view)
    assert "not connected" in capsys.readouterr().out


def test_follow_mode_prints_updates_as_json_lines():
    out = io.StringIO()
    view = script.ScriptListener(
        slug="general", follow=True, print_first=False, quiet=True, out=out, err=io.StringIO()
    )
    frame = {"type": "update", "change": 3, "message": _message(reactions=[PARTY])}
    view.frame(frame)
    assert json.loads(out.getvalue()) == frame
