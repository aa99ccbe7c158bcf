"""The terminal client's parts without a chat server: URLs, token file, rendering, backoff."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

import pytest

from chat.cli import render, session
from chat.cli.interactive import InteractiveView
from chat.cli.main import build_parser, credentials
from chat.cli.site import Exit, ExitStatus, Site, TokenStore, check_slug


@pytest.mark.parametrize(
    ("url", "base", "ws"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/rooms/general/"),
        (
            "https://chat.example.com/",
            "https://chat.example.com",
            "wss://chat.example.com/ws/rooms/general/",
        ),
        (
            "https://example.com/chat/",
            "https://example.com/chat",
            "wss://example.com/chat/ws/rooms/general/",
        ),
        ("ws://localhost:8000", "http://localhost:8000", "ws://localhost:8000/ws/rooms/general/"),
    ],
)
def test_site_urls(url, base, ws):
    site = Site.parse(url)

    assert site.base == base
    assert site.http("/api/token") == base + "/api/token"
    assert site.room_ws("general") == ws + "?v=2"
    assert site.room_ws("general", since=42) == ws + "?v=2&since=42"
    assert site.room_ws("general", since=42, changes=7) == ws + "?v=2&since=42&changes=7"
    assert site.room_ws("general", changes=7) == ws + "?v=2"  # changes only goes with since


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://", ""])
def test_bad_urls_are_usage_errors(url):
    with pytest.raises(Exit) as caught:
        Site.parse(url)
    assert caught.value.status == ExitStatus.USAGE
    assert "--url" in caught.value.message


@pytest.mark.parametrize("slug", ["a b", "../x", "", "général"])
def test_bad_slugs_are_usage_errors(slug):
    with pytest.raises(Exit) as caught:
        check_slug(slug)
    assert caught.value.status == ExitStatus.USAGE


def test_token_store_is_private_and_keeps_sites_apart(tmp_path):
    path = tmp_path / "config" / "chat" / "tokens.json"
    store = TokenStore(path)
    one, two = Site.parse("http://one:8000"), Site.parse("http://two:8000/")

    store.put(one, "alice", "t1")
    store.put(two, "alice", "t2")
    store.put(two, "bob", "t3")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.get(one, "alice") == "t1" and store.get(two, "alice") == "t2"
    assert store.only_user(one) == ("alice", "t1")
    assert store.only_user(two) is None  # two users: the client must not guess
    store.forget(two, "alice")
    assert store.only_user(two) == ("bob", "t3")
    assert json.loads(path.read_text())["sites"]["http://one:8000"] == {"alice": "t1"}
    assert store.is_private()
    path.chmod(0o644)
    assert not store.is_private()


def test_a_broken_token_file_is_reported_not_overwritten(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("{not json")

    with pytest.raises(Exit) as caught:
        TokenStore(path).put(Site.parse("http://x"), "alice", "t")
    assert caught.value.status == ExitStatus.USAGE and str(path) in caught.value.message
    assert path.read_text() == "{not json"


def test_credentials_come_from_the_first_source_that_has_one(tmp_path, monkeypatch):
    site = Site.parse("http://x")
    store = TokenStore(tmp_path / "tokens.json")
    parse = build_parser().parse_args
    monkeypatch.delenv("CHAT_TOKEN", raising=False)

    with pytest.raises(Exit) as caught:
        credentials(parse(["--url", "http://x", "--room", "r"]), site, store)
    assert caught.value.status == ExitStatus.USAGE and "--token" in caught.value.message

    store.put(site, "alice", "remembered")
    assert (
        credentials(parse(["--url", "http://x", "--room", "r"]), site, store).token == "remembered"
    )
    assert (
        credentials(
            parse(["--url", "http://x", "--room", "r", "--user", "alice"]), site, store
        ).source
        == "remembered"
    )
    monkeypatch.setenv("CHAT_TOKEN", " from-env ")
    assert credentials(parse(["--url", "http://x", "--room", "r"]), site, store).token == "from-env"
    assert (
        credentials(parse(["--url", "http://x", "--room", "r", "--token=-dash"]), site, store).token
        == "-dash"
    )


def test_clean_neutralises_terminal_control_sequences():
    hostile = "hi\x1b]0;owned\x07 \x1b[2J\x9b31m\u202eevil\r"

    cleaned = render.clean(hostile)

    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cleaned)
    assert "\u202e" not in cleaned
    assert cleaned.startswith("hi\\x1b]0;owned\\x07")


def test_message_lines():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).astimezone()
    ts = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    old = (now - timedelta(days=3)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    line = render.message_line({"seq": 1, "user": "bob", "body": "one\ntwo", "ts": ts}, today=now)
    assert line == f"{now:%H:%M} bob: one\n{' ' * len(f'{now:%H:%M} bob: ')}two"
    assert render.message_line(
        {"seq": 2, "user": "bob", "body": "x", "ts": old}, today=now
    ).startswith(f"{now - timedelta(days=3):%Y-%m-%d %H:%M} bob:")
    assert render.message_line({"id": 3, "seq": 3, "deleted": True}, today=now).endswith(
        "[a deleted message]"
    )


def test_edited_messages_replies_and_changes_in_words():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).astimezone()
    ts = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    quote = {"id": 1, "seq": 1, "user": "bob", "body": "lunch?\x1b[2J"}
    reply = {"seq": 2, "user": "amy", "body": "yes", "ts": ts, "edited": ts, "reply_to": quote}

    first, second = render.message_line(reply, today=now).split("\n")
    assert first == f"{' ' * len(f'{now:%H:%M}')} ↪ bob: lunch?\\x1b[2J"
    assert second == f"{now:%H:%M} amy: yes (edited)"
    gone = reply | {"reply_to": {"id": 1, "seq": 1, "deleted": True}, "edited": None}
    assert "↪ a deleted message" in render.message_line(gone, today=now)
    assert render.change_line({"type": "deleted", "id": 1, "seq": 1, "change": 4}) == (
        "-- message #1 was deleted"
    )
    update = {"type": "update", "change": 5, "message": reply}
    assert render.change_line(update, today=now).startswith("-- message #2 is now: ")


def test_json_lines_are_valid_json_with_c1_controls_escaped():
    frame = {"type": "message", "body": "é\x9b\x1b"}

    line = render.json_line(frame)

    assert json.loads(line) == frame
    assert "\x9b" not in line and "\x1b" not in line and "é" in line


def test_backoff_doubles_to_a_cap_with_jitter():
    lowest = [session.backoff_delay(n, rng=lambda a, b: a) for n in range(8)]
    highest = [session.backoff_delay(n, rng=lambda a, b: b) for n in range(8)]

    assert highest[:4] == [0.5, 1.0, 2.0, 4.0]
    assert highest[-1] == session.BACKOFF_CAP
    assert all(low == high / 2 for low, high in zip(lowest, highest, strict=True))


def test_close_explanations_come_from_the_shared_table():
    assert session.close_explanation(4404, "no such room") == "4404 no such room"
    assert session.close_explanation(4403, "you are banned from this room") == (
        "4403 forbidden: banned, or a private room you are not a member of: you are banned from this room"
    )
    assert session.close_explanation(1006) == "1006 connection lost"


def test_token_keys_never_start_with_a_dash(monkeypatch):
    from chat import services

    keys = iter(["-looks-like-an-option", "fine-key"])
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda n: next(keys))

    assert services.new_token_key() == "fine-key"


def test_lines_that_mention_me_are_marked():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).astimezone()
    ts = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    named = {"seq": 1, "user": "bob", "body": "@carol hi\nmore", "ts": ts, "mentions": ["carol"]}
    everyone = {"seq": 2, "user": "bob", "body": "@room hi", "ts": ts, "mentions_room": True}
    other = {"seq": 3, "user": "bob", "body": "@dave hi", "ts": ts, "mentions": ["dave"]}

    line = render.message_line(named, today=now, me="carol")
    head = f"{now:%H:%M} ! bob: "
    assert line == f"{head}@carol hi\n{' ' * len(head)}more"
    assert render.message_line(everyone, today=now, me="carol").startswith(head)
    assert render.message_line(other, today=now, me="carol").startswith(f"{now:%H:%M} bob: ")
    assert render.message_line(named, today=now).startswith(f"{now:%H:%M} bob: ")
    assert not render.mentions_me({"deleted": True, "mentions_room": True}, "carol")


class _Quiet:
    """A listener that remembers the frames it was given."""

    def __init__(self):
        self.frames = []

    def connected(self, ready, *, reconnect, new):
        pass

    def frame(self, frame):
        self.frames.append(frame)


def test_the_changes_cursor_stays_below_a_gap_and_goes_in_the_url():
    listener = _Quiet()
    room = session.RoomSession(
        site=Site("http://127.0.0.1:8000"), slug="general", token="t", listener=listener
    )
    room._on_ready({"type": "ready", "messages": [{"seq": 4}], "changes": 5})
    assert room._url().endswith("?v=2&since=4&changes=5")
    room._on_frame({"type": "update", "change": 7, "message": {"seq": 1}})
    assert room.last_change == 5  # change 6 never came: the next reconnect replays it
    room._on_frame({"type": "deleted", "id": 2, "seq": 2, "change": 6})
    assert room.last_change == 7 and [f["type"] for f in listener.frames] == ["update", "deleted"]
    room._on_frame({"type": "update", "change": 9, "message": {"seq": 1}})
    room._on_ready({"type": "ready", "messages": [], "recovered": True, "changes": 8})
    assert room.last_change == 9
    room._on_ready({"type": "ready", "messages": [], "recovered": False, "changes": 3})
    assert room.last_change == 3 and room.changes_ahead == set()


def test_presence_frames_print_who_came_and_went(capsys):
    view = InteractiveView("general")
    view.connected(
        {"user": "alice", "online": ["alice", "bob"], "room": {"title": "General"}},
        reconnect=False,
        new=[],
    )
    capsys.readouterr()

    view.frame({"type": "presence", "joined": ["alice", "carol", "dave"], "left": ["bob"]})
    view.frame({"type": "join", "user": "erin"})  # an old server's frame
    view.frame({"type": "leave", "user": "erin"})

    lines = capsys.readouterr().out.splitlines()
    # alice's own echo is not news.
    assert lines == ["-- carol, dave joined", "-- bob left", "-- erin joined", "-- erin left"]
    assert view.online == {"alice", "carol", "dave"}


def test_a_crowd_is_one_line():
    names = [f"u{n:03d}" for n in range(1000)]
    assert render.presence_line(names, "joined") == (
        "u000, u001, u002, u003, u004 and 995 others joined"
    )


def test_a_muted_user_is_told_on_connect_and_when_it_changes(capsys):
    view = InteractiveView("general")
    until = "2030-01-02T09:30:00.000Z"
    view.connected(
        {
            "user": "alice",
            "online": ["alice"],
            "room": {"title": "General"},
            "muted": {"until": until},
        },
        reconnect=False,
        new=[],
    )
    lines = capsys.readouterr().out.splitlines()
    assert f"-- {render.mute_line(until)}" in lines
    assert render.mute_line(until) == (
        "a moderator muted you in this room until " + render.local_time(until) + "; you can read"
    )
    view.connected(
        {"user": "alice", "online": [], "muted": {"until": None}}, reconnect=True, new=[]
    )
    assert "-- " + render.mute_line(None) in capsys.readouterr().out.splitlines()
    assert "until a moderator lifts it" in render.mute_line(None)

    view.frame({"type": "unmuted"})
    view.frame({"type": "muted", "until": None})
    assert capsys.readouterr().out.splitlines() == [
        "-- a moderator lifted your mute: you can write again",
        "-- " + render.mute_line(None),
    ]


def test_the_script_client_notes_a_mute_on_connect():
    import io

    from chat.cli.script import ScriptListener

    err = io.StringIO()
    listener = ScriptListener(
        slug="general", follow=False, print_first=False, quiet=False, out=io.StringIO(), err=err
    )
    listener.connected({"user": "alice", "muted": {"until": None}}, reconnect=False, new=[])
    assert "chat: " + render.mute_line(None) in err.getvalue().splitlines()
